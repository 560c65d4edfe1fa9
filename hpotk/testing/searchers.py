"""The contract every hpotk searcher keeps, built-in or plug-in (as Optuna ships its sampler tests
in ``optuna.testing``).

A searcher joins the suite with one fixture, ``searcher``, that returns a `SearcherCase`: its
name (a registered one, or a plug-in ``"module:factory"``), the options it is built with, the
space it can search, and what it promises (learning from results). In a test module::

    import pytest
    from hpotk.testing.searchers import *  # noqa: F403  (the contract tests)
    from hpotk.testing.searchers import SearcherCase

    @pytest.fixture
    def searcher() -> SearcherCase:
        return SearcherCase("mypkg.search:make", options={"n_startup": 4}, learns=True)

Each searcher is driven without Ray's Tuner through `Driver`, the calls Tune makes: suggestions
inside the space and of the right types, concurrent suggestions that differ, min and max modes,
errored trials and NaN/inf/missing metrics, a pickle round-trip, save/restore in the middle of an
experiment with trials in flight, Tune's own wrappers. Only the public contract (Ray's Searcher
API and hpotk's `SearchPlan`) is tested, never a searcher's internals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from hpotk.errors import ConfigError
from hpotk.searchers import SearchContext, SearchPlan, make
from hpotk.searchers.unit import contains
from hpotk.space.param import Fixed, Param, Space
from hpotk.testing._search_driver import Driver, has_domains

__all__ = [
    "Driver", "SearcherCase", "test_plan_holds_the_space_or_fixed_values_only", "test_suggestions_in_space_with_the_right_types",
    "test_concurrent_suggestions_differ", "test_min_and_max", "test_errored_and_non_finite_trials",
    "test_pickle_round_trip_continues_identically", "test_save_restore_mid_experiment",
    "test_restore_with_a_different_seed_is_still_the_saved_search",
    "test_set_search_properties_does_not_raise",
    "test_metric_and_mode_known_without_set_search_properties",
    "test_through_tunes_search_generator", "test_unknown_option_refused",
]

METRIC = "loss"


@dataclass
class SearcherCase:
    """One searcher as the suite builds it.

    Attributes:
        name: a registered searcher name or a plug-in reference ``"module:factory"``.
        options: the ``strategy.searcher`` options it is built with.
        space: "mixed" (every kind and scale of param) or "discrete" (no continuous params).
        trials: the experiment's trial budget (``SearchContext.trials``).
        learns: its suggestions move toward better results (tested in min and max mode).
        min_max_trials: trials of the min/max test, for a learner.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    space: str = "mixed"
    trials: int = 40
    learns: bool = False
    min_max_trials: int = 20


def mixed_space() -> Space:
    """One param of every kind and scale the front-ends produce, and a fixed value."""
    params = [
        Param("x", "float", "linear", low=-5.0, high=10.0),
        Param("lr", "float", "log", low=1e-4, high=1e-1),
        Param("layers", "int", "linear", low=1, high=4),
        Param("units", "int", "linear", low=16, high=128, step=16),
        Param("dropout", "float", "linear", low=0.0, high=0.5, step=0.1),
        Param("hidden", "int", "log", low=8, high=512),
        Param("act", "categorical", "choice", choices=("relu", "tanh", "gelu")),
        Param("bn", "bool", "choice", choices=(True, False)),
        Param("batch", "int", "choice", choices=(16, 32, 64, 128)),
        Param("beta2", "float", "reverse_log", low=0.9, high=0.9999),
        Param("init", "float", "normal", mu=0.0, sigma=1.0),
        Param("scale", "float", "lognormal", mu=0.0, sigma=0.5, step=0.01),
    ]
    return Space(params={p.name: p for p in params},
                 fixed={"epochs": Fixed("epochs", 3, "fixed-param")})


def discrete_space() -> Space:
    params = [
        Param("layers", "int", "linear", low=1, high=3),
        Param("act", "categorical", "choice", choices=("relu", "tanh", "gelu")),
        Param("bn", "bool", "choice", choices=(True, False)),
        Param("batch", "int", "choice", choices=(16, 32)),
    ]
    return Space(params={p.name: p for p in params},
                 fixed={"epochs": Fixed("epochs", 3, "fixed-param")})


def small_space() -> Space:
    """For the min/max test: the objective is x itself."""
    params = [Param("x", "float", "linear", low=0.0, high=1.0),
              Param("act", "categorical", "choice", choices=("relu", "tanh"))]
    return Space(params={p.name: p for p in params})


SPACES = {"mixed": mixed_space, "discrete": discrete_space, "small": small_space}


