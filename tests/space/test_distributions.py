"""Distribution specs (Azure ML's ten, SageMaker ranges, compact strings), sampled through Ray."""

from __future__ import annotations

import math
import statistics

import pytest

from hpotk.space import Fixed, build_distributions

from .sampling import draws, sample_configs

N = 3000

AZURE = {
    "keep": {"type": "uniform", "min_value": 0.1, "max_value": 0.2},
    "lr": {"type": "loguniform", "min_value": math.log(1e-4), "max_value": math.log(1e-1)},
    "shift": {"type": "normal", "mu": 10, "sigma": 3},
    "scale": {"type": "lognormal", "mu": 0, "sigma": 0.5},
    "frac": {"type": "quniform", "min_value": 0, "max_value": 1, "q": 0.25},
    "width": {"type": "quniform", "min_value": 16, "max_value": 128, "q": 16},
    "hidden": {"type": "qloguniform", "min_value": 0, "max_value": math.log(100), "q": 5},
    "offset": {"type": "qnormal", "mu": 0, "sigma": 2, "q": 0.5},
    "steps": {"type": "qlognormal", "mu": 2, "sigma": 0.5, "q": 1},
    "seed": {"type": "randint", "upper": 5},
    "act": {"type": "choice", "values": ["relu", "tanh", "gelu"]},
}


@pytest.fixture(scope="module")
def azure_samples():
    space = build_distributions(AZURE)
    return space, draws(space, N, seed=1)


def column(samples, name):
    return samples[1][name]


def test_every_azure_distribution_through_basic_variant_generator():
    space = build_distributions(AZURE)
    configs = sample_configs(space, 200, seed=1)
    ints = {"width", "hidden", "steps", "seed"}
    for name, p in space.params.items():
        xs = [c[name] for c in configs]
        assert all(isinstance(x, int) for x in xs) if name in ints else all(
            isinstance(x, str if name == "act" else float) for x in xs), name
        if p.low is not None:
            assert all(p.low <= x <= p.high for x in xs), name
        if p.step is not None:
            assert all(math.isclose(x / p.step, round(x / p.step)) for x in xs), name


def test_uniform(azure_samples):
    xs = column(azure_samples, "keep")
    assert all(0.1 <= x <= 0.2 for x in xs)
    assert statistics.mean(xs) == pytest.approx(0.15, abs=0.005)


def test_loguniform_takes_exponents(azure_samples):
    p = azure_samples[0].params["lr"]
    assert (p.low, p.high) == (pytest.approx(1e-4), pytest.approx(0.1)) and p.scale == "log"
    logs = [math.log10(x) for x in column(azure_samples, "lr")]
    assert all(-4 - 1e-9 <= v <= -1 + 1e-9 for v in logs)
    assert statistics.mean(logs) == pytest.approx(-2.5, abs=0.06)  # uniform in log space
    assert sum(v < -3 for v in logs) / N == pytest.approx(1 / 3, abs=0.04)


def test_normal_and_lognormal(azure_samples):
    xs = column(azure_samples, "shift")
    assert statistics.mean(xs) == pytest.approx(10, abs=0.2)
    assert statistics.stdev(xs) == pytest.approx(3, abs=0.2)
    logs = [math.log(x) for x in column(azure_samples, "scale")]
    assert statistics.mean(logs) == pytest.approx(0, abs=0.04)
    assert statistics.stdev(logs) == pytest.approx(0.5, abs=0.04)


def test_quniform(azure_samples):
    assert set(column(azure_samples, "frac")) == {0.0, 0.25, 0.5, 0.75, 1.0}
    widths = column(azure_samples, "width")
    assert set(widths) == {16, 32, 48, 64, 80, 96, 112, 128}
    assert all(isinstance(w, int) for w in widths)


def test_qloguniform(azure_samples):
    xs = column(azure_samples, "hidden")
    assert set(xs) <= set(range(5, 101, 5)) and {5, 100} <= set(xs)
    assert sum(x <= 10 for x in xs) > sum(x >= 90 for x in xs) * 3  # denser at small values


def test_qnormal_and_qlognormal(azure_samples):
    xs = column(azure_samples, "offset")
    assert all(x * 2 == round(x * 2) for x in xs) and len(set(xs)) > 10
    assert statistics.mean(xs) == pytest.approx(0, abs=0.15)
    steps = column(azure_samples, "steps")
    assert all(isinstance(s, int) and s >= 0 for s in steps)
    assert statistics.median(steps) == pytest.approx(math.exp(2), abs=1)


def test_randint_and_choice(azure_samples):
    seeds = column(azure_samples, "seed")
    assert set(seeds) == {0, 1, 2, 3, 4} and all(isinstance(s, int) for s in seeds)
    acts = column(azure_samples, "act")
    assert set(acts) == {"relu", "tanh", "gelu"}
    assert min(acts.count(a) for a in set(acts)) > N / 3 * 0.85


