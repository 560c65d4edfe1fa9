"""Optuna's samplers as hpotk searchers (optuna_tpe, nsga2, optuna_gp): several objectives,
constraints, history, seeds, save/restore and options; the wrapper that gives single-objective
searchers constraints; one real multi-objective `hpotk run`."""

from __future__ import annotations

import math
import pickle
import statistics

import pytest

from hpotk.errors import ConfigError
from hpotk.experiment import Constraint
from hpotk.searchers import SearchContext, make
from hpotk.searchers.constrained import ConstrainedSearcher
from hpotk.searchers.optuna import OptunaSearcher, _Dim
from hpotk.space.param import Param, Space
from hpotk.testing.searchers import Driver, check_config, mixed_space, small_space

# quick options: a few random trials first, a small population
FAST = {"optuna_tpe": {"n_startup_trials": 4}, "nsga2": {"population_size": 4},
        "optuna_gp": {"n_startup_trials": 4}}
TWO = [("a", "min"), ("b", "max")]


def two_objectives(config: dict) -> dict:
    """a = x (min) against b = x + 0.5 * [act == tanh] (max): every x is a trade-off."""
    x = config["x"]
    return {"a": x, "b": x + (0.5 if config["act"] == "tanh" else 0.0)}


def context(**kwargs) -> SearchContext:
    defaults = dict(space=small_space(), metric="a", mode="min", seed=0, trials=20,
                    objectives=TWO)
    return SearchContext(**{**defaults, **kwargs})


def loop(searcher, n: int, results=two_objectives, start: int = 0,
         ctx: SearchContext | None = None) -> list[dict]:
    """Suggest and complete ``n`` trials one after the other (what Tune does, without Ray)."""
    configs = []
    for i in range(start, start + n):
        config = searcher.suggest(f"t{i}")
        if ctx is not None:
            check_config(ctx, config)
        searcher.on_trial_result(f"t{i}", {**results(config), "training_iteration": 1})
        searcher.on_trial_complete(f"t{i}", results(config))
        configs.append(config)
    return configs


# ---------------------------------------------------------------------------------------------
# Several objectives, seeds, save/restore


@pytest.mark.parametrize("name", sorted(FAST))
def test_several_objectives_suggest_and_complete_without_ray(name):
    ctx = context(space=mixed_space(), trials=10)
    plan = make(name, ctx, FAST[name])
    searcher = plan.search_alg
    assert isinstance(searcher, OptunaSearcher) and plan.param_space == {"epochs": 3}
    assert (searcher.metric, searcher.mode) == ("a", "min")  # the first objective, for Ray
    results = lambda c: {"a": (c["x"] - 1) ** 2, "b": c["lr"] * 10, "other": 1}  # noqa: E731
    configs = loop(searcher, 8, results=results)
    for config in configs:
        check_config(ctx, {**config, "epochs": 3})
    study = searcher.study
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    assert len(study.trials) == 8 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert study.trials[0].values == [results(configs[0])["a"], results(configs[0])["b"]]
    assert study.best_trials and any("objectives a (min), b (max)" in n for n in plan.notes)


def test_one_plain_metric_works_too():
    ctx = SearchContext(space=small_space(), metric="f", mode="max", trials=10)
    searcher = make("optuna_tpe", ctx, {"n_startup_trials": 3}).search_alg
    configs = loop(searcher, 10, results=lambda c: {"f": c["x"]})
    assert [d.name for d in searcher.study.directions] == ["MAXIMIZE"]
    assert searcher.study.best_value == max(c["x"] for c in configs)


@pytest.mark.parametrize("name", sorted(FAST))
def test_the_same_seed_suggests_the_same_and_another_seed_does_not(name):
    def configs(seed):
        searcher = make(name, context(seed=seed), FAST[name]).search_alg
        return loop(searcher, 7)

    assert configs(3) == configs(3)
    assert configs(3) != configs(4)


