"""What a study's repeats can tell: the smallest speedup they could have detected, and how many
repeats a replay says a real study needs.

- `mannwhitney_min_p`: the smallest two-sided p-value a Mann–Whitney U test can give with
  n1 and n2 values (both samples entirely apart): 2 / C(n1 + n2, n1). With 2 and 2 repeats it
  is 1/3, so no difference whatever is significant at α = 0.05; from 4 and 4 on (0.029) one
  can be.
- `detectable_ratio`: the smallest ratio of times-to-target that a two-sided two-sample t test
  on log times detects with the given power, for a spread (standard deviation of log time)
  and the two repeat counts; the noncentral t distribution gives the power exactly for
  log-normal times.
- `repeats_needed`: from replayed per-seed values of two strategies, the fewest real repeats
  per strategy at which a Mann–Whitney test tells them apart with the given power (estimated
  by drawing that many values from each side, `SIMULATIONS` times).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hpotk.errors import HpotkError

#: the significance level and power the study's statements use
ALPHA = 0.05
POWER = 0.8
#: simulated studies per repeat count in `repeats_needed` (power known to about ±0.01 at 0.8)
SIMULATIONS = 2000


def mannwhitney_min_p(n1: int, n2: int) -> float:
    """The smallest two-sided Mann–Whitney p-value possible with ``n1`` and ``n2`` values (no
    ties), as scipy's exact test gives it."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def detectable_ratio(log_sd: float, n1: int, n2: int, *, alpha: float = ALPHA,
                     power: float = POWER) -> float | None:
    """The smallest factor between two strategies' times-to-target (either way) that a
    two-sided two-sample t test on log times (pooled variance) detects at ``alpha`` with
    ``power``, when the log times spread by ``log_sd`` in each strategy.

    Returns:
        The factor (≥ 1), or None when it is not defined (fewer than 3 runs in all, or an
        unknown spread).
    """
    df = n1 + n2 - 2
    if df < 1 or log_sd is None or not math.isfinite(log_sd) or n1 < 1 or n2 < 1:
        return None
    from scipy import optimize, stats

    critical = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(shift: float) -> float:
        reach = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
        return float(reach) - power

    high = 1.0
    while shortfall(high) < 0:  # the power rises with the shift: bracket it
        high *= 2
    shift = optimize.brentq(shortfall, 0.0, high)
    return math.exp(shift * log_sd * math.sqrt(1 / n1 + 1 / n2))


def repeats_needed(baseline_values: Sequence[float], other_values: Sequence[float], *,
                   alpha: float = 0.05, power: float = 0.8, max_n: int = 50,
                   rng: Any) -> int | None:
    """The fewest repeats per strategy at which a two-sided Mann–Whitney test at ``alpha``
    tells the two strategies apart with probability ``power``.

    For each n from 2 on, `SIMULATIONS` studies of n values drawn (with replacement) from each
    side are tested; the first n at which the share with p ≤ ``alpha`` reaches ``power`` is the
    answer. Counts at which the exact test cannot reach ``alpha`` at all
    (`mannwhitney_min_p`) are skipped. The p-values are scipy's, as the study's own: exact
    up to 8 values a side without ties, else the normal approximation with tie correction.

    Args:
        baseline_values, other_values: one value per replayed seed of each strategy (the final
            top-k metric, or the time-to-target: a run that never reached the target may be
            given as ``math.inf``, since the test uses only the order); at least 2 each.
        alpha: the test's significance level.
        power: the probability of detecting the difference the values show.
        max_n: the most repeats considered.
        rng: a `numpy.random.Generator` or a seed.

    Returns:
        n, or None when even ``max_n`` repeats per strategy do not reach ``power`` (also
        when the two sides do not differ).
    """
    import numpy as np

    base = _values(baseline_values, "baseline_values")
    other = _values(other_values, "other_values")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise HpotkError(f"alpha and power must be between 0 and 1, got alpha={alpha!r}, "
                         f"power={power!r}")
    if max_n < 2:
        raise HpotkError(f"max_n: expected >= 2 repeats, got {max_n!r}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    for n in range(2, max_n + 1):
        if mannwhitney_min_p(n, n) > alpha:
            continue
        a = rng.choice(base, size=(SIMULATIONS, n))
        b = rng.choice(other, size=(SIMULATIONS, n))
        if float(np.mean(_mannwhitney_p(a, b) <= alpha)) >= power:
            return n
    return None


def _values(values: Sequence[float], name: str) -> Any:
    import numpy as np

    out = np.asarray(list(values), dtype=float)
    if out.ndim != 1 or len(out) < 2:
        raise HpotkError(f"{name}: expected at least 2 values (one per replayed seed), got "
                         f"{len(out) if out.ndim == 1 else out.shape}")
    if np.isnan(out).any():
        raise HpotkError(f"{name}: NaN at positions {np.flatnonzero(np.isnan(out)).tolist()}; "
                         f"leave out runs without a value, or give a censored time as math.inf")
    return out


def _mannwhitney_p(a: Any, b: Any) -> Any:
    """Two-sided Mann–Whitney p-values of each row of ``a`` against the same row of ``b``:
    exact for rows without ties when a side has at most 8 values, asymptotic otherwise (what
    scipy's ``method="auto"`` does for one pair)."""
    import warnings

    import numpy as np
    from scipy import stats

    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    tied = (both[:, 1:] == both[:, :-1]).any(axis=1)  # (inf == inf: two censored times tie)
    p = np.empty(len(a))
    exact = ~tied if min(a.shape[1], b.shape[1]) <= 8 else np.zeros(len(a), dtype=bool)
    with warnings.catch_warnings():  # rows of equal values: p = 1 with a warning
        warnings.simplefilter("ignore")
        for rows, method in ((exact, "exact"), (~exact, "asymptotic")):
            if rows.any():
                p[rows] = stats.mannwhitneyu(a[rows], b[rows], axis=1, method=method,
                                             alternative="two-sided").pvalue
    return np.nan_to_num(p, nan=1.0)
