"""Lineage reconstruction from hand-made lineage logs and from PBT driven without Ray."""

from __future__ import annotations

import json
import pickle
import random

import pytest

from hpotk import layout
from hpotk.pbt import lineage
from hpotk.schedulers import SchedulerContext, pbt
from hpotk.space import build as build_space

try:  # the harness that drives schedulers the way Tune's controller does, without Ray
    from hpotk.testing._schedule_harness import Harness, decay
except ImportError:  # before it moved into hpotk.testing
    from tests.schedulers.harness import Harness, decay


def rows(trial, iterations, lr, loss=None):
    return [{"trial_id": trial, "iteration": i, "loss": (loss or {}).get(i, 10.0 * trial.count("x") + i),
             "config/lr": lr} for i in iterations]


def exploit(target, target_iter, donor, donor_iter, new_lr, old_lr=None):
    return {"event": "exploit", "target": target, "target_iter": target_iter, "donor": donor,
            "donor_iter": donor_iter, "old_config": {"lr": old_lr}, "new_config": {"lr": new_lr}}


def test_a_chain_of_clones_follows_each_donor_back_to_the_start():
    history = (rows("A", range(1, 7), 1.0) + rows("B", [1, 2], 2.0) + rows("B", [3, 4, 5, 6], 1.2)
               + rows("C", range(1, 5), 3.0) + rows("C", [5, 6], 0.96))
    events = [exploit("B", 2, "A", 2, 1.2, 2.0), exploit("C", 4, "B", 4, 0.96, 3.0)]
    got = lineage.stitch(history, events, "C")
    assert got.iterations == [1, 2, 3, 4, 5, 6]
    assert [r["source"] for r in got.rows] == ["A", "A", "B", "B", "C", "C"]
    assert got.series("config/lr") == [1.0, 1.0, 1.2, 1.2, 0.96, 0.96]
    assert [(p["iteration"], p["donor"]) for p in got.perturbations] == [(3, "A"), (5, "B")]
    # B's own lineage stops at its donor A; A was never perturbed
    assert [r["source"] for r in lineage.stitch(history, events, "B").rows] == ["A"] * 2 + ["B"] * 4
    assert lineage.stitch(history, events, "A").perturbations == []


def test_a_trial_cloned_from_its_own_ancestor():
    # B copies A at 2; later A copies B at 4: A's weights went A -> B -> A
    history = (rows("A", range(1, 5), 1.0) + rows("B", [1, 2], 5.0) + rows("B", [3, 4, 5, 6], 0.8)
               + rows("A", [5, 6], 0.64))
    events = [exploit("B", 2, "A", 2, 0.8), exploit("A", 4, "B", 4, 0.64)]
    got = lineage.stitch(history, events, "A")
    assert [r["source"] for r in got.rows] == ["A", "A", "B", "B", "A", "A"]
    assert got.series("config/lr") == [1.0, 1.0, 0.8, 0.8, 0.64, 0.64]


def test_a_donor_segment_is_the_one_current_when_the_exploit_happened():
    # C copies B at 3 (B still has its own weights); only later does B copy A
    history = (rows("A", range(1, 7), 1.0) + rows("B", range(1, 6), 2.0) + rows("B", [6], 9.0)
               + rows("C", range(1, 4), 3.0) + rows("C", [4, 5, 6], 2.4))
    events = [exploit("C", 3, "B", 3, 2.4), exploit("B", 5, "A", 5, 9.0)]
    got = lineage.stitch(history, events, "C")
    assert [r["source"] for r in got.rows] == ["B", "B", "B", "C", "C", "C"]


def test_a_resume_in_the_middle_replays_rows_and_the_log_has_the_event_twice(tmp_path):
    # B copied A at 2, reported 3 and 4, the run was killed and resumed from B's checkpoint at
    # 3: iteration 4 is reported again, and the resumed scheduler logged the exploit again
    history = (rows("A", range(1, 7), 1.0) + rows("B", [1, 2], 2.0)
               + rows("B", [3, 4], 1.2, loss={4: 99.0}) + rows("B", [4, 5, 6], 1.2, loss={4: 7.0}))
    event = exploit("B", 2, "A", 2, 1.2)
    log = tmp_path / layout.LINEAGE_LOG
    log.write_text(json.dumps(event) + "\n" + json.dumps({**event, "time": 5}) + "\n" + '{"cut')
    events = layout.read_lineage_events(log)
    assert len(events) == 1
    got = lineage.stitch(history, events, "B")
    assert got.iterations == [1, 2, 3, 4, 5, 6]
    assert [r["source"] for r in got.rows] == ["A", "A", "B", "B", "B", "B"]
    assert got.rows[3]["loss"] == 7.0  # the replayed report replaces the one before the kill
    assert got.series("config/lr") == [1.0, 1.0, 1.2, 1.2, 1.2, 1.2]


