"""tpe and anneal: Param -> hyperopt translation, and ModelArts' options doing what they say."""

from __future__ import annotations

import math
import statistics

import pytest

from hpotk.errors import ConfigError
from hpotk.searchers import SearchContext, make
from hpotk.searchers.hyperopt_base import from_hyperopt, hyperopt_expression
from hpotk.space.param import Param, Space


def test_translation_back_to_param_values():
    units = Param("units", "int", "linear", low=16, high=128, step=16)
    assert from_hyperopt(units, 2.0) == 48 and from_hyperopt(units, 99.0) == 128
    act = Param("act", "categorical", "choice", choices=("relu", "tanh"))
    assert from_hyperopt(act, 1) == "tanh"
    beta = Param("b", "float", "reverse_log", low=0.9, high=0.999)
    assert from_hyperopt(beta, 0.01) == pytest.approx(0.99)
    drop = Param("d", "float", "linear", low=0.0, high=0.5, step=0.1)
    assert from_hyperopt(drop, 2.4) == 0.2  # grid index 2 of 0, 0.1, ..., 0.5
    assert hyperopt_expression(units).name == "float"  # hp.quniform over the grid index


def space() -> Space:
    params = [Param("x", "float", "linear", low=0.0, high=1.0),
              Param("act", "categorical", "choice", choices=("relu", "tanh"))]
    return Space(params={p.name: p for p in params})


def xs(name: str, n: int, **options) -> list[float]:
    """x of ``n`` suggestions, minimising f = x."""
    ctx = SearchContext(space=space(), metric="f", mode="min", seed=1, trials=n)
    searcher = make(name, ctx, options).search_alg
    out = []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"f": config["x"]})
        out.append(config["x"])
    return out


def test_tpe_n_initial_points_is_the_random_start():
    # until n_initial_points results are in, TPE is random search; after that it models
    early_model = statistics.mean(xs("tpe", 20, n_initial_points=3)[10:])
    still_random = statistics.mean(xs("tpe", 20, n_initial_points=20)[10:])
    assert early_model < 0.4 < still_random


def test_tpe_options_reach_hyperopt():
    ctx = SearchContext(space=space(), metric="f", mode="min")
    searcher = make("tpe", ctx, {"n_initial_points": 7, "gamma": 0.4}).search_alg
    assert searcher.algorithm_options == {"n_startup_jobs": 7, "gamma": 0.4,
                                          "n_EI_candidates": 24}


def test_anneal_shrink_coef_narrows_the_search():
    wide = xs("anneal", 30, shrink_coef=0.0)[15:]
    narrow = xs("anneal", 30, shrink_coef=2.0)[15:]
    assert statistics.pstdev(narrow) < statistics.pstdev(wide)


@pytest.mark.parametrize("name,options,message", [
    ("tpe", {"gamma": 1.5}, "gamma: must be in \\(0, 1\\)"),
    ("tpe", {"n_initial_points": -1}, "n_initial_points: must be >= 0"),
    ("tpe", {"gamma": "a quarter"}, "gamma: expected int or float"),
    ("anneal", {"avg_best_idx": 0.5}, "avg_best_idx: must be >= 1"),
    ("anneal", {"shrink_coef": -1}, "shrink_coef: must be >= 0"),
    ("anneal", {"gamma": 0.2}, "gamma: unknown option"),
])
def test_bad_options(name, options, message):
    ctx = SearchContext(space=space(), metric="f", mode="min")
    with pytest.raises(ConfigError, match=message):
        make(name, ctx, options)


def test_anneal_starts_from_good_trials():
    late = xs("anneal", 30, avg_best_idx=1.0)[15:]
    assert statistics.median(late) < 0.15
    assert all(math.isfinite(x) for x in late)
