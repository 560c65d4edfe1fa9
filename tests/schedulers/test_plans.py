"""Options and `hpotk plan` descriptions of asha, ahb, hyperband, pbt and fifo."""

from __future__ import annotations

import pytest

from hpotk import schedulers
from hpotk.errors import ConfigError
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers import pbt as pbt_module
from hpotk.space.param import Param, Space
from hpotk.testing.schedulers import Harness

LR = Param("lr", "float", "log", low=1e-3, high=1e-1, role="algorithm", path="space.lr")


def ctx(max_t: int = 9, trials: int = 10, space: Space | None = None, **kw) -> SchedulerContext:
    return SchedulerContext(space=space or Space(params={"lr": LR}), metric="loss", mode="min",
                           max_t=max_t, trials=trials, **kw)


def ray_milestones(scheduler, max_t: int) -> list[list[int]]:
    """Ray's own rung milestones below max_t, per bracket, ascending."""
    import math

    return [sorted(math.ceil(m - 1e-9) for m, _ in b._rungs if m < max_t)
            for b in scheduler._brackets]


@pytest.mark.parametrize("grace, eta, max_t", [(1, 3, 9), (1, 2, 16), (2, 3, 30), (1, 4, 100),
                                               (3, 2.5, 50), (1, 3, 27)])
def test_asha_rungs_are_rays(grace, eta, max_t):
    options = {"grace_period": grace, "reduction_factor": eta}
    plan = schedulers.describe("asha", ctx(max_t), options)
    scheduler = schedulers.make("asha", ctx(max_t), options)
    levels = [r["iterations"] for r in plan["rungs"]]
    assert levels == ray_milestones(scheduler, max_t)[0] + [max_t]
    expected = [r["expected_trials"] for r in plan["rungs"]]
    assert expected[0] == 10 and expected == sorted(expected, reverse=True)


def test_asha_plan_numbers():
    plan = schedulers.describe("asha", ctx(9, trials=27), {"reduction_factor": 3})
    assert plan["rungs"] == [{"iterations": 1, "expected_trials": 27},
                             {"iterations": 3, "expected_trials": 9},
                             {"iterations": 9, "expected_trials": 3}]


@pytest.mark.parametrize("brackets", [1, 2, 3])
def test_ahb_brackets_are_rays(brackets):
    import numpy as np

    options = {"brackets": brackets, "reduction_factor": 3, "grace_period": 1}
    plan = schedulers.describe("ahb", ctx(27, trials=100), options)
    scheduler = schedulers.make("ahb", ctx(27), options)
    assert len(plan["brackets"]) == brackets
    for b, milestones in zip(plan["brackets"], ray_milestones(scheduler, 27), strict=True):
        assert [r["iterations"] for r in b["rungs"]] == milestones + [27]
    # Ray's bracket choice: softmax over the number of rungs
    sizes = np.array([len(b._rungs) for b in scheduler._brackets])
    probs = np.e ** (sizes - sizes.max())
    probs = probs / probs.sum()
    assert [b["probability"] for b in plan["brackets"]] == [round(p, 3) for p in probs]
    assert sum(b["expected_trials"] for b in plan["brackets"]) == pytest.approx(100, abs=0.2)


def test_ahb_refuses_brackets_without_rungs():
    with pytest.raises(ConfigError, match="between 1 and 3") as error:
        schedulers.make("ahb", ctx(9), {"brackets": 4, "reduction_factor": 3})
    assert error.value.path == "strategy.scheduler.brackets"


def test_hyperband_plan_matches_a_run():
    # max_t 9, eta 3: s_max_1 = 3 brackets per band, filled in order:
    #   bracket 0: ceil(3/1 * 1) = 3 trials at 9 iterations (no stopping)
    #   bracket 1: ceil(3/2 * 3) = 5 trials at 3, keep ceil(5/3) = 2 to 9
    #   bracket 2: ceil(3/3 * 9) = 9 places, 13 - 8 = 5 trials at 1; keep min(5, ceil(9/3)=3)
    #              at 3; keep min(3, ceil(3/3) = 1) at 9
    plan = schedulers.describe("hyperband", ctx(9, trials=13), {"reduction_factor": 3})
    assert [(b["bracket"], b["trials"], [(r["iterations"], r["expected_trials"]) for r in b["rungs"]])
            for b in plan["brackets"]] == [
        (0, 3, [(9, 3)]), (1, 5, [(3, 5), (9, 2)]), (2, 5, [(1, 5), (3, 3), (9, 1)])]
    # the same numbers from Ray's scheduler driven over 13 trials of distinct learning curves
    lrs = [1e-2 * (1.1 ** i) for i in range(13)]
    harness = Harness(schedulers.make("hyperband", ctx(9, trials=13), {"reduction_factor": 3}),
                      lrs, "min", max_t=9, concurrent=3).run()
    reached = [harness.sims[t.trial_id].iteration for t in harness.trials]
    first = 0
    for b in plan["brackets"]:
        members = reached[first:first + b["trials"]]
        first += b["trials"]
        for rung in b["rungs"]:
            assert sum(r >= rung["iterations"] for r in members) == rung["expected_trials"], (b, members)


