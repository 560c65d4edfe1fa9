"""Promotion-type ASHA (`hpotk.schedulers.promotion`) on hand-made scenarios: a fake Tune
controller, trials whose losses are known, and an independent account of the rule (Li et al.
2020, Algorithm 2) checked at every start and every promotion."""

from __future__ import annotations

import math
import types
from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from hpotk import schedulers
from hpotk.errors import ConfigError
from hpotk.schedulers import SchedulerContext
from hpotk.space.param import Param, Space
from tests.schedulers.test_population import FakeController, FakeTrial

ETA, MAX_T, LEVELS = 3, 9, (1, 3)  # grace_period 1: rungs at 1 and 3, completes at 9
# each trial's loss is base * (1 - 0.05 * iteration): the ranking by base holds at every rung
BASES = {"A": 5.0, "B": 3.0, "C": 4.0, "D": 1.0, "E": 6.0, "F": 2.0, "G": 7.0, "H": 8.0,
         "I": 0.5}
LR = Param("lr", "float", "log", low=1e-3, high=1e-1, role="algorithm")


def ctx(trials: int = len(BASES), concurrent: int | None = 1, max_t: int = MAX_T) -> SchedulerContext:
    return SchedulerContext(space=Space(params={"lr": LR}), metric="loss", mode="min",
                            max_t=max_t, trials=trials, concurrent=concurrent)


def loss(trial_id: str, iteration: int) -> float:
    return BASES[trial_id] * (1 - 0.05 * iteration)


class Controller(FakeController):
    """The fake controller of the population tests, with what promotion also calls: a stop that
    tells the scheduler as Tune's does, and the search algorithm (None: every trial exists)."""

    def __init__(self, scheduler: Any, log: list) -> None:
        super().__init__()
        self.scheduler, self.log = scheduler, log
        self.search_alg: Any = None

    def stop_trial(self, trial: FakeTrial) -> None:
        if trial.status in (Trial.PAUSED, Trial.PENDING):
            self.scheduler.on_trial_remove(self, trial)
        else:
            self.scheduler.on_trial_complete(self, trial, trial.run_metadata.last_result)
        self.log.append(("stop", trial.trial_id, _iteration(trial)))
        trial.status = Trial.TERMINATED


def _iteration(trial: FakeTrial) -> int:
    return trial.run_metadata.last_result.get("training_iteration", 0)


class Tune:
    """Tune's loop, as far as a scheduler sees it: resources for every trial (only the
    scheduler's slots hold trials back), one result per running trial per step."""

    def __init__(self, scheduler: Any, trial_ids: list[str]):
        self.scheduler, self.log = scheduler, []
        self.controller = Controller(scheduler, self.log)
        scheduler.set_search_properties("loss", "min")
        for trial_id in trial_ids:
            trial = FakeTrial(trial_id)
            self.controller.trials.append(trial)  # Tune appends, calls on_trial_add, files it
            scheduler.on_trial_add(self.controller, trial)
            self.controller.filed.add(trial_id)
        self.most_training = 0

    @property
    def trials(self) -> list[FakeTrial]:
        return self.controller.trials

    def running(self) -> list[FakeTrial]:
        return [t for t in self.trials if t.status == Trial.RUNNING]

    def fill(self) -> None:
        while True:
            chosen = self.scheduler.choose_trial_to_run(self.controller)
            if chosen is None:
                return
            assert chosen.status in (Trial.PAUSED, Trial.PENDING), chosen
            self.log.append(("resume", chosen.trial_id, _iteration(chosen))
                            if _iteration(chosen) else ("start", chosen.trial_id))
            chosen.status = Trial.RUNNING
            self.most_training = max(self.most_training, len(self.running()))

    def run(self) -> Tune:
        for _ in range(1000):
            self.fill()
            if not self.running():
                return self
            for trial in self.running():
                self._advance(trial)
        raise AssertionError("the experiment never ended")

    def _advance(self, trial: FakeTrial) -> None:
        iteration = _iteration(trial) + 1
        result = {"training_iteration": iteration, "loss": loss(trial.trial_id, iteration)}
        if iteration >= MAX_T:  # Ray's stopper ends it without asking the scheduler
            decision = TrialScheduler.STOP
        else:
            decision = self.scheduler.on_trial_result(self.controller, trial, result)
        trial.run_metadata.last_result = result
        if decision == TrialScheduler.PAUSE:
            self.log.append(("pause", trial.trial_id, iteration))
            trial.status = Trial.PAUSED  # Tune checkpoints it first
        elif decision == TrialScheduler.STOP:
            self.controller.stop_trial(trial)
        else:
            assert decision == TrialScheduler.CONTINUE, decision
            if iteration in LEVELS:  # at a rung, and promoted at once
                self.log.append(("pass", trial.trial_id, iteration))


