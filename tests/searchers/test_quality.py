"""Model-based searchers beat random search on a fixed mixed int/float function.

The function is Branin with its second coordinate restricted to integers (min 0.3979 over the
reals at (-pi, 12.275), (pi, 2.275), (3pi, 2.475); 0.4323 on the integer grid).
Each searcher gets the same number of evaluations, one after the other; we compare the median
over 5 seeds of the best value found. Everything is seeded, so the test is deterministic.
"""

from __future__ import annotations

import math
import statistics

import pytest

from hpotk.searchers import SearchContext, make
from hpotk.space.param import Param, Space
from hpotk.testing.searchers import Driver

EVALUATIONS = 30
SEEDS = range(5)
OPTIONS = {"random": {}, "tpe": {"n_initial_points": 10}, "bo": {}}


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def space() -> Space:
    params = [Param("x1", "float", "linear", low=-5.0, high=10.0),
              Param("x2", "int", "linear", low=0, high=15)]
    return Space(params={p.name: p for p in params})


def best_found(name: str, seed: int) -> float:
    ctx = SearchContext(space=space(), metric="branin", mode="min", seed=seed,
                        trials=EVALUATIONS)
    driver = Driver(make(name, ctx, dict(OPTIONS[name])))
    best = math.inf
    for _ in range(EVALUATIONS):
        trial_id, config = driver.suggest()
        assert isinstance(config["x2"], int)
        value = branin(config["x1"], config["x2"])
        best = min(best, value)
        driver.complete(trial_id, {"branin": value})
    return best


@pytest.fixture(scope="module")
def medians() -> dict[str, float]:
    return {name: statistics.median(best_found(name, seed) for seed in SEEDS)
            for name in OPTIONS}


@pytest.mark.parametrize("name", ["tpe", "bo"])
def test_beats_random_search_in_the_median(name, medians):
    # by a margin: at most half random search's median distance above 0
    assert medians[name] < 0.5 * medians["random"], medians
