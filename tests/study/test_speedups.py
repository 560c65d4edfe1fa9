"""Speedups with intervals and what the repeats could have detected, on hand-made runs whose
times-to-target are known: a 4x speedup inside its interval, censored runs making the ends
bounds, and the smallest detectable speedup at 2 and at 10 repeats."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hpotk.study import aggregate, write_outputs
from hpotk.study.power import detectable_ratio, mannwhitney_min_p
from hpotk.study.speedups import _end
from tests.study.handmade import reaching_run

TARGET = 2.0  # reaching_run's curve is 5, then 1 from its time-to-target on


def study(base_times, other_times, *, time_s: float = 100.0, **kwargs):
    runs = {"base": [reaching_run(t, time_s=time_s) for t in base_times],
            "other": [reaching_run(t, time_s=time_s) for t in other_times]}
    return aggregate(runs, report_metric="test", top_k=1, baseline="base", target=TARGET,
                     grid_points=int(time_s * 4) + 1, **kwargs)


def test_a_known_4x_speedup_lies_inside_its_interval():
    rng = np.random.default_rng(3)
    fast = np.round(10 * rng.lognormal(0, 0.25, 10) * 4) / 4  # on the grid (steps of 0.25 s)
    slow = np.round(40 * rng.lognormal(0, 0.25, 10) * 4) / 4  # 4x as long, drawn apart
    s = study(slow, fast)
    other = s.strategies["other"]
    assert [c.tts for c in s.runs] == pytest.approx(list(slow) + list(fast))
    assert other.speedup == pytest.approx(4.0, rel=0.25) and other.speedup_bound == "="
    assert other.speedup_low_bound == other.speedup_high_bound == "="
    assert other.speedup_low < 4.0 < other.speedup_high
    assert other.speedup_low > 1.5  # 10 repeats each tell a 4x speedup from none
    assert other.speedup_low <= other.speedup <= other.speedup_high
    assert s.strategies["base"].speedup_low is None  # the baseline has no interval


def test_a_baseline_that_often_never_reaches_the_target_makes_the_top_a_lower_bound():
    # 5 of 10 baseline runs never reach the target in their 100 s: the baseline's mean curve
    # never does (the mean reaches 2 only once 3/4 of the runs are at 1)
    base = [40, 45, 50, 55, 60, None, None, None, None, None]
    s = study(base, [10] * 10)
    other = s.strategies["other"]
    assert s.strategies["base"].tts is None
    assert other.speedup == pytest.approx(100 / 10) and other.speedup_bound == ">="
    assert other.speedup_high_bound == ">="  # censored resamples leave the top open
    assert other.speedup_low is not None and other.speedup_low <= other.speedup
    assert "≥" in other.speedup_interval_text


def test_a_strategy_that_never_reaches_the_target_has_upper_bounds():
    s = study([20, 22, 24, 26], [None] * 4)  # the baseline's mean is at 2 once 3 runs are
    other = s.strategies["other"]
    assert other.speedup_bound == "<=" and other.speedup == pytest.approx(24 / 100)
    assert other.speedup_low_bound == other.speedup_high_bound == "<="
    assert other.speedup_high <= 26 / 100 + 1e-9
    assert other.speedup_interval_text.startswith("[≤ ")


def test_an_interval_end_is_exact_a_bound_or_unknown():
    assert _end(2.0, 2.0, low_end=True) == (2.0, "=")
    assert _end(2.0, math.inf, low_end=True) == (2.0, ">=")  # a censored ratio could be higher
    assert _end(0.0, 3.0, low_end=False) == (3.0, "<=")
    assert _end(0.0, math.inf, low_end=True) == (None, "")  # censored both ways: unknown
    assert _end(1.5, 2.5, low_end=True) == (1.5, ">=")  # the sure side of each end
    assert _end(1.5, 2.5, low_end=False) == (2.5, "<=")


def test_two_repeats_can_detect_nothing_by_mann_whitney():
    s = study([30, 40], [10, 12])
    other = s.strategies["other"]
    assert other.mannwhitney_min_p == pytest.approx(1 / 3)
    assert other.detectable_text.startswith("none by Mann–Whitney at α = 0.05 (2 vs 2 "
                                            "repeats: no two-sided p below 0.33)")
    # the t test on log times could, given a big enough effect: its size is named
    sd = np.std(np.log([30, 40]), ddof=1)
    assert other.detectable_speedup == pytest.approx(detectable_ratio(sd, 2, 2))
    assert "t test on log time-to-target would need" in other.detectable_text
    assert s.strategies["base"].detectable_text == "—"
    assert "from the 2 of 2 base runs that reached the target" in s.spread_text


def test_ten_repeats_name_the_smallest_detectable_speedup():
    rng = np.random.default_rng(5)
    base = np.round(40 * rng.lognormal(0, 0.3, 10) * 4) / 4
    s = study(base, base / 2)
    other = s.strategies["other"]
    sd = np.std(np.log(base), ddof=1)
    assert other.mannwhitney_min_p < 0.05
    assert other.detectable_speedup == pytest.approx(detectable_ratio(sd, 10, 10))
    # the normal approximation: exp((z_0.975 + z_0.8) sd sqrt(2/10)); t needs a little more
    normal = math.exp((1.959964 + 0.841621) * sd * math.sqrt(2 / 10))
    assert normal < other.detectable_speedup < normal * 1.1
    assert other.detectable_text.endswith("either way (t test on log time-to-target, power 0.8)")


def test_the_spread_is_pooled_when_fewer_than_two_baseline_runs_reach_the_target():
    s = study([30, None], [10, 14])
    assert "pooled within 1 strategies" in s.spread_text and "left out" in s.spread_text
    assert s.strategies["other"].detectable_speedup == pytest.approx(
        detectable_ratio(np.std(np.log([10, 14]), ddof=1), 2, 2))
    none = study([None, None], [None, 10])
    assert none.strategies["other"].detectable_speedup is None
    assert "spread unknown" in none.strategies["other"].detectable_text


def test_detectable_ratio_matches_the_classic_seventeen_per_group():
    # a t test detects one sd (d = 1) with power 0.8 from 17 per group, not from 16
    assert math.log(detectable_ratio(1.0, 17, 17)) < 1.0 < math.log(detectable_ratio(1.0, 16, 16))
    assert detectable_ratio(float("nan"), 5, 5) is None and detectable_ratio(1.0, 1, 1) is None
    assert [round(mannwhitney_min_p(n, n), 4) for n in (2, 3, 4)] == [0.3333, 0.1, 0.0286]


def test_outputs_carry_the_interval_and_the_detectable_speedup(tmp_path):
    s = study([30, 40, None], [10, 12, 11])
    other = s.strategies["other"]
    other.repeats_needed, other.repeats_needed_from = 6, "time-to-target of 20 replayed seeds"
    write_outputs(s, tmp_path)
    table = pd.read_csv(tmp_path / "summary.csv").set_index("strategy")
    for column in ("speedup_low", "speedup_low_bound", "speedup_high", "speedup_high_bound",
                   "mannwhitney_min_p", "detectable_speedup", "detectable_text", "band",
                   "repeats_needed", "repeats_needed_from"):
        assert column in table.columns, column
    assert table.loc["other", "speedup_high_bound"] == other.speedup_high_bound
    assert table.loc["other", "repeats_needed"] == 6
    assert table.loc["other", "detectable_text"].startswith("none by Mann–Whitney")
    assert "Student t" in table.loc["other", "band"]
    md = (tmp_path / "summary.md").read_text()
    assert other.speedup_interval_text in md and "smallest detectable speedup" in md
    assert "Repeats needed for other" in md and "20 replayed seeds" in md
    text = s.text()
    assert other.speedup_interval_text in text and "smallest detectable speedup: none" in text
    assert "repeats needed: 6 (time-to-target of 20 replayed seeds)" in text