def check_the_rule(log: list) -> dict[str, Any]:
    """Replays the log with the rule written out plainly: at each rung the trials recorded
    (first arrival first), those promoted from it; a new trial may start only when no paused
    trial is promotable, and a promotion takes the best one of the highest rung that has one.
    Returns the rung records."""
    reached: dict[str, int] = {}
    paused: dict[str, int] = {}  # trial -> iteration it waits at
    rungs: dict[int, list[str]] = {level: [] for level in LEVELS}
    promoted: dict[int, set[str]] = {level: set() for level in LEVELS}

    def promotable() -> list[str]:
        for level in reversed(LEVELS):
            top = sorted(rungs[level], key=lambda t: loss(t, level))[:len(rungs[level]) // ETA]
            waiting = [t for t in top if t not in promoted[level] and paused.get(t) == level]
            if waiting:
                return waiting
        return []

    def arrive(trial_id: str, upto: int) -> None:
        for level in LEVELS:
            if reached.get(trial_id, 0) < level <= upto:
                rungs[level].append(trial_id)
                if level < upto:
                    promoted[level].add(trial_id)  # it went on from there without a pause
        reached[trial_id] = upto

    for event in log:
        kind, trial_id = event[0], event[1]
        if kind == "start":
            assert not promotable(), f"{trial_id} started while {promotable()} waited"
        elif kind == "resume":
            expected = promotable()
            assert expected and expected[0] == trial_id, (event, expected)
            promoted[paused.pop(trial_id)].add(trial_id)
        elif kind == "pass":  # as if it paused at the rung and its free worker promoted it
            arrive(trial_id, event[2])
            paused[trial_id] = event[2]
            expected = promotable()
            assert expected and expected[0] == trial_id, (event, expected)
            promoted[paused.pop(trial_id)].add(trial_id)
        elif kind in ("pause", "stop"):
            arrive(trial_id, event[2])
            if kind == "pause":
                assert event[2] in LEVELS
                paused[trial_id] = event[2]
            else:
                paused.pop(trial_id, None)
    return rungs


def test_one_worker_pauses_at_rungs_and_promotes_before_starting_anything_new():
    tune = Tune(schedulers.make("asha_promotion", ctx(concurrent=1), {"reduction_factor": 3}),
                list(BASES)).run()
    assert tune.log == [
        ("start", "A"), ("pause", "A", 1),  # alone at rung 1: floor(1/3) = 0 may go on
        ("start", "B"), ("pause", "B", 1),
        ("start", "C"), ("pause", "C", 1),  # 3 at rung 1: the best (B) is promoted, not C
        ("resume", "B", 1), ("pause", "B", 3),
        ("start", "D"),  # nothing promotable: a new trial; it is the best of 4 at rung 1: its
        ("pass", "D", 1), ("pause", "D", 3),  # own worker promotes it at once, without a pause
        ("start", "E"), ("pause", "E", 1),
        ("start", "F"), ("pass", "F", 1),  # 2nd of 6 at rung 1
        ("pause", "F", 3),  # at rung 3 D is the best of 3, waiting: F's worker promotes D
        ("resume", "D", 3), ("stop", "D", 9),  # D reaches max_t: it completes
        ("start", "G"), ("pause", "G", 1),
        ("start", "H"), ("pause", "H", 1),
        ("start", "I"), ("pass", "I", 1), ("pass", "I", 3),  # the best at both rungs
        ("stop", "I", 9),
        # nothing trains, nothing is left to start or promote: the paused trials are stopped
        ("stop", "A", 1), ("stop", "B", 3), ("stop", "C", 1), ("stop", "E", 1),
        ("stop", "F", 3), ("stop", "G", 1), ("stop", "H", 1)]
    rungs = check_the_rule(tune.log)
    assert len(rungs[1]) == 9 and len(rungs[3]) == 4
    assert tune.most_training == 1
    assert all(t.status == Trial.TERMINATED for t in tune.trials)


@pytest.mark.parametrize("concurrent, completed", [(2, {"I"}), (3, {"D", "I"})])
def test_several_workers_keep_to_the_rule_and_to_their_slots(concurrent, completed):
    scheduler = schedulers.make("asha_promotion", ctx(concurrent=concurrent))
    assert scheduler.slots == concurrent
    tune = Tune(scheduler, list(BASES)).run()
    check_the_rule(tune.log)  # every start and every promotion, as the rule says
    assert tune.most_training == concurrent
    ended = {e[1]: e[2] for e in tune.log if e[0] == "stop"}
    assert {t for t, it in ended.items() if it == MAX_T} == completed
    if concurrent == 3:  # I, at rung 1, waits: its worker promotes D from the higher rung
        at = tune.log.index(("pause", "I", 1))
        assert tune.log[at + 1:at + 3] == [("resume", "D", 3), ("resume", "I", 1)]


def test_as_many_slots_as_trials_holds_nothing_back():
    # trials <= concurrent: no population gate; new trials stay PENDING and Tune starts them
    scheduler = schedulers.make("asha_promotion", ctx(trials=3, concurrent=3))
    assert scheduler.slots is None
    tune = Tune(scheduler, ["A", "B", "C"])
    assert [t.status for t in tune.trials] == [Trial.PENDING] * 3
    tune.run()
    check_the_rule(tune.log)
    # all three reach rung 1 in one step, in this order: B is promoted once C has arrived;
    # alone at rung 3 it waits; the end
    assert tune.log == [
        ("start", "A"), ("start", "B"), ("start", "C"),
        ("pause", "A", 1), ("pause", "B", 1), ("pause", "C", 1), ("resume", "B", 1),
        ("pause", "B", 3), ("stop", "A", 1), ("stop", "B", 3), ("stop", "C", 1)]


def test_the_end_waits_while_the_searcher_may_still_propose():
    scheduler = schedulers.make("asha_promotion", ctx(trials=3, concurrent=1))
    tune = Tune(scheduler, ["A", "B"])
    finished = [False]
    tune.controller.search_alg = types.SimpleNamespace(is_finished=lambda: finished[0])
    tune.run()
    assert [t.status for t in tune.trials] == [Trial.PAUSED] * 2  # the third may come
    finished[0] = True
    assert scheduler.choose_trial_to_run(tune.controller) is None
    assert [t.status for t in tune.trials] == [Trial.TERMINATED] * 2


def test_a_promoted_trial_tune_requeues_after_a_failure_goes_first():
    scheduler = schedulers.make("asha_promotion", ctx(trials=4, concurrent=1))
    tune = Tune(scheduler, ["A", "B", "C", "D"])
    for _ in range(3):  # A, B, C each reach rung 1 and pause
        tune.fill()
        tune._advance(tune.running()[0])
    assert scheduler.choose_trial_to_run(tune.controller).trial_id == "B"  # promoted
    # Tune had not started it yet: asked again, the scheduler names it again
    assert scheduler.choose_trial_to_run(tune.controller).trial_id == "B"
    b = tune.trials[1]
    b.status = Trial.RUNNING
    tune._advance(b)  # iteration 2, then the worker is lost: Tune re-queues B, PENDING
    b.status = Trial.PENDING
    scheduler.on_trial_add(tune.controller, b)
    assert b.status == Trial.PAUSED  # the population gate holds it, as any member
    assert scheduler.choose_trial_to_run(tune.controller) is b  # before the new trial D


@pytest.mark.parametrize("losses, promoted", [([math.nan, 3.0, 4.0], "B"),
                                               ([math.nan, math.nan, math.nan], None)])
def test_a_diverged_trial_is_never_promoted(losses, promoted):
    scheduler = schedulers.make("asha_promotion", ctx(trials=3, concurrent=1))
    tune = Tune(scheduler, ["A", "B", "C"])
    for value in losses:  # each reaches rung 1 in turn and pauses there
        tune.fill()
        trial = tune.running()[0]
        result = {"training_iteration": 1, "loss": value}
        assert scheduler.on_trial_result(tune.controller, trial, result) == TrialScheduler.PAUSE
        trial.run_metadata.last_result = result
        trial.status = Trial.PAUSED
    # 3 at rung 1: one may go on, never A, whose NaN sorts last and is never promoted
    chosen = scheduler.choose_trial_to_run(tune.controller)
    assert (chosen.trial_id if chosen else None) == promoted
    if promoted is None:  # nothing left to do: the end
        assert [t.status for t in tune.trials] == [Trial.TERMINATED] * 3


# --- options, plan ----------------------------------------------------------------------------


@pytest.mark.parametrize("options, path, words", [
    ({"grace_period": 0}, "strategy.scheduler.grace_period", ">= 1"),
    ({"reduction_factor": 1}, "strategy.scheduler.reduction_factor", "> 1"),
    ({"reduction_factor": "3"}, "strategy.scheduler.reduction_factor", "expected int or float"),
    ({"grace_period": 20}, "strategy.scheduler.max_t", ">= grace_period"),
    ({"stop_last_trials": False}, "strategy.scheduler.stop_last_trials", "unknown option"),
    ({"type": "promotion"}, "strategy.scheduler.type", "unknown option"),
])
def test_invalid_options_name_the_option(options, path, words):
    with pytest.raises(ConfigError, match=words) as error:
        schedulers.make("asha_promotion", ctx(), options)
    assert error.value.path == path


def test_asha_type_promotion_points_to_asha_promotion():
    with pytest.raises(ConfigError, match="asha_promotion") as error:
        schedulers.make("asha", ctx(), {"type": "promotion"})
    assert error.value.path == "strategy.scheduler.type"
    with pytest.raises(ConfigError, match="'stopping'.*'promotion'.*got 'halving'"):
        schedulers.describe("asha", ctx(), {"type": "halving"})
    built = schedulers.make("asha", ctx(), {"type": "stopping", "reduction_factor": 3})
    assert type(built).__name__ == "AsyncHyperBandScheduler"


def test_the_plan_counts_the_trials_each_rung_promotes():
    info = schedulers.describe("asha_promotion", ctx(trials=9, concurrent=2),
                               {"reduction_factor": 3})
    assert info["rungs"] == [{"iterations": 1, "expected_trials": 9},
                             {"iterations": 3, "expected_trials": 3},
                             {"iterations": 9, "expected_trials": 1}]
    assert "pauses at each rung" in info["summary"] and "warnings" not in info
    assert info["population"] == ("a population of 9, 2 training at a time; members pause at "
                                  "each rung until promoted and the others train in their place")
    few = schedulers.describe("asha_promotion", ctx(trials=8), {"reduction_factor": 3})
    assert few["warnings"] == [
        "with 8 trials no trial reaches max_t=9: one is promoted through every rung only from "
        "9 trials (raise budget.trials, or grace_period, or lower reduction_factor)"]
    fractional = schedulers.describe("asha_promotion", ctx(trials=4, max_t=4),
                                     {"reduction_factor": 1.5})
    assert [r["iterations"] for r in fractional["rungs"]] == [1, 2, 3, 4]
    assert [r["expected_trials"] for r in fractional["rungs"]] == [4, 2, 1, 0]


def test_it_holds_a_population_and_needs_checkpoints(tmp_path):
    from hpotk import experiment, runner

    assert schedulers.holds_population("asha_promotion")
    assert schedulers.checkpoint_every("asha_promotion", ctx()) == 0
    doc = {"name": "promo", "trainable": "mlp-digits",
           "metric": {"name": "val_acc", "mode": "max"},
           "space": {"lr": {"type": "continuous", "min_value": 0.001, "max_value": 0.1}},
           "strategy": {"scheduler": {"name": "asha_promotion", "reduction_factor": 3},
                        "searcher": "random"},
           "results": str(tmp_path), "budget": {"trials": 9, "concurrent": 2, "max_t": 9}}
    plan = runner.make_plan(experiment.validate(doc))
    # the searcher may create every trial: paused ones stay live
    assert plan.search_concurrency == 9 and plan.scheduler_plan.scheduler.slots == 2
    assert plan.scheduler_plan.needs_checkpoints
    assert "scheduler asha_promotion: promotion-type ASHA" in plan.text()
    assert "rung at 3 iterations: ~3 trials" in plan.text()
