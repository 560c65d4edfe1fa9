"""A study's band across repeats at each grid time: which kinds there are, which one ``auto``
picks, and computing it.

Kinds:

- ``t``: the mean ± the 95% Student-t confidence interval of the mean (``ci`` is the same band,
  the name study files used before);
- ``bootstrap``: the mean and the 95% BCa bootstrap interval of the mean
  (`scipy.stats.bootstrap`, resampling the repeats, all grid times at once);
- ``iqr``: the median and the quartiles (the spread of the runs, not an interval of a mean);
- ``auto``: ``t`` below `BOOTSTRAP_FROM` repeats, ``bootstrap`` from there on.

Why ``auto`` switches at 20 repeats: a bootstrap only knows the values it was given, so with
few repeats its interval is too narrow (of 2 values it has 3 possible means). Simulated 95%
intervals of the mean (2,000 data sets each, BCa with 2,000 resamples):

=======  ======================  ===========================
repeats  normal data: t / BCa    lognormal (σ = 1): t / BCa
=======  ======================  ===========================
5        0.956 / 0.842           0.816 / 0.742
10       0.946 / 0.894           0.844 / 0.827
20       0.949 / 0.925           0.869 / 0.868
30       0.957 / 0.940           0.894 / 0.907
=======  ======================  ===========================

The t interval is exact for normal data at any count and never covered less than the bootstrap
below 20 repeats. From 20 on the bootstrap covers as well as t on skewed values (a top-k MAE
is bounded below and skewed) while following their skew (its interval is not symmetric and
does not reach below the smallest values), and on normal values it is within 2.5 points of t.
Real studies have 2-5 repeats (t); replayed ones 20 or more seeds (bootstrap).
"""

from __future__ import annotations

import math
from typing import Any

#: from this many repeats (of the strategy with the fewest) ``auto`` draws the bootstrap band
BOOTSTRAP_FROM = 20
#: resamples of a bootstrap band (and of a speedup interval, `hpotk.study.speedups`)
RESAMPLES = 2000
#: the confidence level of the ``t`` and ``bootstrap`` bands
LEVEL = 0.95

BANDS = {
    "auto": f"Student t below {BOOTSTRAP_FROM} repeats, bootstrap from {BOOTSTRAP_FROM}",
    "t": "mean ± 95% CI of the mean (Student t)",
    "ci": "mean ± 95% CI of the mean (Student t)",
    "bootstrap": "mean, 95% CI of the mean (BCa bootstrap)",
    "iqr": "median, interquartile range",
}


def resolve(band: str, repeats: int) -> str:
    """The kind of band drawn: ``auto`` by the repeat count, ``ci`` as ``t``, else ``band``."""
    if band == "auto":
        return "bootstrap" if repeats >= BOOTSTRAP_FROM else "t"
    return "t" if band == "ci" else band


def describe(kind: str, requested: str, repeats: int) -> str:
    """The band's name for a table, e.g. "mean ± 95% CI of the mean (Student t), chosen by
    auto for 2 repeats"."""
    text = BANDS[kind]
    return f"{text}, chosen by auto for {repeats} repeats" if requested == "auto" else text


def band(data: Any, kind: str, rng: Any) -> tuple[Any, Any, Any]:
    """The center and band of ``data`` at each grid time.

    Args:
        data: the repeats' values, shape (repeats, points), no NaN.
        kind: ``t``, ``bootstrap`` or ``iqr`` (see `resolve`).
        rng: a `numpy.random.Generator` (the bootstrap's resamples).

    Returns:
        (center, low, high), each of shape (points,); low and high are NaN where a single
        repeat gives no interval.
    """
    import numpy as np

    repeats = data.shape[0]
    if kind == "iqr":
        low, high = np.percentile(data, [25, 75], axis=0)
        return np.median(data, axis=0), low, high
    center = data.mean(axis=0)
    if repeats < 2:
        nan = np.full(data.shape[1], math.nan)
        return center, nan, nan.copy()
    if kind == "t":
        from scipy import stats

        half = stats.t.ppf(0.5 + LEVEL / 2, repeats - 1) * data.std(axis=0, ddof=1) / math.sqrt(
            repeats)
        return center, center - half, center + half
    if kind == "bootstrap":
        return center, *_bootstrap(data, rng)
    raise ValueError(f"unknown band kind {kind!r}; expected t, bootstrap or iqr")


def _bootstrap(data: Any, rng: Any) -> tuple[Any, Any]:
    """The BCa interval of the mean at every grid time in one vectorised call; where every
    repeat has the same value (BCa is undefined there) the interval is that value."""
    import warnings

    import numpy as np
    from scipy import stats

    low, high = data.mean(axis=0), data.mean(axis=0)
    varies = np.ptp(data, axis=0) > 0
    if varies.any():
        with warnings.catch_warnings():  # a near-constant column: NaN, filled below
            warnings.simplefilter("ignore")
            ci = stats.bootstrap((data[:, varies],), np.mean, axis=0, vectorized=True,
                                 n_resamples=RESAMPLES, confidence_level=LEVEL, method="BCa",
                                 batch=500, random_state=rng).confidence_interval
        lo, hi = np.asarray(ci.low, dtype=float), np.asarray(ci.high, dtype=float)
        bad = ~(np.isfinite(lo) & np.isfinite(hi))
        if bad.any():  # BCa undefined (a skewed near-constant column): the percentile interval
            rest = np.percentile(_resampled_means(data[:, varies][:, bad], rng),
                                 [50 * (1 - LEVEL), 50 * (1 + LEVEL)], axis=0)
            lo[bad], hi[bad] = rest
        low[varies], high[varies] = lo, hi
    return low, high


def _resampled_means(data: Any, rng: Any) -> Any:
    """Means of `RESAMPLES` resamples of the repeats, shape (RESAMPLES, points)."""
    import numpy as np

    repeats = data.shape[0]
    counts = rng.multinomial(repeats, np.full(repeats, 1 / repeats), size=RESAMPLES)
    return counts @ data / repeats
