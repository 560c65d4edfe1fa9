"""`hpotk.study.aggregate` on hand-made runs: the top-k means, trials finished, time-to-target,
censored speedups, the CI and IQR bands and the Mann–Whitney p-value, all known in advance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hpotk.errors import HpotkError
from hpotk.results import Freshness, Results
from hpotk.study import aggregate, write_outputs


def make_run(trials: dict[str, list[tuple[float, float, float]]], *, mode: str = "min",
             time_s: float = 10.0, status: str = "COMPLETED", segments=None,
             started: float = 1000.0) -> Results:
    """A Results object from ``trial -> [(time_s, objective, report), ...]``; every trial ends
    (with ``status``) at its last result."""
    rows, table = [], []
    for trial_id, points in trials.items():
        for i, (t, obj, rep) in enumerate(points):
            rows.append({"trial_id": trial_id, "iteration": i + 1, "time_s": t,
                         "timestamp": started + t, "val": obj, "test": rep})
        table.append({"trial_id": trial_id, "status": status, "end_s": points[-1][0],
                      "start_s": points[0][0] - 0.5})
    meta = {"name": "run", "metric": "val", "mode": mode, "budget": {"time_s": time_s},
            "started": started, "runs": segments or [{"started": started}], "seed": 0}
    return Results(Path("/nowhere"), meta, pd.DataFrame(table), pd.DataFrame(rows),
                   Freshness("summary", None, 0.0))


TRIALS = {  # top-2 by val (min): 4.5 at t=2, 3.5 at t=3, 2.5 from t=4 on
    "a": [(1.0, 0.5, 5.0), (3.0, 0.3, 3.0)],
    "b": [(2.0, 0.4, 4.0)],
    "c": [(4.0, 0.2, 2.0), (5.0, 0.6, 6.0)],  # c's later, worse result is not its value
}


def test_top_k_mean_is_taken_at_each_trials_best_iteration():
    run = make_run(TRIALS)
    s = aggregate({"x": [run]}, report_metric="test", top_k=2, baseline="x", grid_points=11)
    curve = s.runs[0]
    assert s.grid.tolist() == [float(i) for i in range(11)]
    expected = [math.nan, math.nan, 4.5, 3.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5]
    np.testing.assert_allclose(curve.values, expected)
    assert curve.final == 2.5
    # trials end at 3 (a), 2 (b) and 5 (c)
    assert curve.finished.tolist() == [0, 0, 1, 2, 2, 3, 3, 3, 3, 3, 3]
    assert curve.trials_finished == 3


def test_max_mode_ranks_by_the_largest_objective():
    run = make_run({"a": [(1.0, 0.9, 10.0)], "b": [(2.0, 0.1, 20.0)], "c": [(3.0, 0.8, 30.0)]},
                   mode="max")
    s = aggregate({"x": [run]}, report_metric="test", top_k=2, baseline="x", grid_points=11)
    assert s.runs[0].values[2] == 15.0  # a and b are the only two
    assert s.runs[0].final == 20.0  # a (0.9) and c (0.8): (10 + 30) / 2


def test_unfinished_trials_count_in_the_curve_but_not_as_finished():
    run = make_run(TRIALS, status="UNFINISHED")
    s = aggregate({"x": [run]}, report_metric="test", top_k=2, baseline="x", grid_points=11)
    assert s.runs[0].final == 2.5
    assert s.runs[0].trials_finished == 0 and s.runs[0].finished.max() == 0


def test_default_target_is_the_baselines_final_value_and_speedup_is_exact():
    base = make_run(TRIALS)  # reaches 2.5 at t=4
    fast = make_run({"a": [(0.5, 0.3, 3.0)], "b": [(1.0, 0.2, 2.0)]})  # 2.5 at t=1
    s = aggregate({"base": [base], "fast": [fast]}, report_metric="test", top_k=2,
                  baseline="base", grid_points=21)
    assert s.target == 2.5 and not s.target_given
    assert s.runs[0].tts == 4.0 and s.runs[1].tts == 1.0
    assert s.strategies["base"].tts == 4.0 and s.strategies["fast"].tts == 1.0
    assert s.strategies["fast"].speedup == pytest.approx(4.0)
    assert s.strategies["fast"].speedup_bound == "="
    assert s.strategies["fast"].speedup_text == "4×"
    assert s.strategies["base"].speedup_text == "1×"


def test_a_baseline_that_never_reaches_the_target_gives_a_lower_bound():
    base = make_run(TRIALS, time_s=26.0)  # best 2.5, never 2.0: censored at its 26 s
    fast = make_run({"a": [(0.5, 0.3, 2.0)], "b": [(5.0, 0.2, 2.0)]})  # 2.0 at t=5
    s = aggregate({"base": [base], "fast": [fast]}, report_metric="test", top_k=2,
                  baseline="base", target=2.0, grid_points=27)
    assert s.target_given
    assert s.runs[0].tts is None and s.runs[0].horizon == 26.0
    assert s.strategies["base"].tts is None
    assert s.strategies["base"].tts_text == "> 26 s"
    fast_s = s.strategies["fast"]
    assert fast_s.tts == 5.0
    assert fast_s.speedup == pytest.approx(26.0 / 5.0) and fast_s.speedup_bound == ">="
    assert fast_s.speedup_text == "≥ 5.2×"


def test_a_strategy_that_never_reaches_the_target_gives_an_upper_bound():
    base = make_run(TRIALS, time_s=10.0)  # 2.5 at t=4
    slow = make_run({"a": [(1.0, 0.3, 3.0)], "b": [(2.0, 0.2, 3.0)]}, time_s=20.0)
    s = aggregate({"base": [base], "slow": [slow]}, report_metric="test", top_k=2,
                  baseline="base", grid_points=21)
    slow_s = s.strategies["slow"]
    assert slow_s.tts is None
    assert slow_s.speedup == pytest.approx(4.0 / 20.0) and slow_s.speedup_bound == "<="
    assert slow_s.speedup_text == "≤ 0.2×"


def test_neither_reaching_the_target_has_no_speedup():
    base = make_run(TRIALS)
    other = make_run({"a": [(1.0, 0.3, 3.0)], "b": [(2.0, 0.2, 3.0)]})
    s = aggregate({"base": [base], "other": [other]}, report_metric="test", top_k=2,
                  baseline="base", target=1.0, grid_points=11)
    assert s.strategies["other"].speedup is None and s.strategies["other"].speedup_text == "—"


def constant_run(value: float, n_trials: int = 2) -> Results:
    return make_run({f"t{i}": [(1.0 + i, 0.1 * (i + 1), value)] for i in range(n_trials)})


def test_the_ci_band_is_students_t_across_repeats():
    finals = [1.0, 2.0, 4.0]
    s = aggregate({"x": [constant_run(v) for v in finals]}, report_metric="test", top_k=2,
                  baseline="x", grid_points=11)
    x = s.strategies["x"]
    half = stats.t.ppf(0.975, 2) * np.std(finals, ddof=1) / math.sqrt(3)
    assert x.center[-1] == pytest.approx(np.mean(finals))
    assert x.low[-1] == pytest.approx(np.mean(finals) - half)
    assert x.high[-1] == pytest.approx(np.mean(finals) + half)
    assert x.final_mean == pytest.approx(np.mean(finals))
    assert x.final_sd == pytest.approx(np.std(finals, ddof=1))
    assert math.isnan(x.center[1])  # only one trial by t=1: the top 2 are not there yet


def test_iqr_band_is_the_median_and_quartiles():
    finals = [1.0, 2.0, 4.0, 8.0]
    s = aggregate({"x": [constant_run(v) for v in finals]}, report_metric="test", top_k=2,
                  baseline="x", band="iqr", grid_points=11)
    x = s.strategies["x"]
    assert x.center[-1] == pytest.approx(np.median(finals))
    assert (x.low[-1], x.high[-1]) == pytest.approx(tuple(np.percentile(finals, [25, 75])))


def test_mann_whitney_p_value_of_final_values_against_the_baseline():
    base = [constant_run(v) for v in (1.0, 1.1, 1.2, 1.3)]
    other = [constant_run(v) for v in (2.0, 2.1, 2.2, 2.3)]
    s = aggregate({"base": base, "other": other}, report_metric="test", top_k=2,
                  baseline="base", grid_points=11)
    expected = stats.mannwhitneyu([2.0, 2.1, 2.2, 2.3], [1.0, 1.1, 1.2, 1.3],
                                  alternative="two-sided").pvalue
    assert s.strategies["other"].p_value == pytest.approx(expected)
    assert s.strategies["base"].p_value is None


def test_a_pause_between_interruption_and_resume_is_not_counted():
    # ran 0-10 s, paused 100 s, resumed at 110 s: a result at 115 s is at 15 s of running
    segments = [{"started": 1000.0, "finished": 1010.0}, {"started": 1110.0}]
    run = make_run({"a": [(5.0, 0.5, 5.0)], "b": [(115.0, 0.4, 4.0)]}, segments=segments,
                   time_s=20.0)
    s = aggregate({"x": [run]}, report_metric="test", top_k=2, baseline="x", grid_points=21)
    assert s.runs[0].horizon == 20.0
    values = s.runs[0].values
    assert math.isnan(values[14]) and values[15] == 4.5


def test_missing_report_metric_is_named():
    with pytest.raises(HpotkError, match="no trial reported 'test_mae'.*'test'"):
        aggregate({"x": [make_run(TRIALS)]}, report_metric="test_mae", top_k=2, baseline="x")


def test_unknown_baseline_and_mixed_objectives_are_refused():
    with pytest.raises(HpotkError, match="baseline 'y' has no runs"):
        aggregate({"x": [make_run(TRIALS)]}, report_metric="test", top_k=2, baseline="y")
    with pytest.raises(HpotkError, match="optimises val \\(max\\)"):
        aggregate({"x": [make_run(TRIALS)], "z": [make_run(TRIALS, mode="max")]},
                  report_metric="test", top_k=2, baseline="x")


def test_outputs_carry_the_note_and_the_numbers(tmp_path):
    base = make_run(TRIALS, time_s=26.0)
    fast = make_run({"a": [(0.5, 0.3, 2.0)], "b": [(5.0, 0.2, 2.0)]})
    s = aggregate({"base": [base, base], "fast": [fast, fast]}, report_metric="test",
                  top_k=2, baseline="base", target=2.0, grid_points=27)
    paths = write_outputs(s, tmp_path, note="replayed from results/x")
    assert [p.name for p in paths] == ["curves.csv", "summary.csv", "summary.md", "tts.png"]
    for path in paths[:3]:
        assert "replayed from results/x" in path.read_text()
    curves = pd.read_csv(tmp_path / "curves.csv", comment="#")
    assert set(curves["repeat"].astype(str)) == {"0", "1", "all"}
    assert len(curves) == 27 * (4 + 2)
    summary = pd.read_csv(tmp_path / "summary.csv", comment="#").set_index("strategy")
    assert summary.loc["fast", "speedup_text"] == "≥ 5.2×"
    assert bool(summary.loc["base", "time_to_target_censored"])
    assert "≥ 5.2×" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "tts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
