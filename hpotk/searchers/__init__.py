"""Searchers: which config to try next. One module per algorithm, reached by name.

Each module defines ``build(ctx: SearchContext, **options) -> SearchPlan``. Options are the
keys of ``strategy.searcher`` in the experiment file (besides ``name``); a module refuses unknown
ones with `hpotk.options.check_options`.

A plug-in, ``"module:factory"`` (`hpotk.registry.import_reference`), is a Ray ``Searcher`` (or
``SearchAlgorithm``) subclass (built with the options) or instance, or a factory
``factory(ctx, **options)`` that returns one or a whole `SearchPlan`. A Ray searcher without a
space gets the space from Tune (``set_search_properties`` with the Ray domains), as in Ray.

Metric and mode: Ray passes them through ``set_search_properties`` from the TuneConfig; a searcher
that must know them earlier (bo) takes them from the context too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpotk.registry import Registry, build_plugin, check_plugin, refuse_multi_objective
from hpotk.space.param import Space


def _bases() -> tuple[type, ...]:
    from ray.tune.search import SearchAlgorithm, Searcher

    return (Searcher, SearchAlgorithm)


def _check_plugin(obj: Any, path: str, reference: str) -> None:
    check_plugin(obj, _bases(), path, reference, "a searcher")


SEARCHERS = Registry(
    "searcher",
    {
        "random": "hpotk.searchers.random:build",
        "grid": "hpotk.searchers.grid:build",
        "sobol": "hpotk.searchers.sobol:build",
        "tpe": "hpotk.searchers.tpe:build",
        "anneal": "hpotk.searchers.anneal:build",
        "bo": "hpotk.searchers.bo:build",
        "optuna_tpe": "hpotk.searchers.optuna:build_tpe",
        "nsga2": "hpotk.searchers.optuna:build_nsga2",
        "optuna_gp": "hpotk.searchers.optuna:build_gp",
    },
    plugin=_check_plugin,
)


@dataclass
class SearchContext:
    """What a searcher may know about the experiment."""

    space: Space
    metric: str
    mode: str  # "min" | "max"
    seed: int = 0
    trials: int = 10
    concurrent: int = 1
    path: str = "strategy.searcher"  # key path for error messages
    # every objective as (name, mode), the first being metric/mode; empty: just metric/mode
    objectives: list[tuple[str, str]] = field(default_factory=list)
    constraints: list[Any] = field(default_factory=list)  # hpotk.experiment.Constraint
    # warm_start mode history (hpotk.warm_start): earlier (config, metrics) pairs that a
    # searcher which learns from results takes as already evaluated before its first suggestion
    history: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    @property
    def all_objectives(self) -> list[tuple[str, str]]:
        return list(self.objectives) or [(self.metric, self.mode)]


@dataclass
class SearchPlan:
    """What the runner gives Tune: the search algorithm, param_space and num_samples.

    ``search_alg`` is a ``ray.tune.search.SearchAlgorithm`` or ``Searcher`` (the runner caps a
    Searcher's concurrency with ``budget.concurrent``). A searcher that holds the space itself
    returns only the fixed values in ``param_space``.
    """

    search_alg: Any
    param_space: dict[str, Any]
    num_samples: int
    notes: list[str] = field(default_factory=list)


def make(name: str, ctx: SearchContext, options: dict[str, Any] | None = None) -> SearchPlan:
    """The search plan of searcher ``name`` built with ``options`` (ConfigError for bad ones).

    With ``ctx.constraints``, a registered searcher that does not model them is wrapped
    (`hpotk.searchers.constrained`); a plug-in gets the constraints in its context.
    """
    build = SEARCHERS.resolve(name, ctx.path)
    if len(ctx.all_objectives) > 1:
        refuse_multi_objective(SEARCHERS, name, ctx.path, "searcher")
    if not SEARCHERS.is_plugin(name):
        plan = build(ctx, **(options or {}))
        if ctx.constraints:
            from hpotk.searchers.constrained import constrain, needs_wrapper

            if needs_wrapper(SEARCHERS.module_of(name, ctx.path)):
                plan = constrain(plan, ctx)
        return plan
    built = build_plugin(build, _bases(), ctx, dict(options or {}), ctx.path, accept=(SearchPlan,))
    if isinstance(built, SearchPlan):
        return built
    return SearchPlan(built, ctx.space.to_ray(), ctx.trials,
                      notes=[f"plug-in searcher {type(built).__name__} ({name})"])
