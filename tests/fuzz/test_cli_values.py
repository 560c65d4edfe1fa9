"""Fuzzed ``--set`` values and ``hpotk data`` parameters: exit 0, or exit 2 with one line naming
a key path; never a traceback."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpotk.experiment import Experiment
from tests.fuzz.harness import FUZZ, KEY_TEXT, check_outcome, paths

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
SCHEMA = {k for k in Experiment.model_fields if k != "source"}

# YAML scalars and fragments that parse into every type, or do not parse at all.
YAML_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "~", "null", "true", "no", "[]", "{}", "[1, 2", "{a: 1", "[[[[1]]]]",
                     ".nan", ".inf", "-.inf", "1e999", "-1", "0", "2.5", "0x10", "1_000",
                     "!!python/object/apply:os.system ['true']", "!!binary aGVsbG8=",
                     "&a [*a]", "*undefined", "'unterminated", '"\\x"', "a: b: c", "- 1\n- 2",
                     "2026-01-01", "asha/tpe", "nope/random", "{name: bandit}", "é日本",
                     "9" * 400, "1" + "0" * 30, "[" * 200 + "]" * 200]),
    st.integers().map(str), st.floats().map(repr),
)
QUICKSTART_KEYS = [".".join(map(str, p)) for p in paths({
    "name": 0, "trainable": 0, "data": {"seed": 0}, "metric": {"name": 0, "mode": 0},
    "space": {"lr": {"min_value": 0, "scaling": 0}, "hidden_size": {"values": 0}},
    "strategy": {"scheduler": {"name": 0, "grace_period": 0, "reduction_factor": 0},
                 "searcher": {"name": 0}},
    "budget": {"trials": 0, "concurrent": 0, "max_t": 0, "time_s": 0, "trial_time_s": 0},
    "resources": {"cpu": 0, "gpu": 0}, "checkpoint": {"every": 0, "keep": 0}, "seed": 0,
    "max_failures": 0, "eval_frequency": {"type": 0, "value": 0}, "results": 0,
    "early_stop": {"enabled": 0, "window": 0}, "reuse_actors": 0, "fail_fast": 0})]
SET_KEYS = st.one_of(st.sampled_from(QUICKSTART_KEYS), KEY_TEXT,
                     st.lists(KEY_TEXT, min_size=2, max_size=4).map(".".join))


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="hpotk-fuzz-") as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        yield Path(tmp)
        os.chdir(cwd)


@settings(FUZZ, max_examples=300)
@given(items=st.lists(st.tuples(SET_KEYS, YAML_TEXT), min_size=1, max_size=3))
def test_set_values(workdir, items):
    argv = ["plan", str(QUICKSTART)]
    for key, value in items:
        argv += ["--set", f"{key}={value}"]
    given_keys = {key.split(".")[0].strip() for key, _ in items}  # "unknown key" names them
    check_outcome(argv, SCHEMA | given_keys | {"lr", "hidden_size"},
                  sources=(str(QUICKSTART), "--set"))


DATA_KEYS = st.one_of(
    st.sampled_from(["size", "seed", "cutoff", "max_neighbors", "relax_steps", "val_fraction",
                     "test_fraction", "workers", "nodes", "classes", "entities", "target_edge",
                     "name", "path", "target"]),
    KEY_TEXT)


@pytest.fixture(scope="module")
def no_builds():
    """Validation only: the dataset builders' cache lookup returns a stand-in, builds nothing."""
    from hpotk.data import cache

    saved = cache.load_or_build
    with tempfile.NamedTemporaryFile(suffix=".pkl") as stand_in:
        def fake(name, params, build, version=1):
            return cache.Cached({"energy": [0.0]}, Path(stand_in.name), True, 0.0)

        cache.load_or_build = fake
        try:
            yield
        finally:
            cache.load_or_build = saved


@settings(FUZZ, max_examples=300)
@given(name=st.sampled_from(["emt-adsorption", "hetero-synthetic", "kg-synthetic"]) | KEY_TEXT,
       params=st.lists(st.tuples(DATA_KEYS, YAML_TEXT), max_size=4),
       size=st.none() | st.integers(-10, 10**7), seed=st.none() | st.integers())
def test_data_parameters(no_builds, name, params, size, seed):
    argv = ["data", name] + [f"{k}={v}" for k, v in params]
    argv += ["--size", str(size)] if size is not None else []
    argv += ["--seed", str(seed)] if seed is not None else []
    check_outcome(argv, {"data"})
