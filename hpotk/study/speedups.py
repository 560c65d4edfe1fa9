"""Speedups over the baseline: the ratio of times-to-target and its 95% bootstrap interval.

The speedup of a strategy is T_baseline / T_strategy, each T the first grid time at which the
strategy's center curve (the mean of its repeats, or their median under the ``iqr`` band)
reaches the target. A curve that never does is censored: its time is only known to be longer
than its horizon, so a ratio with it is a bound (``≥`` when the baseline's time is censored,
``≤`` when the strategy's is, unknown when both are).

The interval resamples each strategy's repeats with replacement (independently for the
baseline and the strategy), recomputes both center curves and their times-to-target, and
takes the 2.5% and 97.5% points of the ratios. A censored resample's ratio is an interval of
its own (``≥ L``: [L, ∞); ``≤ U``: (0, U]; both censored: (0, ∞)), so each end of the interval
is computed twice, with every censored ratio at the low end of its own interval and at the
high end; where the two agree the end is exact, where one of them is unbounded the end is a
bound (``≥`` or ``≤``), and where both are finite the end is written as the bound that is
sure (the low end ``≥`` the smaller, the high end ``≤`` the larger).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpotk.study.bands import LEVEL, RESAMPLES


@dataclass
class Interval:
    """A speedup interval's two ends, each with its marker: "=" exact, ">=" a lower bound of
    the end, "<=" an upper bound; an end of None is unknown (its marker "")."""

    low: float | None
    low_bound: str
    high: float | None
    high_bound: str


def speedup(base_tts: float | None, base_horizon: float, tts: float | None,
            horizon: float) -> tuple[float | None, str]:
    """T_baseline / T_strategy; a censored time (None) makes it a bound (or undefined if both
    are)."""
    if base_tts is not None and tts is not None:
        if tts <= 0:
            return (None, "") if base_tts > 0 else (1.0, "=")
        return base_tts / tts, "="
    if base_tts is None and tts is not None:  # the baseline took longer than it ran
        return (base_horizon / tts, ">=") if tts > 0 else (None, "")
    if base_tts is not None and tts is None:  # this strategy took longer than it ran
        return (base_tts / horizon, "<=") if horizon > 0 else (None, "")
    return None, ""


def interval(base: Any, other: Any, grid: Any, target: float | None, better: Any, *,
             base_horizon: float, horizon: float, center: str, rng: Any) -> Interval | None:
    """The 95% bootstrap interval of the speedup of ``other`` over ``base``.

    Args:
        base, other: each repeat's curve on ``grid``, shape (repeats, points), NaN where a run
            has no value yet.
        grid: the grid times (seconds).
        target: the value to reach (None: no interval).
        better: ``numpy.less_equal`` for a "min" objective, ``greater_equal`` for "max".
        base_horizon, horizon: how long the baseline and the strategy ran (a censored time is
            longer than that).
        center: "mean" or "median", the statistic of the center curve.
        rng: a `numpy.random.Generator`.

    Returns:
        The `Interval`, or None when there is no target, either side has a single repeat, or
        fewer than half the resamples give a ratio (a strategy at its target at time 0).
    """
    import numpy as np

    if target is None or len(base) < 2 or len(other) < 2:
        return None
    t_base = _resampled_tts(base, grid, target, better, center, rng)
    t_other = _resampled_tts(other, grid, target, better, center, rng)
    lower, upper = _ratio_bounds(t_base, t_other, base_horizon, horizon)
    kept = ~np.isnan(lower)
    if kept.sum() < len(kept) / 2:
        return None
    lower, upper = lower[kept], upper[kept]
    tail = (1 - LEVEL) / 2
    low = _end(*(float(np.quantile(v, tail, method="inverted_cdf")) for v in (lower, upper)),
               low_end=True)
    high = _end(*(float(np.quantile(v, 1 - tail, method="inverted_cdf"))
                  for v in (lower, upper)), low_end=False)
    return Interval(*low, *high)


def _resampled_tts(curves: Any, grid: Any, target: float, better: Any, center: str,
                   rng: Any) -> Any:
    """Time-to-target of the center curve of `RESAMPLES` resamples of ``curves`` (inf where
    it never reaches the target), shape (RESAMPLES,)."""
    import numpy as np

    repeats = curves.shape[0]
    out = np.empty(RESAMPLES)
    step = max(1, 4_000_000 // max(1, curves.size))  # resamples at a time: ~32 MB of floats
    for start in range(0, RESAMPLES, step):
        index = rng.integers(0, repeats, size=(min(step, RESAMPLES - start), repeats))
        picked = curves[index]  # (chunk, repeats, points)
        line = picked.mean(axis=1) if center == "mean" else np.median(picked, axis=1)
        with np.errstate(invalid="ignore"):
            hit = better(line, target) & ~np.isnan(line)
        reached = hit.any(axis=1)
        out[start:start + len(index)] = np.where(reached, grid[np.argmax(hit, axis=1)], np.inf)
    return out


def _ratio_bounds(t_base: Any, t_other: Any, base_horizon: float,
                  horizon: float) -> tuple[Any, Any]:
    """Each resample's ratio as an interval [lower, upper] (equal when neither time is
    censored); NaN where no ratio is defined (the strategy at its target at time 0)."""
    import numpy as np

    base_done, other_done = np.isfinite(t_base), np.isfinite(t_other)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = t_base / t_other
        at_least = base_horizon / t_other  # the baseline censored
        at_most = t_base / horizon if horizon > 0 else np.full(len(t_base), np.inf)
    lower = np.select([base_done & other_done, ~base_done & other_done, base_done & ~other_done],
                      [exact, at_least, 0.0], 0.0)
    upper = np.select([base_done & other_done, ~base_done & other_done, base_done & ~other_done],
                      [exact, np.inf, at_most], np.inf)
    undefined = other_done & (t_other <= 0)
    both_zero = undefined & base_done & (t_base <= 0)
    lower = np.where(both_zero, 1.0, np.where(undefined, math.nan, lower))
    upper = np.where(both_zero, 1.0, np.where(undefined, math.nan, upper))
    return lower, upper


def _end(at_lower: float, at_upper: float, *, low_end: bool) -> tuple[float | None, str]:
    """One end of the interval from its value with every censored ratio at its lower bound
    (``at_lower``) and at its upper bound (``at_upper``)."""
    if at_lower == at_upper:
        return at_lower, "="
    if math.isinf(at_upper):
        return (None, "") if at_lower == 0 else (at_lower, ">=")
    if at_lower == 0:
        return at_upper, "<="
    return (at_lower, ">=") if low_end else (at_upper, "<=")
