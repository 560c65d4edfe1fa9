"""The contract every hpotk scheduler keeps, built-in or plug-in (as Syne Tune runs one contract
test over every scheduler).

A scheduler joins the suite with one fixture, ``scheduler``, that returns a `SchedulerCase`: its
name (a registered one, or a plug-in ``"module:factory"``), the options it is built with, and
what it is expected to do to a clearly bad trial. In a test module::

    import pytest
    from hpotk.testing.schedulers import *  # noqa: F403  (the contract tests)
    from hpotk.testing.schedulers import SchedulerCase

    @pytest.fixture
    def scheduler() -> SchedulerCase:
        return SchedulerCase("mypkg.sched:make", options={"grace": 2}, restorable=True)

Each scheduler is driven through `Harness` (Ray's TuneController call pattern) over simulated
learning curves, in min and max mode: seven trials that learn and one that never does. Only the
public contract (Ray's TrialScheduler API) is tested. A scheduler that takes several objectives
(its module says ``MULTI_OBJECTIVE = True``) also runs with two, as hpotk's runner gives them.
"""

from __future__ import annotations

import pickle
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from hpotk import schedulers
from hpotk.schedulers import SchedulerContext
from hpotk.space.param import Param, Space
from hpotk.testing._schedule_harness import START_LOSS, Harness, SimTrial, decay, metric_of

__all__ = [
    "Harness", "SchedulerCase", "SimTrial", "decay", "metric_of", "mode",
    "test_is_a_ray_trial_scheduler", "test_needs_metric_and_mode_before_trials",
    "test_bad_trial", "test_errored_and_nan_trials", "test_pickle_round_trip",
    "test_save_restore_mid_experiment", "test_several_objectives",
]