@pytest.mark.parametrize("name, options, path, words", [
    ("asha", {"brackets": 2}, "strategy.scheduler.brackets", "unknown option"),
    ("asha", {"grace_period": 0}, "strategy.scheduler.grace_period", ">= 1"),
    ("asha", {"reduction_factor": 1}, "strategy.scheduler.reduction_factor", "> 1"),
    ("asha", {"reduction_factor": True}, "strategy.scheduler.reduction_factor", "number"),
    ("asha", {"grace_period": 20}, "strategy.scheduler.max_t", ">= grace_period"),
    ("hyperband", {"grace_period": 2}, "strategy.scheduler.grace_period", "unknown option"),
    ("hyperband", {"reduction_factor": 0.5}, "strategy.scheduler.reduction_factor", "> 1"),
    ("hyperband", {"max_t": 0}, "strategy.scheduler.max_t", ">= 1"),
    ("fifo", {"max_t": 3}, "strategy.scheduler.max_t", "unknown option"),
    ("pbt", {"quantile": 0}, "strategy.scheduler.quantile", r"\(0, 0.5\]"),
    ("pbt", {"quantile": 0.6}, "strategy.scheduler.quantile", r"\(0, 0.5\]"),
    ("pbt", {"resample_probability": 1.5}, "strategy.scheduler.resample_probability", "[0, 1]"),
    ("pbt", {"perturbation_interval": 0}, "strategy.scheduler.perturbation_interval", ">= 1"),
    ("pbt", {"perturbation_factors": [1.2, -1]}, "strategy.scheduler.perturbation_factors",
     "positive"),
    ("pbt", {"quantile_fraction": 0.2}, "strategy.scheduler.quantile_fraction",
     "unknown option"),
])
def test_invalid_options(name, options, path, words):
    with pytest.raises(ConfigError, match=words) as error:
        schedulers.make(name, ctx(9), options)
    assert error.value.path == path


def test_every_scheduler_describes_itself():
    options = {"bandit": {"slack_factor": 0.1}, "truncation": {"truncation_percentage": 20}}
    for name in schedulers.SCHEDULERS.names():
        info = schedulers.describe(name, ctx(9), options.get(name))
        assert info["scheduler"] == name and info["summary"]


# --- pbt ---------------------------------------------------------------------------------


def test_pbt_refuses_model_params():
    layers = Param("n_layers", "int", "linear", low=1, high=4, role="model",
                   path="space.1-tier-param[2]")
    space = Space(params={"lr": LR, "n_layers": layers})
    with pytest.raises(ConfigError, match="architecture") as error:
        schedulers.make("pbt", ctx(space=space))
    assert error.value.path == "space.1-tier-param[2]"
    assert "'n_layers'" in str(error.value) and "weights" in str(error.value)


def test_pbt_needs_an_algorithm_param():
    from hpotk.space.param import Fixed

    space = Space(params={}, fixed={"lr": Fixed("lr", 0.01, "fixed-param")})
    with pytest.raises(ConfigError, match="algorithm param"):
        schedulers.make("pbt", ctx(space=space))


def test_pbt_refuses_searchers_ray_cannot_pair_it_with():
    with pytest.raises(ConfigError, match="tpe"):
        schedulers.make("pbt", ctx(searcher="tpe"))
    schedulers.make("pbt", ctx(searcher="random"))


