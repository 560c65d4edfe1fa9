"""The contract every hpotk scheduler keeps (STYLE.md §5, Syne Tune's scheduler contract test).

A scheduler joins the suite by one entry in ``ENTRIES``: the options it is built with and what
it is expected to do to a clearly bad trial. Each is driven through `tests.schedulers.harness`
(Ray's TuneController call pattern) over simulated learning curves in min and max mode.
"""

from __future__ import annotations

import pickle
import types
from dataclasses import dataclass, field

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from hpotk import schedulers
from hpotk.schedulers import SCHEDULERS, ScheduleContext
from hpotk.space.param import Param, Space
from tests.schedulers.harness import START_LOSS, Harness, metric_of


@dataclass
class Entry:
    options: dict = field(default_factory=dict)
    stops_bad_trial: bool = True  # an early-stopping scheduler: the bad trial stops before max_t
    perturbs: bool = False  # PBT: the bad trial takes a better trial's state and config instead
    restorable: bool = False  # save()/restore() carry its state (Ray's HyperBand/PBT have none)


ENTRIES = {
    "fifo": Entry(stops_bad_trial=False),
    "asha": Entry({"grace_period": 1, "reduction_factor": 3}, restorable=True),
    "ahb": Entry({"brackets": 2}, restorable=True),
    "hyperband": Entry({"reduction_factor": 3}),
    "pbt": Entry({"perturbation_interval": 2, "quantile": 0.25}, stops_bad_trial=False,
                 perturbs=True),
    "median": Entry({"delay_evaluation": 1}, restorable=True),
    "bandit": Entry({"slack_factor": 0.2}, restorable=True),
    "bandit-amount": Entry({"slack_amount": 0.2}, restorable=True),
    "truncation": Entry({"truncation_percentage": 25}, restorable=True),
}
MAX_T = 9
# lr of each trial; the last one (lr=1e-4) never learns: its loss stays at START_LOSS.
GOOD = [1e-2, 2e-2, 5e-3, 1.5e-2, 8e-3, 3e-2, 4e-3]
BAD = 1e-4
LRS = GOOD + [BAD]


def scheduler_name(key: str) -> str:
    return key.split("-")[0]


def context(mode: str, trials: int = len(LRS)) -> ScheduleContext:
    lr = Param("lr", "float", "log", low=1e-5, high=1.0, role="algorithm")
    return ScheduleContext(space=Space(params={"lr": lr}), metric=metric_of(mode), mode=mode,
                           max_t=MAX_T, trials=trials)


def build(key: str, mode: str) -> TrialScheduler:
    return schedulers.make(scheduler_name(key), context(mode), dict(ENTRIES[key].options))


@pytest.fixture(params=sorted(ENTRIES))
def key(request) -> str:
    return request.param


@pytest.fixture(params=["min", "max"])
def mode(request) -> str:
    return request.param


def test_every_registered_scheduler_is_in_the_suite():
    assert {scheduler_name(k) for k in ENTRIES} == set(SCHEDULERS.names())


def test_is_a_ray_trial_scheduler(key, mode):
    scheduler = build(key, mode)
    assert isinstance(scheduler, TrialScheduler)
    assert scheduler.set_search_properties(metric_of(mode), mode)
    assert isinstance(scheduler.debug_string(), str)


def test_needs_metric_and_mode_before_trials(key):
    scheduler = build(key, "min")  # metric/mode never given to it
    trial = Trial("sim", config={"lr": 0.01}, trial_id="t0", stub=True)
    controller = types.SimpleNamespace(search_alg=None)
    if key == "fifo":  # FIFO ignores the metric by design
        scheduler.on_trial_add(controller, trial)
        return
    with pytest.raises(ValueError, match="metric"):
        scheduler.on_trial_add(controller, trial)


def test_bad_trial(key, mode):
    entry = ENTRIES[key]
    harness = Harness(build(key, mode), LRS, mode, MAX_T).run()
    assert all(t.status == Trial.TERMINATED for t in harness.trials), harness.statuses()
    bad = harness.sims[harness.trials[-1].trial_id]
    if entry.stops_bad_trial:
        assert len(LRS) - 1 in harness.stopped_early()
        assert bad.iteration < MAX_T
    else:
        assert harness.stopped_early() == set()
    if entry.perturbs:
        assert bad.trial.config["lr"] != BAD and "perturbed" in bad.trial.experiment_tag
        assert bad.loss < START_LOSS / 10  # it continued from a good trial's checkpoint


def test_errored_and_nan_trials(key, mode):
    # trial 2 reports NaN throughout; trial 0 (the best) fails at its 2nd iteration
    harness = Harness(build(key, mode), LRS, mode, MAX_T, nan=(2,), errors={0: 2}).run()
    assert harness.trials[0].status == Trial.ERROR
    assert all(t.status in (Trial.TERMINATED, Trial.ERROR) for t in harness.trials)
    if ENTRIES[key].stops_bad_trial:
        assert len(LRS) - 1 in harness.stopped_early()


def _outcome(harness: Harness) -> tuple:
    return (harness.statuses(), [(s.iteration, s.decisions) for s in harness.sims.values()])


def test_pickle_round_trip(key, mode):
    harness = Harness(build(key, mode), LRS, mode, MAX_T).run(until_results=20)
    clone = pickle.loads(pickle.dumps(harness.scheduler))
    assert type(clone) is type(harness.scheduler)
    assert isinstance(clone.debug_string(), str)
    if not ENTRIES[key].restorable:
        return  # Ray's HyperBand/PBT key their state by Trial object: a copy cannot go on
    reference = _outcome(Harness(build(key, mode), LRS, mode, MAX_T).run())
    harness.scheduler = clone
    assert _outcome(harness.run()) == reference


def test_save_restore_mid_experiment(key, mode, tmp_path):
    scheduler = build(key, mode)
    if not ENTRIES[key].restorable:  # Tune never saves schedulers; these say so plainly
        with pytest.raises(NotImplementedError):
            scheduler.save(str(tmp_path / "scheduler.pkl"))
        return
    harness = Harness(scheduler, LRS, mode, MAX_T).run(until_results=20)
    scheduler.save(str(tmp_path / "scheduler.pkl"))
    fresh = build(key, mode)
    fresh.restore(str(tmp_path / "scheduler.pkl"))
    reference = _outcome(Harness(build(key, mode), LRS, mode, MAX_T).run())
    harness.scheduler = fresh
    assert _outcome(harness.run()) == reference


def test_requires_checkpointing():
    assert {n for n in SCHEDULERS.names() if schedulers.requires_checkpointing(n)} == {
        "pbt", "hyperband"}
