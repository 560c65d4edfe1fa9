"""The unit-interval mapping every hpotk searcher shares, and the sobol searcher's guarantees."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from hpotk.errors import ConfigError
from hpotk.searchers import SearchContext, make
from hpotk.searchers.unit import contains, from_unit, snap
from hpotk.space.param import Param, Space

LINEAR_INT = Param("n", "int", "linear", low=1, high=4)
QUANTISED = Param("d", "float", "linear", low=0.0, high=0.5, step=0.1)
LOG = Param("lr", "float", "log", low=1e-4, high=1e-1)
LOG_INT = Param("h", "int", "log", low=8, high=512)
REVERSE = Param("b", "float", "reverse_log", low=0.9, high=0.9999)
NORMAL = Param("w", "float", "normal", mu=1.0, sigma=2.0)
QLOGNORMAL = Param("s", "float", "lognormal", mu=0.0, sigma=0.5, step=0.01)
CHOICE = Param("act", "categorical", "choice", choices=("relu", "tanh", "gelu"))


def test_linear_discrete_cells_are_equal():
    values = [from_unit(LINEAR_INT, (i + 0.5) / 400) for i in range(400)]
    assert Counter(values) == {1: 100, 2: 100, 3: 100, 4: 100}
    assert all(type(v) is int for v in values)
    assert from_unit(LINEAR_INT, 0.0) == 1 and from_unit(LINEAR_INT, 1.0) == 4


def test_quantised_values_on_the_grid_from_low():
    values = {from_unit(QUANTISED, i / 99) for i in range(100)}
    assert values == {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}


def test_log_scale_maps_linearly_in_log_space():
    assert from_unit(LOG, 0.0) == pytest.approx(1e-4)
    assert from_unit(LOG, 0.5) == pytest.approx(math.sqrt(1e-4 * 1e-1))
    assert from_unit(LOG, 1.0) == pytest.approx(1e-1)
    assert from_unit(LOG_INT, 0.5) == 64 and type(from_unit(LOG_INT, 0.5)) is int


def test_reverse_log_is_dense_near_one():
    lo, mid, hi = (from_unit(REVERSE, u) for u in (0.0, 0.5, 1.0))
    assert lo == pytest.approx(0.9) and hi == pytest.approx(0.9999)
    assert 1 - mid == pytest.approx(math.sqrt(0.1 * 0.0001))  # geometric midpoint of 1 - x


def test_normal_goes_through_the_inverse_cdf():
    assert from_unit(NORMAL, 0.5) == pytest.approx(1.0)
    assert from_unit(NORMAL, 0.8413447) == pytest.approx(3.0, abs=1e-4)  # mu + sigma
    assert math.isfinite(from_unit(NORMAL, 0.0)) and math.isfinite(from_unit(NORMAL, 1.0))
    value = from_unit(QLOGNORMAL, 0.7)
    assert value > 0 and contains(QLOGNORMAL, value)


def test_choice_cells_and_snap():
    assert [from_unit(CHOICE, u) for u in (0.0, 0.34, 0.99, 1.0)] == \
        ["relu", "tanh", "gelu", "gelu"]
    assert snap(QUANTISED, 0.26) == 0.3 and snap(QUANTISED, 7.0) == 0.5
    assert snap(LINEAR_INT, -3) == 1 and snap(LOG, 5.0) == 1e-1


def test_contains_checks_type_bounds_and_grid():
    assert contains(LINEAR_INT, 3) and not contains(LINEAR_INT, 3.0)
    assert not contains(LINEAR_INT, True) and not contains(LINEAR_INT, 5)
    assert contains(QUANTISED, 0.3) and not contains(QUANTISED, 0.35)
    assert not contains(CHOICE, "sigmoid")
    assert not contains(Param("bn", "bool", "choice", choices=(True, False)), 1)


def space() -> Space:
    params = [LINEAR_INT, LOG, CHOICE, Param("batch", "int", "choice", choices=(16, 32, 64, 128))]
    return Space(params={p.name: p for p in params})


def sobol_configs(seed: int, n: int, **options) -> list[dict]:
    ctx = SearchContext(space=space(), metric="m", mode="min", seed=seed, trials=n)
    searcher = make("sobol", ctx, options).search_alg
    return [searcher.suggest(f"t{i}") for i in range(n)]


def test_sobol_is_reproducible_and_seeded():
    assert sobol_configs(3, 8) == sobol_configs(3, 8)
    assert sobol_configs(3, 8) != sobol_configs(4, 8)
    # unscrambled: the plain sequence, whatever the seed
    assert sobol_configs(3, 8, scramble=False) == sobol_configs(4, 8, scramble=False)


def test_sobol_stratifies_every_dimension():
    """The first 2^k points of a (scrambled) Sobol sequence put the same number of points in
    each of 2^k equal cells of every coordinate: 16 points -> each of 4 choices exactly 4 times,
    and each quarter of the log range holds 4."""
    configs = sobol_configs(7, 16)
    assert set(Counter(c["batch"] for c in configs).values()) == {4}
    assert set(Counter(c["n"] for c in configs).values()) == {4}
    quarters = Counter(min(int(4 * math.log(c["lr"] / 1e-4) / math.log(1e3)), 3) for c in configs)
    assert set(quarters.values()) == {4}


def test_sobol_options_checked():
    ctx = SearchContext(space=space(), metric="m", mode="min")
    with pytest.raises(ConfigError, match="scramble: expected bool"):
        make("sobol", ctx, {"scramble": "yes"})