def test_compact_strings_mean_the_same_as_mappings():
    space = build_distributions({
        "lr": "loguniform(-9.21, -2.30)",
        "bs": "choice(16, 32, 64)",
        "opt": "choice(['adam', 'sgd'])",
        "frac": "quniform(0, 1, q=0.1)",
        "wd": "continuous(1e-4, 0.1, scaling='log')",
        "k": "randint(3)",
        "m": "normal(mu=0, sigma=1)",
        "activation": "relu",
    })
    assert space.params["lr"].low == pytest.approx(math.exp(-9.21))
    assert space.params["bs"].choices == (16, 32, 64) and space.params["bs"].kind == "int"
    assert space.params["opt"].choices == ("adam", "sgd")
    assert space.params["frac"].step == 0.1 and space.params["frac"].high == 1
    assert (space.params["wd"].scale, space.params["wd"].low) == ("log", 1e-4)
    assert (space.params["k"].low, space.params["k"].high) == (0, 2)
    assert (space.params["m"].mu, space.params["m"].sigma) == (0, 1)
    assert space.fixed["activation"] == Fixed("activation", "relu", "fixed value", None, "model")
    assert space.params["lr"].origin == "loguniform(-9.21, -2.30)"


def test_loguniform_that_looks_like_values_gets_a_note():
    space = build_distributions({"lr": "loguniform(1e-4, 1e-1)"})
    assert space.params["lr"].low == pytest.approx(math.exp(1e-4))
    assert any("natural-log exponents" in n for n in space.notes)


SAGEMAKER = {
    "layers": {"type": "integer", "min_value": 1, "max_value": 10, "scaling": "linear"},
    "units": {"type": "integer", "min_value": 1, "max_value": 1000, "scaling": "Logarithmic"},
    "dropout": {"type": "continuous", "min_value": 0.0, "max_value": 0.5, "scaling": "linear"},
    "lr": {"type": "continuous", "min_value": 1e-4, "max_value": 0.1, "scaling": "log"},
    "beta": {"type": "continuous", "min_value": 0.5, "max_value": 0.999,
             "scaling": "ReverseLogarithmic"},
    "batch-size": {"type": "categorical", "values": [32, 64, 128, 256, 512]},
}


def test_sagemaker_scalings_sampled():
    space = build_distributions(SAGEMAKER)
    samples = draws(space, N, seed=2)
    assert set(samples["layers"]) == set(range(1, 11))
    units = samples["units"]
    assert min(units) == 1 and 900 <= max(units) <= 1000
    # ints drawn log-uniformly over [0.5, 1000.5] and rounded
    expected = math.log(31.5 / 0.5) / math.log(1000.5 / 0.5)
    assert sum(u <= 31 for u in units) / N == pytest.approx(expected, abs=0.03)
    lr = [math.log10(x) for x in samples["lr"]]
    assert sum(v < -2.5 for v in lr) / N == pytest.approx(0.5, abs=0.04)
    beta = samples["beta"]
    assert all(0.5 <= b <= 0.999 for b in beta)
    # reverse log: 1 - beta is log-uniform on [0.001, 0.5]; P(beta > 0.99) = ln 10 / ln 500
    assert sum(b > 0.99 for b in beta) / N == pytest.approx(math.log(10) / math.log(500), abs=0.04)
    assert set(samples["batch-size"]) == {32, 64, 128, 256, 512}
    for cfg in sample_configs(space, 100, seed=2):  # the same through the variant generator
        assert isinstance(cfg["layers"], int) and isinstance(cfg["units"], int)
        assert 0.5 <= cfg["beta"] <= 0.999 and 1e-4 <= cfg["lr"] <= 0.1


@pytest.mark.parametrize("low, high, scale", [
    (1e-4, 1e-1, "log"), (1, 100, "log"), (1, 50, "linear"), (0, 100, "linear"),
    (-1, 1, "linear"),
])
def test_sagemaker_auto_scaling(low, high, scale):
    space = build_distributions({"x": {"type": "continuous", "min_value": low, "max_value": high}})
    assert space.params["x"].scale == scale
    assert any(f"scaling auto -> {scale}" in n for n in space.notes)


def test_fixed_values_role_and_default():
    space = build_distributions({
        "epochs": 5, "layers": [64, 64], "name": None,
        "fanout": {"type": "fixed", "value": [10, 15]},
        "width": {"type": "randint", "upper": 10, "role": "algorithm", "default": 4},
        "lr": {"type": "uniform", "min_value": 0.1, "max_value": 0.2},
        "act": {"type": "choice", "values": ["a", "b"], "default": "b"},
    })
    assert space.fixed_values() == {"epochs": 5, "layers": [64, 64], "name": None,
                                    "fanout": [10, 15]}
    assert space.params["width"].role == "algorithm" and space.params["width"].default == 4
    assert space.params["lr"].role == "algorithm"  # default_role("lr")
    assert space.params["act"].default == "b"
    assert space.defaults()["width"] == 4


def test_degenerate_quantised_ranges_become_fixed():
    space = build_distributions({"a": "quniform(3, 5, 4)", "b": "randint(1)"})
    assert space.fixed["a"].value == 4 and space.fixed["b"].value == 0
    assert "quniform" in space.fixed["a"].reason