@dataclass
class SchedulerCase:
    """One scheduler as the suite builds it.

    Attributes:
        name: a registered scheduler name or a plug-in reference ``"module:factory"``.
        options: the ``strategy.scheduler`` options it is built with.
        stops_bad_trial: an early-stopping scheduler: the bad trial stops before max_t.
        perturbs: PBT-like: the bad trial takes a better trial's state and config instead.
        restorable: ``save``/``restore`` carry its state (else they raise NotImplementedError,
            as Ray's HyperBand and PBT do: Tune never saves schedulers).
        needs_metric: it refuses trials before it knows metric and mode (FIFO ignores them).
        multi_objective: it takes several objectives; None: as a registered scheduler's module
            says (``MULTI_OBJECTIVE``), False for a plug-in.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    stops_bad_trial: bool = True
    perturbs: bool = False
    restorable: bool = False
    needs_metric: bool = True
    multi_objective: bool | None = None

    def takes_several_objectives(self) -> bool:
        if self.multi_objective is not None:
            return self.multi_objective
        if schedulers.SCHEDULERS.is_plugin(self.name):
            return False
        return bool(getattr(schedulers.SCHEDULERS.module_of(self.name), "MULTI_OBJECTIVE", False))


MAX_T = 9
# lr of each trial; the last one (lr=1e-4) never learns: its loss stays at START_LOSS.
GOOD = [1e-2, 2e-2, 5e-3, 1.5e-2, 8e-3, 3e-2, 4e-3]
BAD = 1e-4
LRS = GOOD + [BAD]


def context(mode: str, trials: int = len(LRS),
            objectives: list[tuple[str, str]] | None = None) -> SchedulerContext:
    lr = Param("lr", "float", "log", low=1e-5, high=1.0, role="algorithm")
    return SchedulerContext(space=Space(params={"lr": lr}), metric=metric_of(mode), mode=mode,
                           max_t=MAX_T, trials=trials, objectives=list(objectives or []))


def build(case: SchedulerCase, mode: str) -> TrialScheduler:
    return schedulers.make(case.name, context(mode), dict(case.options))


@pytest.fixture(params=["min", "max"])
def mode(request) -> str:
    return request.param


def _outcome(harness: Harness) -> tuple:
    return (harness.statuses(), [(s.iteration, s.decisions) for s in harness.sims.values()])


# ---------------------------------------------------------------------------------------------
# The contract


def test_is_a_ray_trial_scheduler(scheduler, mode):
    built = build(scheduler, mode)
    assert isinstance(built, TrialScheduler)
    assert built.set_search_properties(metric_of(mode), mode)
    assert isinstance(built.debug_string(), str)


def test_needs_metric_and_mode_before_trials(scheduler):
    built = build(scheduler, "min")  # metric/mode never given to it
    trial = Trial("sim", config={"lr": 0.01}, trial_id="t0", stub=True)
    controller = types.SimpleNamespace(search_alg=None)
    if not scheduler.needs_metric:
        built.on_trial_add(controller, trial)
        return
    with pytest.raises(ValueError, match="metric"):
        built.on_trial_add(controller, trial)


def test_bad_trial(scheduler, mode):
    harness = Harness(build(scheduler, mode), LRS, mode, MAX_T).run()
    assert all(t.status == Trial.TERMINATED for t in harness.trials), harness.statuses()
    bad = harness.sims[harness.trials[-1].trial_id]
    if scheduler.stops_bad_trial:
        assert len(LRS) - 1 in harness.stopped_early()
        assert bad.iteration < MAX_T
    else:
        assert harness.stopped_early() == set()
    if scheduler.perturbs:
        assert bad.trial.config["lr"] != BAD and "perturbed" in bad.trial.experiment_tag
        assert bad.loss < START_LOSS / 10  # it continued from a good trial's checkpoint


def test_errored_and_nan_trials(scheduler, mode):
    # trial 2 reports NaN throughout; trial 0 (the best) fails at its 2nd iteration
    harness = Harness(build(scheduler, mode), LRS, mode, MAX_T, nan=(2,), errors={0: 2}).run()
    assert harness.trials[0].status == Trial.ERROR
    assert all(t.status in (Trial.TERMINATED, Trial.ERROR) for t in harness.trials)
    if scheduler.stops_bad_trial:
        assert len(LRS) - 1 in harness.stopped_early()


def test_pickle_round_trip(scheduler, mode):
    harness = Harness(build(scheduler, mode), LRS, mode, MAX_T).run(until_results=20)
    clone = pickle.loads(pickle.dumps(harness.scheduler))
    assert type(clone) is type(harness.scheduler)
    assert isinstance(clone.debug_string(), str)
    if not scheduler.restorable:
        return  # Ray's HyperBand/PBT key their state by Trial object: a copy cannot go on
    reference = _outcome(Harness(build(scheduler, mode), LRS, mode, MAX_T).run())
    harness.scheduler = clone
    assert _outcome(harness.run()) == reference


def test_save_restore_mid_experiment(scheduler, mode, tmp_path):
    built = build(scheduler, mode)
    if not scheduler.restorable:  # Tune never saves schedulers; these say so plainly
        with pytest.raises(NotImplementedError):
            built.save(str(tmp_path / "scheduler.pkl"))
        return
    harness = Harness(built, LRS, mode, MAX_T).run(until_results=20)
    built.save(str(tmp_path / "scheduler.pkl"))
    fresh = build(scheduler, mode)
    fresh.restore(str(tmp_path / "scheduler.pkl"))
    reference = _outcome(Harness(build(scheduler, mode), LRS, mode, MAX_T).run())
    harness.scheduler = fresh
    assert _outcome(harness.run()) == reference


class _TwoObjectives:
    """The scheduler as Tune drives it with two objectives: Tune's metric and mode unset, and
    each result carrying the second objective, ``lr`` (the trial's, maximised). The bad trial has
    the smallest lr, so every other trial dominates it."""

    def __init__(self, scheduler: TrialScheduler):
        self.scheduler = scheduler

    def __getattr__(self, name: str) -> Any:
        return getattr(self.scheduler, name)

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return self.scheduler.set_search_properties(None, None, **spec)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        return self.scheduler.on_trial_result(tune_controller, trial,
                                              {**result, "lr": trial.config["lr"]})

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        self.scheduler.on_trial_complete(tune_controller, trial,
                                         {**result, "lr": trial.config["lr"]})


def test_several_objectives(scheduler, mode):
    if not scheduler.takes_several_objectives():
        pytest.skip(f"{scheduler.name} takes one objective")
    ctx = context(mode, objectives=[(metric_of(mode), mode), ("lr", "max")])
    # clean, then with trial 2 reporting NaN throughout and trial 0 failing at its 2nd iteration
    for faults in ({}, {"nan": (2,), "errors": {0: 2}}):
        built = schedulers.make(scheduler.name, ctx, dict(scheduler.options))
        harness = Harness(_TwoObjectives(built), LRS, mode, MAX_T, **faults).run()
        assert all(t.status in (Trial.TERMINATED, Trial.ERROR) for t in harness.trials)
        if scheduler.stops_bad_trial:
            assert len(LRS) - 1 in harness.stopped_early(), harness.statuses()
        elif not faults:
            assert harness.stopped_early() == set()
