"""Fits of the learning-rate schedules that rise, then fall (`hpotk.lr_schedule`'s ``warmup``
and ``onecycle`` forms) to a PBT lineage: a linear warm-up followed by an exponential, step or
cosine decay, and the one-cycle policy (cos and linear). `hpotk.pbt.fits.fit` adds them to the
decays' candidates.

PBT often raises the lr before it lowers it: early on, the trials that train fastest with a
larger lr win; later, the ones that settle with a smaller lr do. A decay alone fits such a
lineage only with a wrong start.

Fitting (on log lr like the decays): the whole-number parameters (warm-up length, step size,
``T_max``, the cycle's peak) are searched exhaustively; for each, the start ratio
(``start_factor``, ``1 / div_factor``) and the end ratio (``eta_min / lr0``, ``min_lr /
max_lr``) run over log-spaced grids with ``log lr0`` (and ``log gamma``) by linear least
squares, which is exact for them once the ratios are fixed; the few best candidates are then
refined with ``scipy.optimize.least_squares``. One-cycle's ``total_steps`` is the lineage's
length: the cycle spans the run, as OneCycleLR is meant to.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from hpotk.pbt._fit import Fit, _make, _predict

FIT_NAMES = ("warmup-exponential", "warmup-step", "warmup-cosine", "onecycle-cos",
             "onecycle-linear")
MIN_POINTS = 4  # a rise and a fall need at least two points each
# A fitted rise starts at most at 0.8 of its peak: with start_factor 1, "warm-up then StepLR"
# is a StepLR that starts late, which fits a decay lineage that followed its optimum with a lag,
# and that must stay a decay.
MAX_START = 0.8
START_GRID = (1e-4, MAX_START, 73)  # start / peak: start_factor, 1 / div_factor (log-spaced)
END_GRID = (1e-8, 1.0, 97)  # end / peak: eta_min / lr0, min_lr / max_lr (log-spaced)
REFINED = 3  # candidates refined by least_squares after the grid search


@functools.cache
def _grid(bounds: tuple[float, float, int]) -> Any:
    """The log-spaced grid, made once (the searches ask for it thousands of times)."""
    import numpy as np

    grid = np.geomspace(*bounds)
    grid.flags.writeable = False
    return grid


def _ratio_logs(ratios: Any, shape: Any) -> Any:
    """``log(r + (1 - r) * shape)`` for each ratio r (rows) and point (columns): a ramp from r
    (shape 0) to 1 (shape 1), in units of the peak."""
    import numpy as np

    return np.log(ratios[:, None] + (1 - ratios[:, None]) * shape[None, :])


def _warm_targets(y: Any, iters: int) -> Any:
    """``log lr`` less the warm-up's ramp ``log(s + (1 - s) e / iters)`` on its first ``iters``
    points, one column per start ratio s on the grid: (n, S)."""
    import numpy as np

    targets = np.repeat(y[:, None], START_GRID[2], axis=1)
    targets[:iters] -= _ratio_logs(_grid(START_GRID), np.arange(iters) / iters).T
    return targets


def _best_line(targets: Any, scatter: Any, steps: Any) -> tuple[float, list[float]]:
    """``a + b * steps`` fitted to every column of ``targets`` at once (the closed form of a
    straight-line fit; ``scatter`` is each column's sum of squares about its mean); the best
    column: (rss, [a, log s, b])."""
    import numpy as np

    centred = steps - steps.mean()
    spread = float(centred @ centred)
    slope = centred @ targets / spread if spread > 0 else np.zeros(targets.shape[1])
    rss = scatter - slope ** 2 * spread
    i = int(np.argmin(rss))
    a = float(targets[:, i].mean() - slope[i] * steps.mean())
    return float(rss[i]), [a, math.log(_grid(START_GRID)[i]), float(slope[i])]


def _ramp_sums(values: Any, bounds: tuple[float, float, int], shape: Any) -> tuple[Any, Any]:
    """Sum and sum of squares of ``values - log(r + (1 - r) shape)`` for each r on the grid."""
    rest = values[None, :] - _ratio_logs(_grid(bounds), shape)
    return rest.sum(axis=1), (rest ** 2).sum(axis=1)


def _best_pair(up: tuple[Any, Any], down: tuple[Any, Any], n: int) -> tuple[float, list[float]]:
    """The best start and end ratio for a rise (`_ramp_sums` over START_GRID) and a fall (over
    END_GRID) sharing one ``a``, the mean residual, for every pair at once: (rss, [a, log s,
    log r])."""
    import numpy as np

    total = up[0][:, None] + down[0][None, :]
    rss = up[1][:, None] + down[1][None, :] - total ** 2 / n
    i, j = np.unravel_index(int(np.argmin(rss)), rss.shape)
    return float(rss[i, j]), [float(total[i, j]) / n, math.log(_grid(START_GRID)[i]),
                              math.log(_grid(END_GRID)[j])]


Build = Callable[[Any], tuple[dict[str, Any], float]]  # parameters -> (spec, lr0)
LOWER = [-50.0, math.log(1e-6), -30.0]  # log lr0, log start ratio, log gamma or end ratio
UPPER = [10.0, math.log(MAX_START), 0.0]


def _refine(name: str, y: Any, candidates: list[tuple[float, list[float], Build]], k: int,
            upper_last: float = 0.0) -> Fit:
    """The grid's best few candidates refined by ``least_squares`` on log lr (through `lr_at`,
    so the fit is the schedule that will run); the best of them as a Fit."""
    import numpy as np
    from scipy import optimize

    best: Fit | None = None
    upper = [*UPPER[:2], upper_last]
    for _, start, build in sorted(candidates, key=lambda c: c[0])[:REFINED]:
        def residual(p: Any, build: Build = build) -> Any:
            spec, lr0 = build(p)
            return np.log(np.maximum(_predict(spec, lr0, len(y)), 1e-300)) - y

        x0 = np.clip(start, LOWER, upper)
        solution = optimize.least_squares(residual, x0, bounds=(LOWER, upper))
        spec, lr0 = build(solution.x)
        fit = _make(name, spec, lr0, y, k)
        if best is None or fit.rss < best.rss:
            best = fit
    assert best is not None  # every family has at least one candidate once n >= MIN_POINTS
    return best


def _warmup(iters: int, start_log: float, then: dict[str, Any]) -> dict[str, Any]:
    return {"type": "warmup", "warmup_iters": iters, "start_factor": math.exp(start_log),
            "then": then}


def fit_warmup_exponential(y: Any) -> Fit:
    """LinearLR then ExponentialLR: warm-up length searched, the rest fitted (k = 4)."""
    import numpy as np

    n, candidates = len(y), []
    for iters in range(1, n - 1):
        targets = _warm_targets(y, iters)
        scatter = ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)
        steps = np.concatenate([np.zeros(iters), np.arange(n - iters, dtype=float)])
        rss, start = _best_line(targets, scatter, steps)

        def build(p: Any, iters: int = iters) -> tuple[dict[str, Any], float]:
            then = {"type": "exponential", "gamma": math.exp(p[2])}
            return _warmup(iters, p[1], then), math.exp(p[0])

        candidates.append((rss, start, build))
    return _refine("warmup-exponential", y, candidates, 4, upper_last=30.0)


def fit_warmup_step(y: Any) -> Fit:
    """LinearLR then StepLR: warm-up length and step size searched, the rest fitted (k = 5)."""
    import numpy as np

    n, candidates = len(y), []
    for iters in range(1, n - 1):
        targets = _warm_targets(y, iters)
        scatter = ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)
        after = np.arange(n - iters)
        for size in range(1, n - iters):
            steps = np.concatenate([np.zeros(iters), (after // size).astype(float)])
            rss, start = _best_line(targets, scatter, steps)

            def build(p: Any, iters: int = iters, size: int = size) -> tuple[dict[str, Any], float]:
                then = {"type": "step", "step_size": size, "gamma": math.exp(p[2])}
                return _warmup(iters, p[1], then), math.exp(p[0])

            candidates.append((rss, start, build))
    return _refine("warmup-step", y, candidates, 5, upper_last=30.0)


def fit_warmup_cosine(y: Any) -> Fit:
    """LinearLR then CosineAnnealingLR: warm-up length and ``T_max`` searched, the rest fitted
    (k = 5). ``T_max`` runs from what is left of the run after the warm-up to twice that: the
    cosine anneals once and does not come back up before the end (torch's cosine is periodic,
    and a lineage that rises again at its end has no warm-up for it)."""
    import numpy as np

    n, candidates = len(y), []
    for iters in range(1, n - 1):
        left = n - iters
        up = _ramp_sums(y[:iters], START_GRID, np.arange(iters) / iters)
        for t_max in range(left - 1, 2 * left + 1):
            fall = (1 + np.cos(np.pi * np.arange(left) / t_max)) / 2
            rss, start = _best_pair(up, _ramp_sums(y[iters:], END_GRID, fall), n)

            def build(p: Any, iters: int = iters, t_max: int = t_max
                      ) -> tuple[dict[str, Any], float]:
                lr0 = math.exp(p[0])
                then = {"type": "cosine", "T_max": t_max, "eta_min": lr0 * math.exp(p[2])}
                return _warmup(iters, p[1], then), lr0

            candidates.append((rss, start, build))
    return _refine("warmup-cosine", y, candidates, 5)


def fit_onecycle(y: Any, anneal: str) -> Fit:
    """OneCycleLR over the whole lineage (``total_steps`` = n): the peak's epoch searched,
    max_lr, div_factor and final_div_factor fitted (k = 4)."""
    import numpy as np

    n, candidates = len(y), []
    for peak in range(1, n - 1):
        up = np.arange(peak) / peak
        down = np.arange(1, n - peak) / (n - 1 - peak)
        if anneal == "cos":
            rise, fall = (1 - np.cos(np.pi * up)) / 2, (1 + np.cos(np.pi * down)) / 2
        else:
            rise, fall = up, 1 - down
        rss, start = _best_pair(_ramp_sums(y[:peak], START_GRID, rise),
                                _ramp_sums(y[peak:], END_GRID, np.concatenate([[1.0], fall])), n)

        def build(p: Any, peak: int = peak) -> tuple[dict[str, Any], float]:
            start_ratio, end_ratio = math.exp(p[1]), math.exp(p[2])
            spec = {"type": "onecycle", "total_steps": n, "pct_start": (peak + 1) / n,
                    "anneal_strategy": anneal, "div_factor": 1 / start_ratio,
                    "final_div_factor": start_ratio / end_ratio}
            return spec, math.exp(p[0])

        candidates.append((rss, start, build))
    return _refine(f"onecycle-{anneal}", y, candidates, 4)


def fits(y: Any) -> list[Fit]:
    """Every rise-then-fall family fitted to log lr ``y`` (none below MIN_POINTS points: too
    few to tell a rise from noise)."""
    if len(y) < MIN_POINTS:
        return []
    return [fit_warmup_exponential(y), fit_warmup_step(y), fit_warmup_cosine(y),
            fit_onecycle(y, "cos"), fit_onecycle(y, "linear")]
