"""`Space.to_ray()`: each kind of Param sampled through Ray agrees with what the Param means."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest

from hpotk.space import Param, Space, build, build_tiered

from .sampling import draws, sample_configs

SEED_EXAMPLE = Path(__file__).parent / "data" / "neptune_seed_example.json"


def one(p: Param, n: int = 2000, seed: int = 0) -> list:
    return draws(Space(params={p.name: p}), n, seed)[p.name]


def test_discrete_samples_match_grid_values():
    params = [
        Param("a", "int", "linear", low=3, high=30),  # Ray's qrandint(3, 30, 1) never gives 30
        Param("b", "int", "linear", low=1, high=10, step=2),  # grid from low: 1, 3, ..., 9
        Param("c", "float", "linear", low=0.05, high=0.5, step=0.1),
        Param("d", "int", "log", low=1, high=64),
        Param("e", "int", "log", low=10, high=1000, step=10),
        Param("f", "categorical", "choice", choices=([10, 30], [15, 30])),
        Param("g", "bool", "choice", choices=(True, False)),
    ]
    for p in params:
        got = one(p, 3000)
        if p.kind == "categorical":  # list values: compare as tuples
            assert {tuple(v) for v in got} == {(10, 30), (15, 30)}
        else:
            assert set(got) == set(p.grid_values()), p.name
    space = Space(params={p.name: p for p in params})
    for cfg in sample_configs(space, 200):  # what the random searcher hands a trainable
        for p in params:
            assert cfg[p.name] in p.grid_values(), p.name
            assert type(cfg[p.name]) is type(p.grid_values()[0]), p.name


def test_int_log_is_log_uniform():
    xs = one(Param("d", "int", "log", low=1, high=10000), 3000)
    expected = math.log(100.5 / 0.5) / math.log(10000.5 / 0.5)  # log-uniform, then rounded
    assert sum(x <= 100 for x in xs) / len(xs) == pytest.approx(expected, abs=0.03)


def test_int_normal_and_lognormal_are_ints():
    p = Param("n", "int", "normal", mu=5, sigma=2)
    xs = one(p, 2000)
    assert all(isinstance(c["n"], int) for c in sample_configs(Space(params={"n": p}), 50))
    assert sum(xs) / len(xs) == pytest.approx(5, abs=0.2)
    ys = one(Param("ln", "float", "lognormal", mu=1, sigma=0.3, step=0.5), 2000)
    assert all(y * 2 == round(y * 2) for y in ys) and min(ys) > 0


def test_reverse_log_is_dense_near_one():
    xs = one(Param("m", "float", "reverse_log", low=0.0, high=0.99), 3000)
    assert all(0.0 <= x <= 0.99 for x in xs)
    # 1 - x log-uniform on [0.01, 1]: P(x > 0.9) = P(1 - x < 0.1) = 1/2
    assert sum(x > 0.9 for x in xs) / len(xs) == pytest.approx(0.5, abs=0.04)


def test_seeded_sampling_is_reproducible_and_domains_pickle():
    space = build(json.loads(SEED_EXAMPLE.read_text()), trials=100)
    space.params["m"] = Param("m", "float", "reverse_log", low=0.5, high=0.99)
    first, again = sample_configs(space, 20, seed=7), sample_configs(space, 20, seed=7)
    assert first == again
    assert sample_configs(space, 20, seed=8) != first
    restored = pickle.loads(pickle.dumps(space.to_ray()))
    cfg = sample_configs(Space(params=dict(space.params), fixed=dict(space.fixed)), 1)[0]
    assert set(cfg) == set(restored)


def test_seed_example_samples_are_within_the_declared_space():
    space = build(json.loads(SEED_EXAMPLE.read_text()), trials=100, graph_nodes=2.5e6)
    for cfg in sample_configs(space, 300, seed=3):
        assert cfg["num-hidden"] in (16, 32, 64, 128)
        assert 0.001 <= cfg["lr"] <= 0.01 and 0.0 <= cfg["dropout"] <= 0.5
        assert cfg["batch-size"] in (128, 256, 512, 1024, 2048, 4096)
        assert cfg["fanout"] in ([10, 30], [15, 30])
        assert cfg["num-layer"] in (1, 2, 3) and cfg["num-bases"] in (0, 2, 4, 6, 8)
        assert 1 <= cfg["num-epochs"] <= 12  # [3, 30] / 2.5
        assert cfg["layer-norm"] in (True, False)
        assert (cfg["l2norm"], cfg["low-mem"]) == (0.0, True)


def test_tiered_linear_float_and_int_bounds_are_inclusive():
    space = build_tiered({"1-tier-param": [
        {"param": "n", "range": [3, 5], "type": "int"},
        {"param": "x", "range": [0.0, 1.0], "type": "float"},
    ]}, trials=1)
    cfgs = sample_configs(space, 500)
    assert {c["n"] for c in cfgs} == {3, 4, 5}
    assert all(0.0 <= c["x"] <= 1.0 for c in cfgs) and not math.isclose(cfgs[0]["x"], cfgs[1]["x"])
