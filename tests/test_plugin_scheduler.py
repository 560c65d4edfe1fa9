"""The plug-in scheduler of tests/test_plugins.py, as a class and through a factory, passes the
shipped scheduler suite: one fixture, as a plug-in author adds it."""

import pytest

from hpotk.testing.schedulers import *  # noqa: F403  (the contract tests)
from hpotk.testing.schedulers import SchedulerCase
from tests.test_plugins import SCHEDULERS


@pytest.fixture(params=sorted(SCHEDULERS))
def scheduler(request) -> SchedulerCase:
    return SCHEDULERS[request.param]