def test_pbt_mutations_come_from_params():
    batch = Param("batch_size", "int", "choice", choices=(16, 32, 64, 128), role="algorithm")
    negs = Param("num_negs", "int", "linear", low=1, high=10, role="algorithm")
    drop = Param("dropout", "float", "linear", low=0.0, high=0.5, step=0.1, role="algorithm")
    space = Space(params={"lr": LR, "batch_size": batch, "num_negs": negs, "dropout": drop})
    scheduler = schedulers.make("pbt", ctx(space=space), {"quantile": 0.5,
                                                          "resample_probability": 0.5})
    mutations = scheduler._hyperparam_mutations
    assert mutations["batch_size"] == [16, 32, 64, 128]
    assert mutations["num_negs"] == list(range(1, 11))
    assert mutations["dropout"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert isinstance(mutations["lr"], pbt_module.ParamSampler)
    draws = [mutations["lr"]() for _ in range(200)]
    assert all(1e-3 <= x <= 1e-1 for x in draws) and min(draws) < 1e-2 < max(draws)
    assert scheduler._quantile_fraction == 0.5 and scheduler._resample_probability == 0.5
    assert schedulers.checkpoint_every("pbt", ctx(space=space), {"quantile": 0.5}) == 2
    # the explore hook puts a perturbed number back into bounds and onto its kind
    keep = scheduler._custom_explore_fn
    assert keep({"lr": 0.5, "num_negs": 11.6, "batch_size": 32}) == {
        "lr": 0.1, "num_negs": 10, "batch_size": 32}
    int_space = Space(params={"width": Param("width", "int", "linear", low=1, high=1000)})
    assert pbt_module.KeepInBounds(list(int_space.params.values()))({"width": 1200.4}) == {
        "width": 1000}


def test_pbt_keeps_perturbed_values_in_bounds():
    narrow = Param("lr", "float", "log", low=5e-3, high=1.2e-2, role="algorithm")
    scheduler = schedulers.make("pbt", ctx(max_t=30, space=Space(params={"lr": narrow})),
                                {"perturbation_interval": 1, "resample_probability": 0.0})
    lrs = [5e-3, 6e-3, 8e-3, 1e-2, 1.2e-2, 1.1e-2]
    harness = Harness(scheduler, lrs, "min", max_t=30, concurrent=3).run()
    assert scheduler._num_perturbations > 5
    assert all(5e-3 <= t.config["lr"] <= 1.2e-2 for t in harness.trials)


def test_pbt_describe_lists_mutations():
    info = schedulers.describe("pbt", ctx(), {"perturbation_interval": 3})
    assert "lr" in info["mutations"] and "every 3 iterations" in info["summary"]


def test_pbt_keeps_every_checkpoint():
    import types

    from ray.tune import CheckpointConfig
    from ray.tune.experiment import Trial

    shared = CheckpointConfig(num_to_keep=1, checkpoint_frequency=2)
    trial = Trial("sim", config={"lr": 0.01}, trial_id="t0", stub=True)
    trial.run_metadata.checkpoint_manager._checkpoint_config = shared
    scheduler = schedulers.make("pbt", ctx())
    scheduler.set_search_properties("loss", "min")
    scheduler.on_trial_add(types.SimpleNamespace(search_alg=None), trial)
    config = trial.run_metadata.checkpoint_manager.checkpoint_config
    assert config.num_to_keep is None and config.checkpoint_frequency == 2
    assert shared.num_to_keep == 1  # the experiment's own config is left alone


def test_hyperband_brackets_need_no_ray():
    # hpotk report draws hyperband's rungs from `brackets`: reading results must not pay for
    # importing Ray; the scheduler class is still found by name, as pickle finds it
    import subprocess
    import sys

    code = ("import sys\nfrom hpotk.schedulers import hyperband\n"
            "assert hyperband.brackets(9, 3, 9)[0]['rungs'][0]['iterations'] == 9\n"
            "assert 'ray' not in sys.modules, 'importing hyperband imported Ray'\n"
            "from hpotk.schedulers.hyperband import HyperBand\n"
            "assert HyperBand.__qualname__ == 'HyperBand'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_hyperband_and_pbt_plans_say_how_the_population_shares_its_slots(tmp_path):
    # the population exists from the start and budget.concurrent of it trains: no warning about
    # brackets larger than budget.concurrent any more (hpotk.schedulers.population)
    from hpotk import experiment, runner

    doc = {"name": "hb", "trainable": "mlp-digits", "metric": {"name": "val_acc", "mode": "max"},
           "space": {"lr": {"type": "continuous", "min_value": 0.001, "max_value": 0.1}},
           "strategy": "hyperband/random", "results": str(tmp_path),
           "budget": {"trials": 9, "concurrent": 2, "max_t": 9}}
    plan = runner.make_plan(experiment.validate(doc))
    assert "warning" not in plan.text()
    assert ("a population of 9, 2 training at a time; members pause at each rung until their "
            "bracket has arrived") in plan.text()
    assert plan.search_concurrency == 9 and plan.scheduler_plan.scheduler.slots == 2
    doc["strategy"] = {"scheduler": {"name": "pbt", "perturbation_interval": 2},
                       "searcher": "random"}
    doc["budget"]["trials"] = 8
    plan = runner.make_plan(experiment.validate(doc))
    assert ("a population of 8, 2 training at a time; members pause at perturbation points"
            in plan.text())
    assert plan.search_concurrency == 8 and plan.scheduler_plan.scheduler.slots == 2
    assert plan.search.search_alg.max_concurrent == 8  # the searcher holds no member back
    doc["budget"]["concurrent"] = 8  # as many slots as members: nothing to multiplex
    plan = runner.make_plan(experiment.validate(doc))
    assert "a population of 8, all training at once" in plan.text()
    assert plan.scheduler_plan.scheduler.slots is None
    doc["strategy"] = "asha/random"  # other schedulers keep the searcher-side limit
    doc["budget"]["concurrent"] = 2
    assert runner.make_plan(experiment.validate(doc)).search_concurrency == 2
