"""Learning-rate schedules that rise, then fall: a linear warm-up followed by a decay, and the
one-cycle policy. Their ``lr_schedule`` forms and their fits; `hpotk.lr_schedule` dispatches
here for both and keeps the forms that only hold or decay.

PBT often raises the lr before it lowers it: early on, the trials that train fastest with a
larger lr win; later, the ones that settle with a smaller lr do. A decay alone fits such a
lineage only with a wrong start, so these are the torch schedulers made for it::

    {type: warmup, warmup_iters: 5, start_factor: 0.1,     LinearLR(start_factor, end_factor=1,
     then: {type: cosine, T_max: 30, eta_min: 1e-5}}       total_iters=5), then ``then`` from lr0,
                                                           joined by SequentialLR(milestones=[5])
    {type: onecycle, total_steps: 40, pct_start: 0.3,      OneCycleLR(max_lr=lr0, ...,
     anneal_strategy: cos, div_factor: 25,                 cycle_momentum=False)
     final_div_factor: 10000}

With epoch ``e = iteration - 1`` as for every form: ``warmup`` trains at ``lr0 * (start_factor +
(1 - start_factor) * e / warmup_iters)`` while ``e < warmup_iters``, then follows ``then``
(constant, multistep, step, exponential or cosine; default constant) with its epochs counted
from the end of the warm-up, because SequentialLR restarts the second scheduler at its
milestone: ``then``'s milestones, step size and ``T_max`` count iterations after the warm-up.
``onecycle``'s ``lr0`` is the peak (``max_lr``; other parameter groups keep their ratio): from
``lr0 / div_factor`` it anneals up to ``lr0`` at epoch ``pct_start * total_steps - 1``, then
down to ``lr0 / div_factor / final_div_factor`` at epoch ``total_steps - 1`` (torch's
``get_lr``, linear or cos). torch's OneCycleLR raises after ``total_steps`` steps, so set it to
at least ``budget.max_t``; hpotk's own trainables keep the last lr past it. The momentum is
left alone (``cycle_momentum=False``): ``lr_schedule`` drives the lr only.

Fitting (called by `hpotk.lr_schedule.fit`, on log lr like the decays): the whole-number
parameters (warm-up length, step size, ``T_max``, the cycle's peak) are searched exhaustively;
for each, the start ratio (``start_factor``, ``1 / div_factor``) and the end ratio (``eta_min /
lr0``, ``min_lr / max_lr``) run over log-spaced grids with ``log lr0`` (and ``log gamma``) by
linear least squares, which is exact for them once the ratios are fixed; the few best
candidates are then refined with ``scipy.optimize.least_squares``. One-cycle's ``total_steps``
is the lineage's length: the cycle spans the run, as OneCycleLR is meant to.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from hpotk import lr_schedule as ls
from hpotk.errors import ConfigError

THEN_TYPES = ("constant", "multistep", "step", "exponential", "cosine")
ANNEAL = ("cos", "linear")
WARMUP_START_FACTOR = 1 / 3  # torch's LinearLR default
ONECYCLE_DEFAULTS = {"pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
                     "final_div_factor": 1e4}  # torch's OneCycleLR defaults
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


# ---------------------------------------------------------------------------------------------
# the runtime spec


def validate_warmup(spec: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``{type: warmup}`` checked and normalised (keys were checked by `lr_schedule.validate`)."""
    iters = spec["warmup_iters"]
    if not ls._integer(iters) or iters < 1:
        raise ConfigError(f"{path}.warmup_iters", f"expected an integer >= 1 (iterations the lr "
                                                  f"rises linearly to the config's lr), got "
                                                  f"{iters!r}")
    start = spec.get("start_factor", WARMUP_START_FACTOR)
    if not ls._number(start) or not 0 < start <= 1:
        raise ConfigError(f"{path}.start_factor", f"expected a number with 0 < start_factor <= 1 "
                                                  f"(the warm-up starts at lr * start_factor, "
                                                  f"as in torch's LinearLR), got {start!r}")
    then = spec.get("then", {"type": "constant"})
    if not isinstance(then, Mapping):
        raise ConfigError(f"{path}.then", f"expected the schedule after the warm-up, a mapping "
                                          f"with type one of {list(THEN_TYPES)}, e.g. {{type: "
                                          f"cosine, T_max: 30}}; got {then!r}")
    if then.get("type") not in THEN_TYPES:
        raise ConfigError(f"{path}.then.type", f"after a warm-up, expected one of "
                                               f"{list(THEN_TYPES)}, got {then.get('type')!r}")
    return {"type": "warmup", "warmup_iters": int(iters), "start_factor": float(start),
            "then": ls.validate(then, f"{path}.then")}