@pytest.mark.parametrize("name", ["optuna_tpe", "nsga2"])
def test_save_restore_with_trials_in_flight_and_constraints(name, tmp_path):
    """Tune's experiment checkpoint mid-run: the restored search (NSGA-II's sampler holds a
    thread lock, re-made on load) accepts the trials in flight and continues as the original."""
    ctx = context(constraints=[Constraint(name="b", max=0.8)])
    plan = make(name, ctx, FAST[name])
    driver = Driver(plan)
    loop(driver.alg, 6)
    in_flight = [(f"t{i}", driver.alg.suggest(f"t{i}")) for i in (6, 7)]
    driver.save(str(tmp_path))

    fresh = make(name, context(constraints=[Constraint(name="b", max=0.8)], seed=9), FAST[name])
    restored = Driver(fresh, restore_from=str(tmp_path))
    for alg in (restored.alg, driver.alg):
        for trial_id, config in in_flight:
            alg.on_trial_complete(trial_id, two_objectives(config))
    assert loop(restored.alg, 4, start=8) == loop(driver.alg, 4, start=8)
    assert restored.alg.n_observed == 12 and not restored.alg.pending
    assert pickle.loads(pickle.dumps(restored.alg)).study.trials[-1].values == \
        restored.alg.study.trials[-1].values


def test_errors_are_left_out_and_non_finite_results_told_as_the_worst_seen():
    searcher = make("optuna_tpe", context(), FAST["optuna_tpe"]).search_alg
    searcher.suggest("t0")
    searcher.on_trial_complete("t0", {"a": math.nan, "b": 1.0})  # nothing finite yet: failed
    loop(searcher, 2, results=lambda c: {"a": 2.0 + c["x"], "b": 1.0}, start=1)
    searcher.suggest("t3")
    searcher.on_trial_complete("t3", error=True)
    searcher.suggest("t4")
    searcher.on_trial_complete("t4", {"a": -math.inf, "b": 5.0})
    states = [t.state.name for t in searcher.study.trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]
    worst_a = max(t.values[0] for t in searcher.study.trials[1:3])
    assert searcher.study.trials[4].values == [worst_a, 5.0]  # -inf is no "best" a
    assert searcher.n_failed == 3 and searcher.n_observed == 5


# ---------------------------------------------------------------------------------------------
# Constraints


@pytest.mark.parametrize("name", sorted(FAST))
def test_constraints_reach_the_sampler_and_an_infeasible_trial_is_never_best(name):
    """mem > 10 when x < 0.5: those trials are the best in a alone, and infeasible. Optuna 5
    deprecates ``constraints_func`` for ``Trial.set_constraint``, which every sampler reads."""
    ctx = context(constraints=[Constraint(name="mem", max=10.0)], objectives=[])
    plan = make(name, ctx, FAST[name])
    assert isinstance(plan.search_alg, OptunaSearcher)  # models them: not wrapped
    assert any("mem <= 10" in n for n in plan.notes)

    def results(config):
        return {"a": config["x"], "mem": 20.0 if config["x"] < 0.5 else 5.0}

    searcher = plan.search_alg
    loop(searcher, 12, results=results)
    trials = searcher.study.trials
    infeasible = [t for t in trials if t.constraints["mem <= 10"] > 0]
    assert infeasible and all(t.constraints["mem <= 10"] == 10.0 for t in infeasible)
    assert all(t.constraints == {"mem <= 10": -5.0} for t in trials if t not in infeasible)
    assert min(t.values[0] for t in infeasible) < min(t.values[0] for t in trials
                                                      if t not in infeasible)
    best = searcher.study.best_trial
    assert best.constraints["mem <= 10"] <= 0 and best.values[0] >= 0.5
    assert all(t.number not in {b.number for b in searcher.study.best_trials}
               for t in infeasible)


def test_several_objectives_with_a_lower_bound_constraint():
    ctx = context(constraints=[Constraint(name="b", min=0.4)])
    searcher = make("nsga2", ctx, FAST["nsga2"]).search_alg
    loop(searcher, 8)
    for trial in searcher.study.trials:
        assert trial.constraints == {"b >= 0.4": pytest.approx(0.4 - trial.values[1])}
    assert all(t.values[1] >= 0.4 for t in searcher.study.best_trials)