def plan_for(case: SearcherCase, mode: str = "min", seed: int = 0, space: str | None = None,
             trials: int | None = None) -> tuple[SearchPlan, SearchContext]:
    """A fresh plan of ``case``'s searcher, and the context it was built with."""
    ctx = SearchContext(space=SPACES[space or case.space](), metric=METRIC, mode=mode,
                        seed=seed, trials=trials or case.trials, concurrent=2)
    return make(case.name, ctx, dict(case.options)), ctx


def driver_for(plan: SearchPlan, ctx: SearchContext, restore_from: str | None = None) -> Driver:
    return Driver(plan, restore_from=restore_from, metric=ctx.metric, mode=ctx.mode)


def objective(config: dict) -> float:
    """A deterministic function of every param (values of any type)."""
    total = 0.0
    for key in sorted(config):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            total += (sum(map(ord, f"{key}={value}")) % 7) / 7
        else:
            total += math.sin(1.3 * float(value) + len(key))
    return total


def check_config(ctx: SearchContext, config: dict) -> None:
    """Every param of the space and nothing else, each inside its domain, fixed values as set."""
    assert set(config) == set(ctx.space.params) | set(ctx.space.fixed)
    for p in ctx.space.params.values():
        assert contains(p, config[p.name]), f"{p.name}={config[p.name]!r} not in {p.describe()}"
    for f in ctx.space.fixed.values():
        assert config[f.name] == f.value


def run(driver: Driver, ctx: SearchContext, n: int, results: Any = None) -> list[dict]:
    """Suggest and complete ``n`` trials one after the other; the configs suggested."""
    configs = []
    for i in range(n):
        suggestion = driver.suggest()
        assert suggestion is not None, f"no suggestion at trial {i}"
        trial_id, config = suggestion
        check_config(ctx, config)
        result = results(i, config) if results else {METRIC: objective(config)}
        driver.result(trial_id, {**(result or {}), "training_iteration": 1})
        driver.complete(trial_id, result)
        configs.append(config)
    return configs


def errored_then_mixed(driver: Driver, ctx: SearchContext) -> list[dict]:
    """Two errored trials (``error=True``), then ten whose results alternate between good and
    missing/NaN/inf/-inf/no objective; the configs suggested after the errors."""

    def results(i, config):
        kinds = [None, {METRIC: float("nan")}, {METRIC: float("inf")}, {"other": 1.0},
                 {METRIC: float("-inf")}]
        return kinds[i % 5] if i % 2 == 0 else {METRIC: objective(config)}

    for _ in range(2):
        trial_id, config = driver.suggest()
        check_config(ctx, config)
        driver.complete(trial_id, None, error=True)
    return run(driver, ctx, 10, results=results)


def _continue(driver: Driver, ctx: SearchContext, in_flight: list, n: int) -> list[dict]:
    for trial_id, config in in_flight:
        driver.complete(trial_id, {METRIC: objective(config)})
    return run(driver, ctx, n)


def _key(config: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in config.items()))


# ---------------------------------------------------------------------------------------------
# The contract


def test_plan_holds_the_space_or_fixed_values_only(searcher):
    """Tune's param_space holds either the whole space (Tune gives it to the searcher) or none
    of it (the searcher holds it), and the fixed values."""
    plan, ctx = plan_for(searcher)
    assert plan.num_samples >= 1
    assert set(plan.param_space) <= set(ctx.space.names)
    assert {k: plan.param_space.get(k) for k in ctx.space.fixed} == ctx.space.fixed_values()
    tuned = set(plan.param_space) & set(ctx.space.params)
    assert tuned in (set(), set(ctx.space.params)), sorted(tuned)
    assert has_domains(plan.param_space) == bool(tuned)


def test_suggestions_in_space_with_the_right_types(searcher):
    plan, ctx = plan_for(searcher)
    configs = run(driver_for(plan, ctx), ctx, 12)
    assert len({_key(c) for c in configs}) == len(configs), "a searcher repeated a config"


def test_concurrent_suggestions_differ(searcher):
    plan, ctx = plan_for(searcher)
    driver = driver_for(plan, ctx)
    run(driver, ctx, 6)  # past a model-based searcher's random start
    pending = [driver.suggest() for _ in range(ctx.concurrent)]
    for _, config in pending:
        check_config(ctx, config)
    assert len({_key(c) for _, c in pending}) == ctx.concurrent
    for trial_id, config in pending:
        driver.complete(trial_id, {METRIC: objective(config)})