def validate_onecycle(spec: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``{type: onecycle}`` checked, with torch's defaults filled in."""
    total = spec["total_steps"]
    if not ls._integer(total) or total < 2:
        raise ConfigError(f"{path}.total_steps", f"expected an integer >= 2 (iterations in the "
                                                 f"cycle; at least budget.max_t, torch's "
                                                 f"OneCycleLR raises past it), got {total!r}")
    total = int(total)
    pct = spec.get("pct_start", ONECYCLE_DEFAULTS["pct_start"])
    if not ls._number(pct) or not 1 / total < pct < 1:
        raise ConfigError(f"{path}.pct_start", f"expected {1 / total:.4g} < pct_start < 1 "
                                               f"(1/total_steps < pct_start < 1: the peak, at "
                                               f"epoch pct_start * total_steps - 1, must come "
                                               f"after the first iteration and before the "
                                               f"last), got {pct!r}")
    anneal = spec.get("anneal_strategy", ONECYCLE_DEFAULTS["anneal_strategy"])
    if anneal not in ANNEAL:
        raise ConfigError(f"{path}.anneal_strategy", f"expected one of {list(ANNEAL)}, got "
                                                     f"{anneal!r}")
    out = {"type": "onecycle", "total_steps": total, "pct_start": float(pct),
           "anneal_strategy": anneal}
    for key in ("div_factor", "final_div_factor"):
        value = spec.get(key, ONECYCLE_DEFAULTS[key])
        if not ls._number(value) or value <= 0:
            raise ConfigError(f"{path}.{key}", f"expected a number > 0 (the cycle starts at "
                                               f"lr / div_factor and ends at that / "
                                               f"final_div_factor), got {value!r}")
        out[key] = float(value)
    return out


def warmup_lr(spec: Mapping[str, Any], epoch: int, lr0: float, base: float) -> float:
    """LinearLR's closed form while warming up, then ``then`` restarted at the milestone."""
    iters, start = spec["warmup_iters"], spec["start_factor"]
    if epoch < iters:
        return base * (start + (1.0 - start) * epoch / iters)
    return ls.lr_at(spec["then"], epoch - iters + 1, lr0, base)


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    """torch's OneCycleLR._annealing_cos / _annealing_linear, with the same float operations."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def onecycle_lr(spec: Mapping[str, Any], epoch: int, base: float) -> float:
    """OneCycleLR.get_lr for a group whose ``max_lr`` is ``base``; the last lr past the cycle."""
    total = spec["total_steps"]
    initial = base / spec["div_factor"]
    low = initial / spec["final_div_factor"]
    peak = float(spec["pct_start"] * total) - 1
    step = min(epoch, total - 1)
    if step <= peak:
        return _anneal(spec["anneal_strategy"], initial, base, step / peak)
    return _anneal(spec["anneal_strategy"], base, low, (step - peak) / (total - 1 - peak))


def peak_epoch(spec: Mapping[str, Any]) -> float:
    """The epoch (iteration - 1) at which the lr reaches lr0, the top of the rise."""
    if spec["type"] == "warmup":
        return float(spec["warmup_iters"])
    return float(spec["pct_start"] * spec["total_steps"]) - 1


def torch_warmup(optimizer: Any, spec: Mapping[str, Any]) -> Any:
    """LinearLR for the warm-up, and SequentialLR handing over to ``then`` at its end."""
    from torch.optim import lr_scheduler as s

    warm = s.LinearLR(optimizer, start_factor=spec["start_factor"], end_factor=1.0,
                      total_iters=spec["warmup_iters"])
    if spec["then"]["type"] == "constant":
        return warm
    after = ls.torch_scheduler(optimizer, spec["then"])
    return s.SequentialLR(optimizer, schedulers=[warm, after], milestones=[spec["warmup_iters"]])


def torch_onecycle(optimizer: Any, spec: Mapping[str, Any]) -> Any:
    """OneCycleLR peaking at each group's lr as built (so groups keep their ratio)."""
    from torch.optim import lr_scheduler as s

    return s.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                        total_steps=spec["total_steps"], pct_start=float(spec["pct_start"]),
                        anneal_strategy=spec["anneal_strategy"], div_factor=spec["div_factor"],
                        final_div_factor=spec["final_div_factor"], cycle_momentum=False)


