"""Plug-in algorithms: a Ray Searcher and a Ray TrialScheduler written here, outside hpotk, pass
the shipped conformance suites (`hpotk.testing`) and run from an experiment file as
``"module:factory"`` references."""

from __future__ import annotations

import math
import pickle
import textwrap

import numpy as np
import pytest
import yaml
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.sample import Domain

from hpotk import experiment, runner
from hpotk.errors import ConfigError
from hpotk.testing.schedulers import SchedulerCase
from hpotk.testing.searchers import SearcherCase

# ---------------------------------------------------------------------------------------------
# The plug-ins, as a user would write them for Ray


class RandomSearcher(Searcher):
    """Random search over the Ray domains Tune hands it (``set_search_properties``), seeded."""

    def __init__(self, seed: int = 0, metric: str | None = None, mode: str | None = None):
        super().__init__(metric=metric, mode=mode)
        self.rng = np.random.default_rng(seed)
        self.space: dict = {}

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        self._metric, self._mode = metric or self._metric, mode or self._mode
        self.space = {k: v for k, v in config.items() if isinstance(v, Domain)}
        return True

    def suggest(self, trial_id: str) -> dict:
        return {k: domain.sample(random_state=self.rng) for k, domain in self.space.items()}

    def on_trial_complete(self, trial_id, result=None, error=False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump((self.rng, self.space, self._metric, self._mode), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.rng, self.space, self._metric, self._mode = pickle.load(f)


def make_searcher(ctx, **options) -> RandomSearcher:
    """A factory: hpotk's SearchContext (seed, metric, mode) and the experiment's options."""
    return RandomSearcher(seed=ctx.seed, metric=ctx.metric, mode=ctx.mode, **options)


class StopLaggards(FIFOScheduler):
    """Stops a trial whose objective, after ``grace`` iterations, is worse than the best seen
    at the same iteration by more than ``slack`` times the best's size."""

    def __init__(self, grace: int = 2, slack: float = 0.5):
        super().__init__()
        self.grace, self.slack = grace, slack
        self._metric = self._mode = None
        self.best: dict[int, float] = {}

    def set_search_properties(self, metric, mode, **spec) -> bool:
        self._metric, self._mode = metric or self._metric, mode or self._mode
        return True

    def on_trial_add(self, tune_controller, trial) -> None:
        if not self._metric or not self._mode:
            raise ValueError("StopLaggards needs a metric and a mode (set_search_properties)")

    def on_trial_result(self, tune_controller, trial, result) -> str:
        value, t = result.get(self._metric), result["training_iteration"]
        if value is None or not math.isfinite(value):
            return TrialScheduler.CONTINUE
        sign = 1 if self._mode == "min" else -1
        best = self.best.get(t)
        if best is None or sign * value < sign * best:
            self.best[t] = best = value
        if t >= self.grace and sign * (value - best) > self.slack * abs(best):
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump((self._metric, self._mode, self.best), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self._metric, self._mode, self.best = pickle.load(f)


def make_scheduler(ctx, **options) -> StopLaggards:
    return StopLaggards(**options)


def describe(ctx, **options) -> dict:
    """What `hpotk plan` says about this module's scheduler (a built-in's companion)."""
    return {"summary": f"stops laggards after {options.get('grace', 2)} iterations"}


NOT_AN_ALGORITHM = 42


def returns_nothing(ctx, **options) -> None:
    return None


# ---------------------------------------------------------------------------------------------
# The cases the shipped suites run them as (tests/test_plugin_searcher.py, _scheduler.py)


SEARCHERS = {
    "class": SearcherCase("tests.test_plugins:RandomSearcher", {"seed": 3}),
    "factory": SearcherCase("tests.test_plugins:make_searcher"),
}
SCHEDULERS = {
    "class": SchedulerCase("tests.test_plugins:StopLaggards", {"grace": 1}, restorable=True),
    "factory": SchedulerCase("tests.test_plugins:make_scheduler", {"slack": 0.5},
                             restorable=True),
}


# ---------------------------------------------------------------------------------------------
# From an experiment file


def doc(scheduler: object = "fifo", searcher: object = "random") -> dict:
    return {"name": "plug", "trainable": "mlp-digits", "space": {"lr": {
        "type": "continuous", "min_value": 1e-3, "max_value": 1e-1, "scaling": "log"}},
        "metric": {"name": "loss"}, "strategy": {"scheduler": scheduler, "searcher": searcher},
        "budget": {"trials": 2, "max_t": 3}}


def test_plugins_from_an_experiment_are_built_with_their_options():
    exp = experiment.validate(doc({"name": "tests.test_plugins:make_scheduler", "grace": 2},
                                  {"name": "tests.test_plugins:RandomSearcher", "seed": 5}))
    plan = runner.make_plan(exp)
    assert isinstance(plan.scheduler_plan.scheduler, StopLaggards)
    assert plan.scheduler_plan.scheduler.grace == 2
    assert plan.scheduler_plan.info["summary"] == "stops laggards after 2 iterations"
    assert not plan.scheduler_plan.needs_checkpoints
    assert isinstance(plan.search.search_alg, RandomSearcher)
    assert isinstance(plan.search.param_space["lr"], Domain)  # Tune hands it the space


@pytest.mark.parametrize(("ref", "message"), [
    ("tests.test_plugins:nothing", "has no attribute 'nothing'"),
    ("tests.test_plugins:NOT_AN_ALGORITHM", "is of type int, not a scheduler"),
    ("tests.test_plugins:SearcherCase", "is the class SearcherCase, not a scheduler"),
    ("tests.no_such_module:make", "no module named 'tests.no_such_module'"),
    ("made_up:make", "no module named 'made_up'"),
])
def test_bad_references_are_refused_at_load_time(ref, message):
    with pytest.raises(ConfigError, match="strategy.scheduler: .*" + message):
        experiment.validate(doc({"name": ref}))


def test_a_factory_that_returns_no_algorithm_is_refused_before_anything_runs():
    exp = experiment.validate(doc(searcher={"name": "tests.test_plugins:returns_nothing"}))
    with pytest.raises(ConfigError, match="returns_nothing returned of type NoneType, not an "
                                          "instance of Searcher"):
        runner.make_plan(exp)


def test_options_of_a_built_instance_are_refused(tmp_path):
    (tmp_path / "algs.py").write_text(textwrap.dedent("""
        from ray.tune.schedulers import FIFOScheduler
        FIFO = FIFOScheduler()
    """))
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc({"name": "algs.py:FIFO", "grace": 1})))
    exp = experiment.load(path)
    assert exp.strategy.scheduler.name == f"{tmp_path / 'algs.py'}:FIFO"
    with pytest.raises(ConfigError, match="strategy.scheduler.grace: unknown option"):
        runner.make_plan(exp)


@pytest.mark.e2e
def test_hpotk_run_with_plugins_next_to_the_experiment(hpotk_cli, tmp_path):
    """Scheduler and searcher from a module next to the experiment file, run by `hpotk run`."""
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "algs.py").write_text(textwrap.dedent("""
        from ray import tune

        from tests.test_plugins import RandomSearcher, StopLaggards

        def train(config):
            for step in range(1, 100):
                tune.report({"loss": config["lr"] / step})

        def searcher(ctx, **options):
            return RandomSearcher(seed=ctx.seed, **options)

        def scheduler(ctx, **options):
            return StopLaggards(**options)
    """))
    spec = doc({"name": "algs.py:scheduler", "grace": 1}, {"name": "algs.py:searcher"})
    spec["budget"] = {"trials": 2, "concurrent": 2, "max_t": 2}
    spec["trainable"] = "algs.py:train"
    path = tmp_path / "project" / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, out, err = hpotk_cli("run", path, "--quiet")
    assert code == 0, out + err
    trials = (tmp_path / "results" / "plug" / "trials.csv").read_text().splitlines()
    assert len(trials) == 1 + 2
