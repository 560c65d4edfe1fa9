"""The simulated clock on a hand-made table: when each result arrives, the finishing order, the
time budget, pausing and resuming, and the time-to-target the study computes from it."""

from __future__ import annotations

import pytest

from hpotk import replay
from hpotk.study import aggregate
from tests.replay.helpers import Curve, make_table

# recorded one after another from t=10, each start costing 0.5 s:
#   a runs 11.5 12.5 13.5, b 16.1 18.2 20.3, c 21.2 21.6 22.0
CURVES = {
    "a": Curve(0.01, 8, [0.1, 0.2, 0.3], [1.0, 1.0, 1.0]),
    "b": Curve(0.02, 16, [0.5, 0.6, 0.9], [2.1, 2.1, 2.1]),
    "c": Curve(0.03, 32, [0.2, 0.3, 0.4], [0.4, 0.4, 0.4]),
}


@pytest.fixture
def table() -> replay.Table:
    return replay.load_table(make_table(CURVES, max_t=3))


def fifo(concurrent: int = 2, time_s: float | None = None, **kw) -> replay.Strategy:
    return replay.Strategy("fifo/random", concurrent=concurrent, time_s=time_s, max_t=3, **kw)


def arrivals(sim: replay.Simulation) -> list[tuple[str, int, float]]:
    names = {run.trial.trial_id: run.recorded.trial_id for run in sim.runs.values()}
    return [(names[h["trial_id"]], h["iteration"], round(h["time_s"], 6)) for h in sim.history]


def test_the_table_keeps_the_recorded_times(table):
    assert table.launch_s == pytest.approx(10.0)
    assert [t.trial_id for t in table.trials] == ["a", "b", "c"]
    for t in table.trials:
        assert t.setup_s == pytest.approx(0.5)
        assert t.iter_s == pytest.approx(CURVES[t.trial_id].iter_s)
        assert [r["score"] for r in t.results] == CURVES[t.trial_id].scores


def test_results_arrive_when_the_recorded_seconds_say(table):
    sim = replay.replay(table, fifo(), order=["a", "b", "c"])
    # a and b start at 10; c takes a's worker when a ends at 13.5
    assert arrivals(sim) == [
        ("a", 1, 11.5), ("a", 2, 12.5), ("b", 1, 12.6), ("a", 3, 13.5), ("c", 1, 14.4),
        ("b", 2, 14.7), ("c", 2, 14.8), ("c", 3, 15.2), ("b", 3, 16.8)]
    res = sim.to_results(label="fifo/random", strategy=fifo(), seed=0)
    ends = res.trials.sort_values("end_s")
    assert ends["replayed_from"].tolist() == ["a", "c", "b"]  # the finishing order
    assert ends["end_s"].tolist() == pytest.approx([13.5, 15.2, 16.8])
    assert ends["start_s"].tolist() == pytest.approx([10.0, 13.5, 10.0])
    assert set(res.trials["status"]) == {"COMPLETED"}
    assert res.freshness.source == "replay"
    assert res.freshness.describe() == "a replay in simulated time (not a real run)"


def test_one_worker_runs_the_trials_back_to_back(table):
    sim = replay.replay(table, fifo(concurrent=1), order=["c", "a", "b"])
    times = [t for _, _, t in arrivals(sim)]
    # c: 10 + 0.5 + 0.4k; a from 11.7; b from 15.2
    assert times == pytest.approx([10.9, 11.3, 11.7, 13.2, 14.2, 15.2, 17.8, 19.9, 22.0])


def test_the_time_budget_cuts_what_comes_after_it(table):
    sim = replay.replay(table, fifo(time_s=4.0), order=["a", "b", "c"])  # ends at 10 + 4
    assert arrivals(sim) == [("a", 1, 11.5), ("a", 2, 12.5), ("b", 1, 12.6), ("a", 3, 13.5)]
    res = sim.to_results(label="fifo/random", strategy=fifo(time_s=4.0), seed=0)
    by = res.trials.set_index("replayed_from")
    assert by.loc["a", "status"] == "COMPLETED"
    assert by.loc["b", "status"] == "UNFINISHED" and by.loc["b", "iterations"] == 1
    assert by.loc["c", "iterations"] == 0  # started at 13.5, its first result would be at 14.4
    assert sim.ended_s == pytest.approx(14.0)


def test_time_to_target_of_the_replayed_run(table):
    sim = replay.replay(table, fifo(), order=["a", "b", "c"])
    res = sim.to_results(label="fifo/random", strategy=fifo(), seed=0)
    # the best trial by score reaches 0.85 when b reports 0.9 (16.8 s); 0.35 when b reports
    # 0.5 (12.6 s)
    high = aggregate({"fifo": [res]}, report_metric="score", top_k=1, baseline="fifo",
                     target=0.85)
    assert high.runs[0].tts == pytest.approx(16.8)
    low = aggregate({"fifo": [res]}, report_metric="score", top_k=1, baseline="fifo",
                    target=0.35)
    assert low.runs[0].tts == pytest.approx(12.6)
    # top 2 by score: a and b, mean 0.35 at 12.6, 0.4 at 13.5, 0.45 when b reports 0.6
    two = aggregate({"fifo": [res]}, report_metric="score", top_k=2, baseline="fifo",
                    target=0.44)
    assert two.runs[0].tts == pytest.approx(14.7)  # b's 0.6 with a's 0.3: mean 0.45