@pytest.mark.parametrize("mode", ["min", "max"])
def test_min_and_max(searcher, mode):
    if not searcher.learns:
        plan, ctx = plan_for(searcher, mode=mode)
        run(driver_for(plan, ctx), ctx, 8)
        return
    # objective = x: a learner's later suggestions go low in "min" mode, high in "max" mode
    plan, ctx = plan_for(searcher, mode=mode, space="small")
    configs = run(driver_for(plan, ctx), ctx, searcher.min_max_trials,
                  results=lambda i, c: {METRIC: c["x"]})
    late = [c["x"] for c in configs[len(configs) // 2:]]
    mean = sum(late) / len(late)
    assert (mean < 0.35) if mode == "min" else (mean > 0.65), (mode, late)


def test_errored_and_non_finite_trials(searcher):
    """Errored trials (``error=True``), then NaN/inf/missing metrics mixed with good ones: the
    searcher goes on suggesting valid, new configs."""
    plan, ctx = plan_for(searcher)
    driver = driver_for(plan, ctx)
    configs = errored_then_mixed(driver, ctx)
    configs += run(driver, ctx, 2)
    assert len({_key(c) for c in configs}) == len(configs), "a searcher repeated a config"


def test_pickle_round_trip_continues_identically(searcher):
    plan, ctx = plan_for(searcher)
    driver = driver_for(plan, ctx)
    run(driver, ctx, 6)
    in_flight = [driver.suggest() for _ in range(2)]
    twin = driver.clone_by_pickle()
    assert _continue(twin, ctx, in_flight, 4) == _continue(driver, ctx, in_flight, 4)


def test_save_restore_mid_experiment(searcher, tmp_path):
    """Tune's experiment checkpoint (``save_to_dir`` / ``restore_from_dir``) with trials in
    flight: the restored searcher accepts their results and continues as the original does."""
    plan, ctx = plan_for(searcher)
    driver = driver_for(plan, ctx)
    run(driver, ctx, 6)
    in_flight = [driver.suggest() for _ in range(2)]  # running while the experiment stops
    driver.save(str(tmp_path))

    fresh_plan, _ = plan_for(searcher)
    restored = driver_for(fresh_plan, ctx, restore_from=str(tmp_path))
    after_restore = _continue(restored, ctx, in_flight, 4)
    assert after_restore == _continue(driver, ctx, in_flight, 4)


def test_restore_with_a_different_seed_is_still_the_saved_search(searcher, tmp_path):
    """Restoring replaces the fresh searcher's state entirely (seeded RNGs included)."""
    plan, ctx = plan_for(searcher, seed=0)
    driver = driver_for(plan, ctx)
    run(driver, ctx, 5)
    driver.save(str(tmp_path))
    other_plan, _ = plan_for(searcher, seed=1)
    restored = driver_for(other_plan, ctx, restore_from=str(tmp_path))
    assert run(restored, ctx, 3) == run(driver, ctx, 3)


def test_set_search_properties_does_not_raise(searcher):
    """Tune calls it with the TuneConfig's metric/mode and the param_space."""
    plan, ctx = plan_for(searcher)
    alg = plan.search_alg
    if Driver(plan).is_generator:
        return  # a SearchAlgorithm, not a Searcher: Tune configures it through add_configurations
    assert alg.set_search_properties(METRIC, ctx.mode, dict(plan.param_space)) is True
    assert (alg.metric, alg.mode) == (METRIC, ctx.mode)
    run(Driver(plan), ctx, 3)


def test_metric_and_mode_known_without_set_search_properties(searcher):
    """Tune skips set_search_properties when param_space is empty: a searcher that holds the
    space must know the objective from its context."""
    plan, _ = plan_for(searcher)
    if not Driver(plan).is_generator and not has_domains(plan.param_space):
        assert (plan.search_alg.metric, plan.search_alg.mode) == (METRIC, "min")


def test_through_tunes_search_generator(searcher):
    """The wrapping Tune applies (ConcurrencyLimiter, SearchGenerator), trials and all."""
    from ray.tune.search import ConcurrencyLimiter, Searcher, SearchGenerator

    plan, ctx = plan_for(searcher)
    alg = plan.search_alg
    is_searcher = isinstance(alg, Searcher)
    if is_searcher:
        alg = SearchGenerator(ConcurrencyLimiter(alg, max_concurrent=2))
        if plan.param_space:
            assert alg.set_search_properties(METRIC, ctx.mode, dict(plan.param_space)) or \
                not has_domains(plan.param_space)
    alg.add_configurations({"exp": {"run": lambda config: None, "config": plan.param_space,
                                    "num_samples": 3 if is_searcher else plan.num_samples}})
    trials = [alg.next_trial() for _ in range(2)]
    for trial in trials:
        check_config(ctx, trial.config)
    for trial in trials:
        alg.on_trial_complete(trial.trial_id, {METRIC: objective(trial.config)})
    check_config(ctx, alg.next_trial().config)


def test_unknown_option_refused(searcher):
    ctx = SearchContext(space=SPACES[searcher.space](), metric=METRIC, mode="min",
                        trials=searcher.trials)
    with pytest.raises(ConfigError, match="no_such_option"):
        make(searcher.name, ctx, {**searcher.options, "no_such_option": 1})
