"""The contract every hpotk searcher keeps (STYLE.md §5, Optuna's testing/pytest_samplers.py).

A searcher joins the suite by one entry in ``ENTRIES``: the options it is built with, the space
it can search, and what it promises (learning from results; restoring exactly). Each is driven
without Ray's Tuner through `tests.searchers.harness.Driver`: suggestions inside the space and of
the right types, min and max modes, errored trials, NaN/inf/missing metrics, a pickle round-trip,
and save/restore in the middle of an experiment with trials in flight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from hpotk.searchers import SEARCHERS, SearchContext, make
from hpotk.searchers.unit import contains
from hpotk.space.param import Fixed, Param, Space
from tests.searchers.harness import Driver


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


@dataclass
class Entry:
    options: dict = field(default_factory=dict)
    space: str = "mixed"  # "mixed" | "discrete" (grid takes no continuous params)
    trials: int = 40
    learns: bool = False  # its suggestions move toward better results
    min_max_trials: int = 20  # trials of the min/max test (learners)


ENTRIES = {
    "random": Entry(),
    "grid": Entry(space="discrete", trials=36),
    "sobol": Entry(),
    "tpe": Entry({"n_initial_points": 4}, learns=True),
    "anneal": Entry(learns=True),
    # small acquisition budget: the suite checks the contract, bo_latency/quality check the rest
    "bo": Entry({"n_initial_points": 4, "acq_opt_max_evals": 30, "refit_every": 3},
                learns=True, min_max_trials=12),
}
SPACES = {"mixed": mixed_space, "discrete": discrete_space, "small": small_space}
METRIC = "loss"


@pytest.fixture(params=sorted(ENTRIES))
def name(request) -> str:
    return request.param


def test_every_registered_searcher_is_in_the_suite():
    assert set(SEARCHERS) == set(ENTRIES)


def plan_for(name: str, mode: str = "min", seed: int = 0, space: str | None = None,
             trials: int | None = None):
    entry = ENTRIES[name]
    ctx = SearchContext(space=SPACES[space or entry.space](), metric=METRIC, mode=mode,
                        seed=seed, trials=trials or entry.trials, concurrent=2)
    return make(name, ctx, dict(entry.options)), ctx


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
    assert set(config) == set(ctx.space.params) | set(ctx.space.fixed)
    for p in ctx.space.params.values():
        assert contains(p, config[p.name]), f"{p.name}={config[p.name]!r} not in {p.describe()}"
    for f in ctx.space.fixed.values():
        assert config[f.name] == f.value


def run(driver: Driver, ctx, n: int, results=None) -> list[dict]:
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


def test_plan_holds_space_or_fixed_values_only(name):
    from ray.tune.search.sample import Domain

    plan, ctx = plan_for(name)
    if Driver(plan).is_generator:
        assert set(plan.param_space) == set(ctx.space.names)
    else:  # a searcher that holds the space: only fixed values reach Tune's param_space
        assert plan.param_space == ctx.space.fixed_values()
        assert not any(isinstance(v, Domain) for v in plan.param_space.values())


def test_suggestions_in_space_with_the_right_types(name):
    plan, ctx = plan_for(name)
    driver = Driver(plan)
    configs = run(driver, ctx, 12)
    distinct = {tuple(sorted((k, repr(v)) for k, v in c.items())) for c in configs}
    assert len(distinct) == len(configs), "a searcher repeated a config"


def test_concurrent_suggestions_differ(name):
    plan, ctx = plan_for(name)
    driver = Driver(plan)
    run(driver, ctx, 6)  # past bo's and tpe's random start
    pending = [driver.suggest() for _ in range(ctx.concurrent)]
    for _, config in pending:
        check_config(ctx, config)
    keys = {tuple(sorted((k, repr(v)) for k, v in c.items())) for _, c in pending}
    assert len(keys) == ctx.concurrent
    for trial_id, config in pending:
        driver.complete(trial_id, {METRIC: objective(config)})


@pytest.mark.parametrize("mode", ["min", "max"])
def test_min_and_max(name, mode):
    entry = ENTRIES[name]
    if not entry.learns:
        plan, ctx = plan_for(name, mode=mode)
        run(Driver(plan), ctx, 8)
        return
    # objective = x: a learner's later suggestions go low in "min" mode, high in "max" mode
    plan, ctx = plan_for(name, mode=mode, space="small")
    configs = run(Driver(plan), ctx, entry.min_max_trials,
                  results=lambda i, c: {METRIC: c["x"]})
    late = [c["x"] for c in configs[len(configs) // 2:]]
    mean = sum(late) / len(late)
    assert (mean < 0.35) if mode == "min" else (mean > 0.65), (mode, late)


def test_min_and_max_are_mirror_images_for_searchers_with_a_loss(name):
    plan, _ = plan_for(name, mode="min")
    plan_max, _ = plan_for(name, mode="max")
    if hasattr(plan.search_alg, "loss_of"):
        assert plan.search_alg.loss_of({METRIC: 2.5}) == 2.5
        assert plan_max.search_alg.loss_of({METRIC: 2.5}) == -2.5


def test_errored_and_non_finite_trials(name):
    plan, ctx = plan_for(name)
    driver = Driver(plan)

    def results(i, config):
        kinds = [None, {METRIC: float("nan")}, {METRIC: float("inf")}, {"other": 1.0},
                 {METRIC: float("-inf")}]
        return kinds[i % 5] if i % 2 == 0 else {METRIC: objective(config)}

    # errored (error=True) trials first, then NaN/inf/missing metrics mixed with good ones
    for _ in range(2):
        trial_id, config = driver.suggest()
        check_config(ctx, config)
        driver.complete(trial_id, None, error=True)
    run(driver, ctx, 10, results=results)
    alg = plan.search_alg
    if hasattr(alg, "n_failed"):
        assert alg.n_failed == 2 + 5  # the two errors; None, inf, -inf, nan, missing (i=0..8)
        assert alg.n_observed == 12
        assert not alg.pending
    if hasattr(alg, "observations"):  # bo: the GP saw only finite values
        assert len(alg.observations) == 12 - 7
        assert all(math.isfinite(v) for _, v in alg.observations)
    if hasattr(alg, "trials"):  # hyperopt, as its fmin records them: errors left out of the
        # model, non-finite results "fail" (worst), never a NaN loss
        losses = [t["result"].get("loss") for t in alg.trials.trials]
        statuses = [t["result"]["status"] for t in alg.trials.trials]
        assert statuses.count("fail") == 5 and statuses.count("ok") == 5
        assert all(loss is None or math.isfinite(loss) for loss in losses)
        assert [t["state"] for t in alg.trials._dynamic_trials].count(3) == 2  # JOB_STATE_ERROR


def _continue(driver: Driver, ctx, in_flight, n: int) -> list[dict]:
    for trial_id, config in in_flight:
        driver.complete(trial_id, {METRIC: objective(config)})
    return run(driver, ctx, n)


def test_pickle_round_trip_continues_identically(name):
    plan, ctx = plan_for(name)
    driver = Driver(plan)
    run(driver, ctx, 6)
    in_flight = [driver.suggest() for _ in range(2)]
    twin = driver.clone_by_pickle()
    assert _continue(twin, ctx, in_flight, 4) == _continue(driver, ctx, in_flight, 4)


def test_save_restore_mid_experiment(name, tmp_path):
    plan, ctx = plan_for(name)
    driver = Driver(plan)
    run(driver, ctx, 6)
    in_flight = [driver.suggest() for _ in range(2)]  # running while the experiment stops
    driver.save(str(tmp_path))

    fresh_plan, _ = plan_for(name)
    restored = Driver(fresh_plan, restore_from=str(tmp_path))
    after_restore = _continue(restored, ctx, in_flight, 4)
    assert after_restore == _continue(driver, ctx, in_flight, 4)
    alg = fresh_plan.search_alg
    if hasattr(alg, "n_observed"):
        assert alg.n_observed == 6 + 2 + 4  # the trials in flight were accepted after restore
        assert not alg.pending


def test_restore_with_a_different_seed_is_still_the_saved_search(name, tmp_path):
    """Restoring replaces the fresh searcher's state entirely (seeded RNGs included)."""
    plan, ctx = plan_for(name, seed=0)
    driver = Driver(plan)
    run(driver, ctx, 5)
    driver.save(str(tmp_path))
    other_plan, _ = plan_for(name, seed=1)
    restored = Driver(other_plan, restore_from=str(tmp_path))
    assert run(restored, ctx, 3) == run(driver, ctx, 3)