class Recorder:
    """A Ray Searcher stand-in that records what it is told."""

    def __init__(self):
        from ray.tune.search import Searcher

        class _Recorder(Searcher):
            def __init__(self):
                super().__init__(metric="f", mode="min")
                self.told = []

            def suggest(self, trial_id):
                return {"x": 0.5}

            def on_trial_complete(self, trial_id, result=None, error=False):
                self.told.append(None if result is None else result.get("f"))

        self.searcher = _Recorder()


@pytest.mark.parametrize("mode, worst", [("min", max), ("max", min)])
def test_the_wrapper_reports_an_infeasible_trial_as_the_worst_seen(mode, worst):
    inner = Recorder().searcher
    inner._mode = mode
    wrapper = ConstrainedSearcher(inner, [Constraint(name="mem", max=10.0)])
    bad = math.inf if mode == "min" else -math.inf
    told = [
        {"f": 1.0, "mem": 20.0},  # infeasible, nothing earlier: infinitely bad
        {"f": 3.0, "mem": 5.0},  # feasible: as it is
        {"f": 2.0},  # the constrained metric missing: feasible
        {"f": 0.5, "mem": 11.0},  # infeasible: the worst of 1, 3, 2 and its own 0.5
        {"f": 9.0, "mem": 30.0},  # infeasible, its own value the worst (min) or not (max)
        {"f": math.nan, "mem": 30.0},  # infeasible without a value: the worst seen
    ]
    for i, result in enumerate(told):
        wrapper.on_trial_complete(f"t{i}", result)
    wrapper.on_trial_complete("t9", None, error=True)
    assert inner.told == [bad, 3.0, 2.0, worst(1.0, 3.0, 2.0, 0.5), worst(1, 3, 2, 0.5, 9.0),
                          worst(1, 3, 2, 0.5, 9.0), None]
    assert wrapper.n_infeasible == 4


def test_make_wraps_single_objective_learners_only_when_constrained(tmp_path):
    constraints = [Constraint(name="mem", max=10.0)]
    ctx = SearchContext(space=small_space(), metric="f", mode="min", trials=12,
                        constraints=constraints)
    for name in ("tpe", "anneal"):
        assert isinstance(make(name, ctx).search_alg, ConstrainedSearcher)
    for name in ("random", "sobol", "optuna_tpe"):
        assert not isinstance(make(name, ctx).search_alg, ConstrainedSearcher)
    unconstrained = SearchContext(space=small_space(), metric="f", mode="min", trials=12)
    assert not isinstance(make("tpe", unconstrained).search_alg, ConstrainedSearcher)

    # tpe under the wrapper: hyperopt sees the worst loss for the infeasible trial
    plan = make("tpe", ctx, {"n_initial_points": 3})
    assert any("worst objective seen" in n for n in plan.notes)
    results = lambda c: {"f": c["x"], "mem": 20.0 if c["x"] < 0.3 else 5.0}  # noqa: E731
    configs = loop(plan.search_alg, 10, results=results)
    losses = [t["result"].get("loss") for t in plan.search_alg.searcher.trials.trials]
    penalised = [i for i, c in enumerate(configs) if c["x"] < 0.3 and i > 0]
    assert penalised, "no infeasible trial after the first: the check checked nothing"
    for i in penalised:
        assert losses[i] == max(c["x"] for c in configs[:i + 1])

    # and Tune's checkpoint of it restores, worst value included
    driver = Driver(plan)
    driver.save(str(tmp_path))
    fresh = make("tpe", ctx, {"n_initial_points": 3})
    Driver(fresh, restore_from=str(tmp_path))
    assert fresh.search_alg.worst == plan.search_alg.worst
    assert loop(fresh.search_alg, 3, results=results, start=10) == \
        loop(plan.search_alg, 3, results=results, start=10)


# ---------------------------------------------------------------------------------------------
# History (warm start)


HISTORY = [({"x": i / 10, "act": "tanh" if i % 2 else "relu"}, {"a": i / 10, "b": i / 10})
           for i in range(11)]
