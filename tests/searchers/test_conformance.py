"""hpotk's own searchers pass the shipped contract suite (`hpotk.testing.searchers`), each by one
entry in ``CASES``: the options it is built with, the space it can search, whether it learns."""

from __future__ import annotations

import pytest

from hpotk.searchers import SEARCHERS
from hpotk.testing.searchers import *  # noqa: F403  (the contract tests)
from hpotk.testing.searchers import SearcherCase

CASES = {
    "random": SearcherCase("random"),
    "grid": SearcherCase("grid", space="discrete", trials=36),
    "sobol": SearcherCase("sobol"),
    "tpe": SearcherCase("tpe", {"n_initial_points": 4}, learns=True),
    "anneal": SearcherCase("anneal", learns=True),
    # small acquisition budget: the suite checks the contract, bo_latency/quality check the rest
    "bo": SearcherCase("bo", {"n_initial_points": 4, "acq_opt_max_evals": 30, "refit_every": 3},
                       learns=True, min_max_trials=12),
    "optuna_tpe": SearcherCase("optuna_tpe", {"n_startup_trials": 4}, learns=True),
    # a genetic algorithm moves too slowly for the min/max check's few trials (test_optuna checks
    # that its later generations are better)
    "nsga2": SearcherCase("nsga2", {"population_size": 4}),
    "optuna_gp": SearcherCase("optuna_gp", {"n_startup_trials": 4}, learns=True,
                              min_max_trials=12),
}


@pytest.fixture(params=sorted(CASES))
def searcher(request) -> SearcherCase:
    return CASES[request.param]


def test_every_registered_searcher_is_in_the_suite():
    assert set(SEARCHERS) == set(CASES)
