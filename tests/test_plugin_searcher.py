"""The plug-in searcher of tests/test_plugins.py, as a class and through a factory, passes the
shipped searcher suite: one fixture, as a plug-in author adds it."""

import pytest

from hpotk.testing.searchers import *  # noqa: F403  (the contract tests)
from hpotk.testing.searchers import SearcherCase
from tests.test_plugins import SEARCHERS


@pytest.fixture(params=sorted(SEARCHERS))
def searcher(request) -> SearcherCase:
    return SEARCHERS[request.param]