OUTSIDE = [({"x": 2.0, "act": "relu"}, {"a": -5.0, "b": 9.0}),  # x beyond today's bounds
           ({"x": 0.5, "act": "sigmoid"}, {"a": -5.0, "b": 9.0}),  # not one of the choices
           ({"x": 0.5}, {"a": -5.0, "b": 9.0}),  # a param missing
           ({"x": 0.5, "act": "relu"}, {"a": math.nan, "b": 9.0})]  # an objective not finite


@pytest.mark.parametrize("name", ["optuna_tpe", "optuna_gp"])
def test_history_is_in_the_study_before_the_first_suggestion(name):
    options = {"n_startup_trials": 5}
    plan = make(name, context(seed=3, history=HISTORY + OUTSIDE, objectives=[]), options)
    searcher = plan.search_alg
    assert len(searcher.study.trials) == 11 and searcher.history_skipped == 4
    assert any("11 earlier results added" in n and "4 skipped" in n for n in plan.notes)
    informed = searcher.suggest("t0")
    cold = make(name, context(seed=3, objectives=[]), options).search_alg.suggest("t0")
    assert informed != cold  # the model's suggestion, not the first random one
    assert informed["x"] < 0.3  # and it goes where the history was good (a = x, minimised)


def test_configs_to_run_first_are_suggested_first_and_learnt_from():
    searcher = make("optuna_tpe", context(), FAST["optuna_tpe"]).search_alg
    first = [{"x": 0.25, "act": "tanh"}, {"x": 3.0, "act": "relu"}, {"x": 0.75, "act": "relu"}]
    assert searcher.evaluate_first(first) == 2  # x = 3 is outside today's space
    configs = loop(searcher, 3)
    assert configs[:2] == [first[0], first[2]] and configs[2] not in first
    assert [t.state.name for t in searcher.study.trials] == ["COMPLETE"] * 3
    assert searcher.study.trials[0].values == [0.25, 0.75]


def test_the_wrapper_tells_infeasible_history_as_the_worst():
    """A warm start's earlier results reach a wrapped searcher (`hpotk.warm_start` looks for
    ``tell_history`` down the ``.searcher`` chain) penalised as trials are."""
    ctx = SearchContext(space=small_space(), metric="f", mode="min", trials=12,
                        constraints=[Constraint(name="mem", max=10.0)])
    wrapper = make("tpe", ctx, {"n_initial_points": 3}).search_alg
    assert hasattr(wrapper, "tell_history")
    history = [({"x": 0.5, "act": "relu"}, {"f": 0.5, "mem": 1.0}),
               ({"x": 0.1, "act": "relu"}, {"f": 0.1, "mem": 50.0}),  # best f, infeasible
               ({"x": 0.9, "act": "tanh"}, {"f": 0.9, "mem": 1.0})]
    assert wrapper.tell_history(history) == 3
    losses = [t["result"]["loss"] for t in wrapper.searcher.trials.trials]
    assert losses == [0.5, 0.5, 0.9] and wrapper.worst == 0.9 and wrapper.n_infeasible == 1
    sobol_like = ConstrainedSearcher(Recorder().searcher, ctx.constraints)
    assert not hasattr(sobol_like, "tell_history")


def test_nsga2_takes_history_as_its_first_generations():
    """Canary: NSGA-II counts generations in a system attribute (a private key); history
    trials get one, so the first suggestion after a full generation is already a child."""
    from optuna.samplers import NSGAIISampler

    key = NSGAIISampler._get_generation_key()
    searcher = make("nsga2", context(history=HISTORY[:8]), {"population_size": 4}).search_alg
    assert [t.system_attrs[key] for t in searcher.study.trials] == [0] * 4 + [1] * 4
    searcher.suggest("t0")
    assert searcher.study.trials[-1].system_attrs[key] == 2