def test_random_search_draws_each_recorded_config_once_in_a_seeded_order(table):
    orders = set()
    for seed in range(6):
        sim = replay.replay(table, fifo())
        drawn = [run.recorded.trial_id for run in sim.runs.values()]
        assert sorted(drawn) == ["a", "b", "c"]
        again = replay.replay(table, fifo(), seed=seed)
        assert [r.recorded.trial_id for r in again.runs.values()] == \
            [r.recorded.trial_id for r in replay.replay(table, fifo(), seed=seed).runs.values()]
        orders.add(tuple(r.recorded.trial_id for r in again.runs.values()))
    assert len(orders) > 1


def test_a_table_used_up_says_when(table):
    sim = replay.replay(table, fifo(time_s=100.0), order=["a", "b", "c"])
    assert sim.exhausted_s == pytest.approx(13.5)  # the last config was drawn when a ended
    res = sim.to_results(label="fifo/random", strategy=fifo(time_s=100.0), seed=0)
    assert res.meta["replay"]["exhausted_s"] == pytest.approx(13.5)


# synchronous HyperBand, max_t 3, reduction_factor 3: bracket 0 runs 2 trials to 3; bracket 1
# holds 3 trials that pause at iteration 1 until all three are there, and keeps the best
PAUSING = {
    "p": Curve(0.01, 8, [0.10, 0.20, 0.30], [1.0, 1.0, 1.0]),
    "q": Curve(0.02, 8, [0.20, 0.30, 0.40], [1.1, 1.1, 1.1]),
    "r": Curve(0.03, 8, [0.90, 0.95, 0.97], [0.3, 0.5, 0.5]),  # bracket 1's best
    "s": Curve(0.04, 8, [0.30, 0.35, 0.36], [0.7, 0.7, 0.7]),
    "u": Curve(0.05, 8, [0.10, 0.15, 0.16], [1.3, 1.3, 1.3]),
}


def test_hyperband_pauses_and_resumes_as_syne_tune_simulates_it():
    table = replay.load_table(make_table(PAUSING, max_t=3))
    strategy = replay.Strategy("hyperband/random", scheduler="hyperband", concurrent=5,
                               max_t=3, scheduler_options={"reduction_factor": 3})
    sim = replay.replay(table, strategy, order=list(PAUSING))
    runs = {run.recorded.trial_id: run for run in sim.runs.values()}
    # r, s and u share bracket 1: r (10.8) and s (11.2) report iteration 1 and pause; u is the
    # last to get there (11.8): the bracket is halved, u stops, s is stopped, r resumes
    for name in "rs":
        assert runs[name].pauses == [(pytest.approx(10.5 + PAUSING[name].iter_s[0]), 1)]
    assert runs["u"].pauses == [] and runs["u"].decisions == [(1, "STOP")]
    assert runs["r"].done == 3 and runs["s"].done == 1 and runs["u"].done == 1
    resume = runs["r"].resumes[0]
    assert resume["iteration"] == 1
    assert resume["offset_s"] == pytest.approx(0.3)  # the recorded second it does not redo
    # the last of the three reached iteration 1 at 10 + 0.5 + 1.3 = 11.8: r restarts then
    assert resume["time_s"] == pytest.approx(11.8)
    got = [(h["iteration"], h["time_s"]) for h in sim.history
           if h["trial_id"] == runs["r"].trial.trial_id]
    assert got == [(1, pytest.approx(10.8)), (2, pytest.approx(11.8 + 0.5 + 0.5)),
                   (3, pytest.approx(11.8 + 0.5 + 1.0))]
    res = sim.to_results(label="hb", strategy=strategy, seed=0)
    by = res.trials.set_index("replayed_from")
    assert by.loc["s", "status"] == "STOPPED" and by.loc["u", "status"] == "STOPPED"
    assert by.loc["p", "status"] == "COMPLETED" and by.loc["r", "status"] == "COMPLETED"
    assert res.meta["replay"]["pauses"] == 2


def test_workers_come_up_when_the_recordings_did(table):
    import dataclasses

    staggered = dataclasses.replace(table, ready_s=[0.0, 3.0])  # the 2nd worker 3 s late
    sim = replay.replay(staggered, fifo(), order=["a", "b", "c"])
    # a on the first worker from 10; b waits for the second, which comes up at 13, though a
    # ends at 13.5: b runs from 13 (16.1 ...), c takes a's worker at 13.5
    assert arrivals(sim) == [
        ("a", 1, 11.5), ("a", 2, 12.5), ("a", 3, 13.5), ("c", 1, 14.4), ("c", 2, 14.8),
        ("c", 3, 15.2), ("b", 1, 15.6), ("b", 2, 17.7), ("b", 3, 19.8)]


def test_a_hyperband_bracket_on_fewer_workers_than_members_still_gathers_at_its_rung():
    # as hpotk run now does (hpotk.schedulers.population): all five trials exist from the start,
    # two train at a time, and bracket 1 (r, s, u) meets at iteration 1, where two stop.
    # Before, the searcher held members back and no rung ever gathered: all ran to max_t.
    table = replay.load_table(make_table(PAUSING, max_t=3))
    strategy = replay.Strategy("hyperband/random", scheduler="hyperband", concurrent=2,
                               max_t=3, scheduler_options={"reduction_factor": 3})
    sim = replay.replay(table, strategy, order=list(PAUSING))
    assert sorted(run.done for run in sim.runs.values()) == [1, 1, 3, 3, 3]
    runs = {run.recorded.trial_id: run for run in sim.runs.values()}
    assert runs["r"].done == 3  # bracket 1's best goes on
    assert all(not r.resumes or r.resumes[0]["iteration"] >= 1 for r in sim.runs.values())
    busy = sorted([(h["time_s"] - h["time_this_iter_s"], 1) for h in sim.history]
                  + [(h["time_s"], -1) for h in sim.history])
    most, now = 0, 0
    for _, step in busy:
        now += step
        most = max(most, now)
    assert most <= 2
