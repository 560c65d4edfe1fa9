"""`hpotk.study.repeats_needed` on samples with a known effect: two normal samples one standard
deviation apart need about 17 repeats a side (a t test needs 17 for power 0.8; Mann–Whitney,
95% as efficient on normal data, a little more), no effect needs more than any count, and a
complete separation needs 4 (the fewest at which Mann–Whitney can reach p < 0.05)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpotk.errors import HpotkError
from hpotk.study import repeats_needed


def normal_samples(shift: float, size: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, size), rng.normal(shift, 1.0, size)


def test_one_standard_deviation_apart_needs_about_seventeen_a_side():
    base, other = normal_samples(1.0)
    n = repeats_needed(base, other, rng=np.random.default_rng(1))
    assert n is not None and 15 <= n <= 22, n


def test_the_direction_does_not_matter():
    base, other = normal_samples(1.0)
    n = repeats_needed(other, base, rng=2)
    assert n is not None and 15 <= n <= 22, n


def test_more_power_needs_more_repeats():
    base, other = normal_samples(1.0)
    low = repeats_needed(base, other, power=0.5, rng=3)
    high = repeats_needed(base, other, power=0.95, rng=3)
    assert low is not None and high is not None and low < high


def test_no_effect_is_never_detected():
    base, other = normal_samples(0.0)
    assert repeats_needed(base, other, max_n=30, rng=4) is None


def test_a_small_effect_beyond_max_n_is_none():
    base, other = normal_samples(0.3)  # ~175 a side for power 0.8
    assert repeats_needed(base, other, max_n=20, rng=5) is None


def test_complete_separation_needs_four_and_censored_times_may_be_infinite():
    fast = [10.0, 11.0, 12.0, 13.0, 14.0]
    assert repeats_needed([50.0, 60.0, 70.0], fast, rng=6) == 4
    # a baseline that never reached the target: its times only known to be longer
    assert repeats_needed([math.inf, math.inf, 90.0], fast, rng=6) == 4


def test_the_same_seed_gives_the_same_answer():
    base, other = normal_samples(0.8)
    assert repeats_needed(base, other, rng=7) == repeats_needed(base, other, rng=7)


@pytest.mark.parametrize("values, message", [
    ([1.0], "at least 2 values"),
    ([1.0, math.nan], "NaN at positions \\[1\\]"),
])
def test_bad_values_are_refused(values, message):
    with pytest.raises(HpotkError, match=message):
        repeats_needed(values, [1.0, 2.0], rng=0)


def test_bad_settings_are_refused():
    with pytest.raises(HpotkError, match="max_n"):
        repeats_needed([1.0, 2.0], [3.0, 4.0], max_n=1, rng=0)
    with pytest.raises(HpotkError, match="power"):
        repeats_needed([1.0, 2.0], [3.0, 4.0], power=1.5, rng=0)