def _internals(dim: _Dim) -> list:
    """A few of Optuna's values of ``dim``: its ends and middle."""
    d = dim.distribution
    if type(d).__name__ == "CategoricalDistribution":
        return list(d.choices)
    if type(d).__name__ == "IntDistribution":
        return sorted({d.low, (d.low + d.high) // 2, d.high})
    return [d.low, (d.low + d.high) / 2, d.high]


def test_history_values_map_back_onto_every_kind_of_param():
    """Each param's value, through Optuna's value and back, is the value (history reaches the
    study in the sampler's own terms)."""
    space = mixed_space()
    for p in space.params.values():
        dim = _Dim.of(p)
        for internal in _internals(dim):
            value = dim.value(internal)
            back = dim.internal(value)
            assert back is not None, (p.name, value)
            assert dim.value(back) == pytest.approx(value), (p.name, value)
    beta2 = _Dim.of(space.params["beta2"])
    assert beta2.internal(0.5) is None and beta2.internal("high") is None
    assert _Dim.of(space.params["bn"]).internal(1) is None  # 1 is not True
    assert _Dim.of(space.params["units"]).internal(40) is None  # not on the grid of 16


# ---------------------------------------------------------------------------------------------
# Options and refusals


@pytest.mark.parametrize("name, options, path, message", [
    ("nsga2", {"population_size": 1}, "strategy.searcher.population_size", ">= 2"),
    ("nsga2", {"crossover_prob": 1.5}, "strategy.searcher.crossover_prob", "[0, 1]"),
    ("optuna_tpe", {"n_startup": 3}, "strategy.searcher.n_startup", "n_startup_trials"),
    ("optuna_tpe", {"multivariate": "yes"}, "strategy.searcher.multivariate", "bool"),
    ("optuna_gp", {"n_startup_trials": True}, "strategy.searcher.n_startup_trials", "number"),
    ("optuna_gp", {"population_size": 8}, "strategy.searcher.population_size", "unknown"),
])
def test_a_bad_option_is_refused_with_its_key_path(name, options, path, message):
    with pytest.raises(ConfigError, match=message) as info:
        make(name, context(), options)
    assert info.value.path == path


def test_options_reach_the_samplers():
    tpe = make("optuna_tpe", context(concurrent=2), {"n_startup_trials": 7}).search_alg
    assert tpe.study.sampler._n_startup_trials == 7 and tpe.study.sampler._constant_liar
    nsga2 = make("nsga2", context(trials=40), {}).search_alg
    assert nsga2.study.sampler.population_size == 10  # a quarter of the budget
    gp = make("optuna_gp", context(), {"deterministic_objective": True}).search_alg
    assert gp.study.sampler._deterministic


def test_a_space_with_nothing_to_tune_is_refused():
    space = Space(params={}, fixed={})
    with pytest.raises(ConfigError, match="at least one tuned param"):
        make("optuna_tpe", context(space=space), {})


def test_single_objective_searchers_refuse_several_with_their_reason():
    with pytest.raises(ConfigError, match="hyperopt's TPE models one objective.*optuna_tpe"):
        make("tpe", context(), {})
    with pytest.raises(ConfigError, match="Dragonfly's GP bandit models one objective"):
        make("bo", context(), {})


def test_nsga2_later_generations_are_better():
    """A genetic algorithm learns by generations (too slowly for the suite's min/max check)."""
    ctx = SearchContext(space=small_space(), metric="f", mode="min", trials=64, seed=1)
    searcher = make("nsga2", ctx, {"population_size": 8, "mutation_prob": 0.1}).search_alg
    xs = [c["x"] for c in loop(searcher, 64, results=lambda c: {"f": c["x"]})]
    assert statistics.mean(xs[-8:]) < statistics.mean(xs[:8]) / 2


def test_int_log_params_stay_ints_on_optunas_log_scale():
    p = Param("hidden", "int", "log", low=8, high=512)
    dim = _Dim.of(p)
    assert type(dim.distribution).__name__ == "IntDistribution" and dim.distribution.log
    assert dim.value(100) == 100 and isinstance(dim.value(100), int)


# the real two-objective run with optuna_tpe is tests/test_objectives_e2e.py's front test