def test_unknown_trial_is_a_clear_error():
    with pytest.raises(Exception, match="no results"):
        lineage.stitch(rows("A", [1], 1.0), [], "Z")


# --- the scheduler's log, driven by the harness ------------------------------------------------

SPACE = {"lr": {"type": "continuous", "min_value": 1e-4, "max_value": 1.0, "scaling": "log"}}


def make_pbt(tmp_path, seed=0, **options):
    ctx = SchedulerContext(space=build_space(SPACE, trials=4), metric="loss", mode="min", max_t=12,
                          trials=4, seed=seed)
    scheduler = pbt.build(ctx, perturbation_interval=2, quantile=0.5, **options)
    scheduler.lineage_path = str(tmp_path / layout.LINEAGE_LOG)
    return scheduler


class Recording(Harness):
    """The harness, keeping every reported result as a history row (as hpotk's log does)."""

    def __init__(self, *args, **kwargs):
        self.history = []
        super().__init__(*args, **kwargs)

    def _advance(self, trial):
        lr = trial.config["lr"]
        super()._advance(trial)
        sim = self.sims[trial.trial_id]
        if trial.last_result.get("training_iteration") == sim.iteration:
            self.history.append({"trial_id": trial.trial_id, "iteration": sim.iteration,
                                 "loss": trial.last_result["loss"], "config/lr": lr})


def run_pbt(tmp_path, seed=0, harness_seed=3):
    scheduler = make_pbt(tmp_path, seed)
    h = Recording(scheduler, [1e-4, 3e-4, 1e-2, 0.3], "min", max_t=12, concurrent=2,
                  seed=harness_seed).run()
    return h, layout.read_lineage_events(tmp_path / layout.LINEAGE_LOG)


def test_the_log_has_every_exploit_and_stitched_curves_are_continuous(tmp_path):
    h, events = run_pbt(tmp_path)
    assert len(events) == h.scheduler._num_perturbations > 0
    for e in events:
        assert e["new_config"]["lr"] != e["donor_config"]["lr"] or e["operations"]
    for trial in h.trials:
        got = lineage.stitch(h.history, events, trial.trial_id)
        assert got.iterations == list(range(1, 13))
        # the simulated weights are the loss: each iteration multiplies it by decay(lr) of the
        # lr that trained it, so a correctly stitched lineage is one continuous product
        loss, lrs = got.series("loss"), got.series("config/lr")
        expected = 10.0
        for value, lr in zip(loss, lrs, strict=True):
            expected *= decay(lr)
            assert value == pytest.approx(expected, rel=1e-9)


def test_same_seed_same_decisions_whatever_else_uses_random(tmp_path):
    _, first = run_pbt(tmp_path / "a", seed=7)
    _, again = run_pbt(tmp_path / "b", seed=7, harness_seed=11)  # others' random use differs
    _, other = run_pbt(tmp_path / "c", seed=8)
    strip = [layout.lineage_event_key(e) for e in first]
    assert strip == [layout.lineage_event_key(e) for e in again]
    assert strip != [layout.lineage_event_key(e) for e in other]


def test_the_scheduler_leaves_the_global_random_state_alone(tmp_path):
    random.seed(123)
    expected = random.Random(123).random()
    make_pbt(tmp_path)
    assert random.random() == expected


def test_a_restored_scheduler_does_not_log_a_transition_twice(tmp_path):
    scheduler = make_pbt(tmp_path)
    event = exploit("t1", 4, "t0", 4, 0.5)
    scheduler.record(dict(event))
    restored = pickle.loads(pickle.dumps(scheduler))  # what Tune's resume does
    restored.record(dict(event))
    restored.record(exploit("t1", 6, "t0", 6, 0.4))
    lines = (tmp_path / layout.LINEAGE_LOG).read_text().splitlines()
    assert len(lines) == 2