def torch_text(spec: Mapping[str, Any], lr0: float) -> str:
    """The scheduler as the torch code that builds it (after ``optimizer = ...``)."""
    if spec["type"] == "onecycle":
        return (f"OneCycleLR(optimizer, max_lr={lr0:.4g}, total_steps={spec['total_steps']}, "
                f"pct_start={spec['pct_start']:.6g}, "
                f"anneal_strategy='{spec['anneal_strategy']}', "
                f"div_factor={spec['div_factor']:.4g}, "
                f"final_div_factor={spec['final_div_factor']:.4g}, cycle_momentum=False)")
    warm = (f"LinearLR(optimizer, start_factor={spec['start_factor']:.4g}, end_factor=1.0, "
            f"total_iters={spec['warmup_iters']})")
    if spec["then"]["type"] == "constant":
        return warm
    return (f"SequentialLR(optimizer, schedulers=[{warm}, {ls.torch_text(spec['then'], lr0)}], "
            f"milestones=[{spec['warmup_iters']}])")


# ---------------------------------------------------------------------------------------------
# fitting


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
            upper_last: float = 0.0) -> ls.Fit:
    """The grid's best few candidates refined by ``least_squares`` on log lr (through `lr_at`,
    so the fit is the schedule that will run); the best of them as a Fit."""
    import numpy as np
    from scipy import optimize

    best: ls.Fit | None = None
    upper = [*UPPER[:2], upper_last]
    for _, start, build in sorted(candidates, key=lambda c: c[0])[:REFINED]:
        def residual(p: Any, build: Build = build) -> Any:
            spec, lr0 = build(p)
            return np.log(np.maximum(ls._predict(spec, lr0, len(y)), 1e-300)) - y

        x0 = np.clip(start, LOWER, upper)
        solution = optimize.least_squares(residual, x0, bounds=(LOWER, upper))
        spec, lr0 = build(solution.x)
        fit = ls._make(name, spec, lr0, y, k)
        if best is None or fit.rss < best.rss:
            best = fit
    assert best is not None  # every family has at least one candidate once n >= MIN_POINTS
    return best


def _warmup(iters: int, start_log: float, then: dict[str, Any]) -> dict[str, Any]:
    return {"type": "warmup", "warmup_iters": iters, "start_factor": math.exp(start_log),
            "then": then}


def fit_warmup_exponential(y: Any) -> ls.Fit:
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


def fit_warmup_step(y: Any) -> ls.Fit:
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


def fit_warmup_cosine(y: Any) -> ls.Fit:
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


def fit_onecycle(y: Any, anneal: str) -> ls.Fit:
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


def fits(y: Any) -> list[ls.Fit]:
    """Every rise-then-fall family fitted to log lr ``y`` (none below MIN_POINTS points: too
    few to tell a rise from noise)."""
    if len(y) < MIN_POINTS:
        return []
    return [fit_warmup_exponential(y), fit_warmup_step(y), fit_warmup_cosine(y),
            fit_onecycle(y, "cos"), fit_onecycle(y, "linear")]
