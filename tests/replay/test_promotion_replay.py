"""Promotion-type ASHA (`asha_promotion`) replayed on a hand-made table: trials pause at rungs,
a paused one is promoted and resumes where it paused, the rest are stopped at the end; as the
real run of the same four configs does (tests/schedulers/test_promotion_e2e.py)."""

from __future__ import annotations

import pytest

from hpotk import replay
from hpotk.errors import ConfigError
from tests.replay.helpers import Curve, make_table

# the score climbs by lr each iteration; every iteration takes 1 s, every start 0.5 s
CURVES = {name: Curve(lr, 8, [lr * i for i in range(1, 5)], [1.0] * 4)
          for name, lr in {"a": 0.02, "b": 0.04, "c": 0.01, "d": 0.03}.items()}


@pytest.fixture
def table() -> replay.Table:
    return replay.load_table(make_table(CURVES, max_t=4))


def promotion(**options) -> replay.Strategy:
    return replay.Strategy("asha_promotion/random", scheduler="asha_promotion",
                           scheduler_options={"grace_period": 1, "reduction_factor": 2,
                                              **options},
                           concurrent=1, max_t=4, trials=4)


def test_a_paused_trial_is_promoted_and_resumes_where_it_paused(table):
    # one worker, eta 2, rungs at 1 and 2: a waits at 1 (alone); b is the best of 2 at 1, goes
    # on, waits at 2 (alone); c waits at 1; d, 2nd of 4 at 1, goes on to 2, where b is the
    # best of 2: d pauses and b is promoted, resumes at 2 and completes at 4
    sim = replay.replay(table, promotion(), order=["a", "b", "c", "d"])
    names = {run.trial.trial_id: run.recorded.trial_id for run in sim.runs.values()}
    assert [(names[h["trial_id"]], h["iteration"]) for h in sim.history] == [
        ("a", 1), ("b", 1), ("b", 2), ("c", 1), ("d", 1), ("d", 2), ("b", 3), ("b", 4)]
    assert sim.stopped_at() == {"a": 1, "b": 4, "c": 1, "d": 2}
    runs = {run.recorded.trial_id: run for run in sim.runs.values()}
    assert [it for _, it in runs["b"].pauses] == [2] and [it for _, it in runs["d"].pauses] == [2]
    assert [r["iteration"] for r in runs["b"].resumes] == [2]  # from its checkpoint, not from 0
    assert runs["b"].resumes[0]["time_s"] == pytest.approx(runs["d"].pauses[0][0])
    res = sim.to_results(label="asha_promotion/random", strategy=promotion(), seed=0)
    status = dict(zip(res.trials["replayed_from"], res.trials["status"], strict=True))
    assert status == {"a": "STOPPED", "b": "COMPLETED", "c": "STOPPED", "d": "STOPPED"}
    assert res.meta["replay"]["pauses"] == 4 and len(res.meta["replay"]["resumes"]) == 1


def test_two_workers_and_a_random_draw_finish_with_every_trial_ended(table):
    strategy = promotion()
    strategy.concurrent = 2
    for seed in range(3):
        sim = replay.replay(table, strategy, seed=seed)
        res = sim.to_results(label="asha_promotion/random", strategy=strategy, seed=seed)
        assert set(res.trials["status"]) <= {"COMPLETED", "STOPPED"}
        assert (res.trials["iterations"] >= 1).all()


def test_asha_with_type_promotion_names_the_scheduler_to_use(table):
    strategy = replay.Strategy("asha/random", scheduler="asha",
                               scheduler_options={"type": "promotion"}, concurrent=1, max_t=4)
    with pytest.raises(ConfigError, match="asha_promotion"):
        replay.replay(table, strategy)
