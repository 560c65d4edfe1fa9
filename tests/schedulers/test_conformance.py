"""hpotk's own schedulers pass the shipped contract suite (`hpotk.testing.schedulers`), each by
one entry in ``CASES``: the options it is built with and what it does to a clearly bad trial."""

from __future__ import annotations

import pytest

from hpotk import schedulers
from hpotk.schedulers import SCHEDULERS
from hpotk.testing.schedulers import *  # noqa: F403  (the contract tests)
from hpotk.testing.schedulers import SchedulerCase

CASES = {
    "fifo": SchedulerCase("fifo", stops_bad_trial=False, needs_metric=False),
    "asha": SchedulerCase("asha", {"grace_period": 1, "reduction_factor": 3}, restorable=True),
    "asha_promotion": SchedulerCase("asha_promotion", {"grace_period": 1, "reduction_factor": 3},
                                    restorable=True),
    "moasha": SchedulerCase("moasha", {"grace_period": 1, "reduction_factor": 3}, restorable=True),
    "moasha-hypervolume": SchedulerCase("moasha", {"reduction_factor": 3,
                                                   "tie_break": "hypervolume"}, restorable=True),
    "ahb": SchedulerCase("ahb", {"brackets": 2}, restorable=True),
    "hyperband": SchedulerCase("hyperband", {"reduction_factor": 3}),
    "pbt": SchedulerCase("pbt", {"perturbation_interval": 2, "quantile": 0.25},
                         stops_bad_trial=False, perturbs=True),
    "median": SchedulerCase("median", {"delay_evaluation": 1}, restorable=True),
    "bandit": SchedulerCase("bandit", {"slack_factor": 0.2}, restorable=True),
    "bandit-amount": SchedulerCase("bandit", {"slack_amount": 0.2}, restorable=True),
    "truncation": SchedulerCase("truncation", {"truncation_percentage": 25}, restorable=True),
}


@pytest.fixture(params=sorted(CASES))
def scheduler(request) -> SchedulerCase:
    return CASES[request.param]


def test_every_registered_scheduler_is_in_the_suite():
    assert {case.name for case in CASES.values()} == set(SCHEDULERS.names())


def test_requires_checkpointing():
    assert {n for n in SCHEDULERS.names() if schedulers.requires_checkpointing(n)} == {
        "pbt", "hyperband", "asha_promotion"}
