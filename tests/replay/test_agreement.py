"""Comparing replayed runs with real ones: the numbers `agreement` reports, `aligned` runs and the
figure."""

from __future__ import annotations

import copy

import pytest

from hpotk import replay
from tests.replay.helpers import Curve, make_table

CURVES = {name: Curve(0.01 * (i + 1), 8, [0.1 * (i + 1), 0.15 * (i + 1), 0.2 * (i + 1)],
                      [1.0 + 0.1 * i] * 3)
          for i, name in enumerate("abcd")}


@pytest.fixture
def runs() -> list:
    table = replay.load_table(make_table(CURVES, max_t=3))
    strategy = replay.Strategy("fifo/random", concurrent=2, max_t=3, time_s=20.0)
    return [replay.replay(table, strategy, seed=s).to_results(label="x", strategy=strategy,
                                                               seed=s) for s in range(4)]


def shifted(res, seconds: float):
    out = copy.copy(res)
    out.history = res.history.copy()
    out.history["time_s"] += seconds
    out.trials = res.trials.copy()
    out.trials["end_s"] += seconds
    out.trials["start_s"] += seconds
    return out


def test_runs_agree_with_themselves(runs):
    a = replay.agreement(runs, runs, report_metric="score", top_k=2, grid_points=50)
    assert a.within_envelope == 1.0 and a.within_sd == 1.0 and a.max_gap_sd == 0.0
    assert a.trials_real == a.trials_replayed
    assert a.trials_real[0] == 4  # every trial finishes within the 20 s
    assert "inside the real runs' range at 100%" in a.text()


def test_a_late_replay_falls_outside_the_real_range(runs):
    late = [shifted(r, 3.0) for r in runs]
    a = replay.agreement(runs, late, report_metric="score", top_k=2, grid_points=200)
    assert a.within_envelope < 1.0
    assert a.final_real[0] == pytest.approx(a.final_replayed[0])  # the same values, later


def test_aligned_measures_from_the_first_trial_start(runs):
    res = runs[0]
    moved = shifted(res, 7.0)
    moved.meta = dict(res.meta, started=0.0, finished=res.meta["finished"] + 7.0)
    back = replay.aligned(moved)
    first = float(moved.trials["start_s"].min())
    assert float(back.trials["start_s"].min()) == 0.0
    assert back.history["time_s"].tolist() == pytest.approx(
        (moved.history["time_s"] - first).tolist())
    assert back.meta["budget"]["time_s"] == pytest.approx(res.meta["finished"] + 7.0 - first)


def test_the_figure_is_written(runs, tmp_path):
    a = replay.agreement(runs, [shifted(r, 1.0) for r in runs], report_metric="score",
                         top_k=2, grid_points=50)
    path = replay.plot_agreement(a, tmp_path / "cmp.png", title="t", note="n")
    assert path.stat().st_size > 10_000


def test_time_ratio_measures_a_slower_machine_and_scaled_replays_on_it(runs):
    table = replay.load_table(make_table(CURVES, max_t=3))
    slow = table.scaled(1.5)
    assert slow.trials[1].iter_s == pytest.approx([s * 1.5 for s in table.trials[1].iter_s])
    assert slow.trials[1].setup_s == pytest.approx(0.75) and slow.launch_s == table.launch_s
    strategy = replay.Strategy("fifo/random", concurrent=2, max_t=3)
    on_slow = replay.replay(slow, strategy).to_results(label="x", strategy=strategy, seed=0)
    ratio, pairs = replay.time_ratio(table, [on_slow])
    assert pairs == 12  # 4 trials x 3 iterations, all recorded configs
    assert ratio == pytest.approx(1.5)
    assert replay.time_ratio(table, runs) == (pytest.approx(1.0), 48)
    with pytest.raises(replay.HpotkError, match="must be > 0"):
        table.scaled(0)


def test_aligned_until_cuts_a_run_as_if_its_budget_ended_there(runs):
    res = runs[0]
    first = float(res.trials["start_s"].min())
    cut = replay.aligned(res, until=3.0)
    assert (cut.history["time_s"] <= 3.0).all()
    assert len(cut.history) == int(((res.history["time_s"] - first) <= 3.0).sum())
    ended = res.trials["end_s"] - first <= 3.0
    assert (cut.trials.loc[ended[ended].index, "status"] == "COMPLETED").all()
    assert set(cut.trials.loc[~ended, "status"]) <= {"UNFINISHED"}
    assert cut.meta["budget"]["time_s"] == 3.0


def test_nearest_recorded_config_measures_any_runs_machine(runs):
    table = replay.load_table(make_table(CURVES, max_t=3))
    # lr on a log scale (0.011 is nearest to 0.01), width by its position among the choices
    assert table.nearest({"lr": 0.011, "width": 8}).trial_id == "a"
    assert table.nearest({"lr": 0.031, "width": 32}).trial_id == "c"
    strategy = replay.Strategy("fifo/random", concurrent=2, max_t=3)
    slow = replay.replay(table.scaled(2.0), strategy).to_results(label="x", strategy=strategy,
                                                                 seed=0)
    moved = slow.trials.copy()
    moved["config/lr"] = moved["config/lr"] * 1.05  # configs the table never ran
    slow.trials = moved
    assert replay.time_ratio(table, [slow]) == (pytest.approx(float("nan"), nan_ok=True), 0)
    assert replay.time_ratio(table, [slow], nearest=True) == (pytest.approx(2.0), 12)
