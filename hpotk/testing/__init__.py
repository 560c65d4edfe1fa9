"""Conformance suites for searchers and schedulers, built-in or plug-in (as ``optuna.testing``).

- `hpotk.testing.searchers`: the searcher contract, driven by `hpotk.testing.searchers.Driver`
  (the calls Tune's controller makes). A searcher joins with one fixture, ``searcher``.
- `hpotk.testing.schedulers`: the scheduler contract, driven by
  `hpotk.testing.schedulers.Harness` (a stand-in for Tune's controller over simulated learning
  curves). A scheduler joins with one fixture, ``scheduler``.

Import a suite's tests into a test module with ``from hpotk.testing.searchers import *`` and
define the fixture; see each module's docstring. Needs pytest (hpotk's ``dev`` extra).
"""

import pytest

# plain asserts in the suites explain their failures as a test module's do
pytest.register_assert_rewrite("hpotk.testing.searchers", "hpotk.testing.schedulers",
                               "hpotk.testing._search_driver", "hpotk.testing._schedule_harness")
