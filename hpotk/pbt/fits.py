"""The learning-rate schedule a PBT lineage followed, fitted (`hpotk schedule`, and the
``lr_schedule`` of a PBT run's retrain.yaml): every candidate form of `hpotk.lr_schedule`
fitted to lr(t), the best by BIC first.

Candidates constant, MultiStepLR, StepLR, ExponentialLR and CosineAnnealingLR are fitted to log
lr(t) by least squares; the milestones of MultiStepLR are the change points that ruptures'
dynamic programming finds (Truong, Oudre and Vayatis, "Selective review of offline change point
detection methods", 2020), StepLR's step size and the cosine's ``T_max`` are searched with
``scipy.optimize.brute``, the cosine's other parameters with ``scipy.optimize.least_squares``.
With `hpotk.pbt.fits_rising`'s rise-then-fall fits (warm-up then exponential, step or cosine
decay; one-cycle, cos and linear) they are the candidates of `fit`. The choice among them is by
the Bayesian information criterion on log lr, ``n ln(RSS / n) + k ln(n)`` (``k`` counts every
fitted number, each milestone included).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from hpotk.pbt import fits_rising
from hpotk.pbt._fit import RSS_FLOOR, Fit, _bic, _make

__all__ = ["FIT_ORDER", "MAX_MILESTONES", "RSS_FLOOR", "Fit", "fit", "fit_constant",
           "fit_cosine", "fit_exponential", "fit_multistep", "fit_step"]

FIT_ORDER = ("constant", "multistep", "step", "exponential", "cosine", "warmup-exponential",
             "warmup-step", "warmup-cosine", "onecycle-cos", "onecycle-linear")  # BIC ties
MAX_MILESTONES = 8


def _powers_fit(y: Any, steps: Any) -> tuple[float, float]:
    """Least squares of ``y = log lr0 + steps * log gamma``: (lr0, gamma)."""
    import numpy as np

    design = np.column_stack([np.ones_like(y), steps])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(math.exp(a)), float(math.exp(b))


def fit_constant(y: Any) -> Fit:
    import numpy as np

    return _make("constant", {"type": "constant"}, math.exp(float(np.mean(y))), y, 1)


def fit_exponential(y: Any) -> Fit:
    import numpy as np
    from scipy import stats

    reg = stats.linregress(np.arange(len(y), dtype=float), y)
    spec = {"type": "exponential", "gamma": float(math.exp(reg.slope))}
    return _make("exponential", spec, math.exp(reg.intercept), y, 2)


def fit_multistep(y: Any) -> Fit:
    """Milestones from ruptures' exact change-point search (Dynp, l2 cost) for 1..8 change
    points, one lr0 and gamma by least squares for each; the count with the lowest BIC."""
    import numpy as np

    try:
        import ruptures
    except ImportError:
        from hpotk.errors import HpotkError

        raise HpotkError("fitting MultiStepLR needs ruptures (change points): pip install "
                         "'hpotk[schedule]' or pip install ruptures") from None
    n = len(y)
    if n < 3:
        return _make("multistep", {"type": "multistep", "milestones": [1], "gamma": 1.0},
                     math.exp(float(np.mean(y))), y, 3)
    algo = ruptures.Dynp(model="l2", min_size=1, jump=1).fit(np.asarray(y).reshape(-1, 1))
    best: Fit | None = None
    for count in range(1, min(MAX_MILESTONES, n - 1) + 1):
        try:
            breaks = algo.predict(n_bkps=count)
        except ruptures.exceptions.BadSegmentationParameters:
            break
        milestones = [int(b) for b in breaks[:-1]]  # the epoch index where a new segment starts
        steps = np.array([bisect.bisect_right(milestones, e) for e in range(n)], dtype=float)
        lr0, gamma = _powers_fit(np.asarray(y), steps)
        candidate = _make("multistep", {"type": "multistep", "milestones": milestones,
                                        "gamma": gamma}, lr0, y, 2 + count)
        candidate.bic = _bic(candidate.rss, n, candidate.k)
        if best is None or candidate.bic < best.bic - 1e-9:
            best = candidate
    assert best is not None
    return best


def fit_step(y: Any) -> Fit:
    """StepLR: the step size by ``scipy.optimize.brute`` over 1..n-1, lr0 and gamma by least
    squares for each."""
    import numpy as np
    from scipy import optimize

    n = len(y)
    y = np.asarray(y)
    epochs = np.arange(n)

    def cost(size: Any) -> float:
        s = max(int(round(float(np.atleast_1d(size)[0]))), 1)
        lr0, gamma = _powers_fit(y, (epochs // s).astype(float))
        return float(np.sum((np.log(lr0) + (epochs // s) * np.log(gamma) - y) ** 2))

    if n < 3:
        size = 1
    else:
        size = int(round(float(np.atleast_1d(optimize.brute(cost, (slice(1, n, 1),),
                                                            finish=None))[0])))
    lr0, gamma = _powers_fit(y, (epochs // size).astype(float))
    return _make("step", {"type": "step", "step_size": size, "gamma": gamma}, lr0, y, 3)


def fit_cosine(y: Any) -> Fit:
    """CosineAnnealingLR: ``T_max`` by ``scipy.optimize.brute`` over n/2..2n, lr0 and eta_min by
    ``scipy.optimize.least_squares`` on log lr for each (eta_min = lr0 * exp(q), q <= 0).

    ``T_max`` stays at least half the run: torch's cosine is periodic, and a short period would
    fit noise (one anneal over the run is what the schedule is for). ``eta_min`` stays at most
    lr0, so the cosine anneals down: with eta_min above lr0 it is a bump that rises for T_max
    iterations and falls back, which the warm-up and one-cycle fits describe as what it is."""
    import numpy as np
    from scipy import optimize

    y = np.asarray(y)
    n = len(y)
    epochs = np.arange(n, dtype=float)

    def inner(t_max: int) -> tuple[float, float, float]:
        shape = (1 + np.cos(np.pi * epochs / t_max)) / 2

        def residual(p: Any) -> Any:
            lr0 = np.exp(p[0])
            eta = lr0 * np.exp(p[1])
            return np.log(np.maximum(eta + (lr0 - eta) * shape, 1e-300)) - y

        start = [float(y[0]), float(min(y[-1] - y[0], -0.1))]
        sol = optimize.least_squares(residual, start, bounds=([-50, -30], [10, 0]))
        lr0 = float(np.exp(sol.x[0]))
        return float(np.sum(sol.fun ** 2)), lr0, lr0 * float(np.exp(sol.x[1]))

    def cost(t: Any) -> float:
        return inner(max(int(round(float(np.atleast_1d(t)[0]))), 1))[0]

    low = max(1, n // 2)
    t_max = int(round(float(np.atleast_1d(optimize.brute(cost, (slice(low, 2 * n + 1, 1),),
                                                         finish=None))[0])))
    _, lr0, eta = inner(t_max)
    return _make("cosine", {"type": "cosine", "T_max": t_max, "eta_min": eta}, lr0, y, 3)


def fit(lrs: list[float]) -> list[Fit]:
    """Every candidate fitted to ``lrs`` (the lr of iterations 1..n), each with its BIC,
    best (lowest BIC) first (the rise-then-fall families only from 4 iterations on)."""
    import numpy as np

    values = np.asarray([float(v) for v in lrs], dtype=float)
    if len(values) == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        from hpotk.errors import HpotkError

        raise HpotkError(f"cannot fit a schedule: the lr series must be positive numbers, "
                         f"got {list(lrs)[:10]}")
    y = np.log(values)
    fits = [fit_constant(y), fit_multistep(y), fit_step(y), fit_exponential(y), fit_cosine(y),
            *fits_rising.fits(y)]
    for f in fits:
        f.bic = _bic(f.rss, len(y), f.k)
    order = {name: i for i, name in enumerate(FIT_ORDER)}
    return sorted(fits, key=lambda f: (round(f.bic, 9), f.k, order[f.name]))