def test_set_search_properties_does_not_raise(name):
    """Tune calls it with the TuneConfig's metric/mode and the param_space (fixed values)."""
    plan, ctx = plan_for(name)
    alg = plan.search_alg
    if Driver(plan).is_generator:
        return  # a SearchAlgorithm, not a Searcher: Tune configures it through add_configurations
    assert alg.set_search_properties(METRIC, ctx.mode, dict(plan.param_space)) is True
    assert (alg.metric, alg.mode) == (METRIC, ctx.mode)
    run(Driver(plan), ctx, 3)


def test_metric_and_mode_known_without_set_search_properties(name):
    """Tune skips set_search_properties when param_space is empty (no fixed values)."""
    plan, ctx = plan_for(name)
    if not Driver(plan).is_generator:
        assert (plan.search_alg.metric, plan.search_alg.mode) == (METRIC, "min")


def test_through_tunes_search_generator(name):
    """The wrapping Tune applies (ConcurrencyLimiter, SearchGenerator), trials and all."""
    from ray.tune.search import ConcurrencyLimiter, Searcher, SearchGenerator

    plan, ctx = plan_for(name)
    alg = plan.search_alg
    if isinstance(alg, Searcher):
        alg = SearchGenerator(ConcurrencyLimiter(alg, max_concurrent=2))
    alg.add_configurations({"exp": {"run": lambda config: None, "config": plan.param_space,
                                    "num_samples": 3 if isinstance(plan.search_alg, Searcher)
                                    else plan.num_samples}})
    trials = [alg.next_trial() for _ in range(2)]
    for trial in trials:
        check_config(ctx, trial.config)
    for trial in trials:
        alg.on_trial_complete(trial.trial_id, {METRIC: objective(trial.config)})
    check_config(ctx, alg.next_trial().config)


@pytest.mark.parametrize("option", ["no_such_option"])
def test_unknown_option_refused(name, option):
    from hpotk.errors import ConfigError

    ctx = SearchContext(space=SPACES[ENTRIES[name].space](), metric=METRIC, mode="min",
                        trials=ENTRIES[name].trials)
    with pytest.raises(ConfigError, match=rf"strategy\.searcher\.{option}: unknown option"):
        make(name, ctx, {option: 1})
