"""The population gate (`hpotk.schedulers.population`): every member exists from the start,
paused, and the scheduler hands Tune one only while fewer than ``slots`` train."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler

from hpotk.schedulers.population import Population


@dataclass
class FakeMetadata:
    last_result: dict = field(default_factory=dict)


@dataclass
class FakeTrial:
    trial_id: str
    status: str = Trial.PENDING
    run_metadata: FakeMetadata = field(default_factory=FakeMetadata)

    def set_status(self, status: str) -> None:
        self.status = status


class FakeController:
    """Tune's controller as a scheduler sees it: trials are filed under their status after
    ``on_trial_add``; ``_set_trial_status`` moves a filed trial (and refuses an unfiled one, as
    Ray's assertion does)."""

    def __init__(self) -> None:
        self.trials: list[FakeTrial] = []
        self.filed: set[str] = set()
        self.moved: list[tuple[str, str]] = []

    def get_trials(self) -> list[FakeTrial]:
        return self.trials

    def _set_trial_status(self, trial: FakeTrial, status: str) -> None:
        assert trial.trial_id in self.filed, (trial, trial.status)
        self.moved.append((trial.trial_id, status))
        trial.status = status


class Inner(FIFOScheduler):
    """A wrapped scheduler whose own choice the test sets (PBT's least-trained member,
    HyperBand's promoted trial, or None)."""

    choice: Any = None

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        return self.choice


class Gated(Population, Inner):
    pass


def _population(n: int, slots: int | None) -> tuple[Gated, FakeController]:
    scheduler, controller = Gated(), FakeController()
    scheduler.slots = slots
    for i in range(n):
        trial = FakeTrial(f"t{i}")
        controller.trials.append(trial)  # Tune appends it, calls on_trial_add, then files it
        scheduler.on_trial_add(controller, trial)
        controller.filed.add(trial.trial_id)
    return scheduler, controller


def _start(controller: FakeController, scheduler: Gated) -> Any:
    chosen = scheduler.choose_trial_to_run(controller)
    if chosen is not None:
        chosen.status = Trial.RUNNING  # what Tune does once the actor is up
    return chosen


def test_members_join_paused_and_at_most_slots_train():
    scheduler, controller = _population(6, slots=2)
    assert [t.status for t in controller.trials] == [Trial.PAUSED] * 6
    first, second = _start(controller, scheduler), _start(controller, scheduler)
    assert (first.trial_id, second.trial_id) == ("t0", "t1")  # never-run members, in order
    assert scheduler.choose_trial_to_run(controller) is None  # two train: no third
    first.status = Trial.PAUSED  # paused at a perturbation point, having trained
    first.run_metadata.last_result = {"training_iteration": 2}
    assert _start(controller, scheduler).trial_id == "t2"  # not t0: it has trained
    second.status = Trial.PAUSED
    second.run_metadata.last_result = {"training_iteration": 2}
    controller.trials[3].status = Trial.PENDING  # being started: it holds a slot too
    assert scheduler.choose_trial_to_run(controller) is None


def test_the_wrapped_schedulers_choice_of_a_paused_trial_comes_first():
    scheduler, controller = _population(3, slots=1)
    trained = controller.trials[2]
    trained.run_metadata.last_result = {"training_iteration": 3}
    scheduler.choice = trained  # e.g. PBT's least-trained member, HyperBand's promoted one
    assert scheduler.choose_trial_to_run(controller) is trained
    scheduler.choice = controller.trials[1]
    controller.trials[1].status = Trial.PENDING  # its choice is being started already
    assert scheduler.choose_trial_to_run(controller) is None  # and holds the one slot


@pytest.mark.parametrize("slots", [None, 0])
def test_without_slots_the_scheduler_is_as_it_was(slots):
    # a scheduler unpickled from an older release has no slots: no member is held back
    scheduler, controller = _population(3, slots=slots)
    assert [t.status for t in controller.trials] == [Trial.PENDING] * 3
    scheduler.choice = controller.trials[0]
    assert scheduler.choose_trial_to_run(controller).trial_id == "t0"


def test_a_member_tune_requeues_after_a_failure_is_moved_by_the_controller():
    # Ray's _requeue_trial files the trial as PENDING, then calls on_trial_add again: setting
    # the status on the trial alone would leave Tune's sets inconsistent (the driver crashed)
    scheduler, controller = _population(3, slots=1)
    assert controller.moved == []  # new members were not filed yet: their own status was set
    failed = controller.trials[1]
    failed.status = Trial.PENDING
    scheduler.on_trial_add(controller, failed)
    assert controller.moved == [("t1", Trial.PAUSED)] and failed.status == Trial.PAUSED
