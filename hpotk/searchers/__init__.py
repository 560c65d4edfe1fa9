"""Searchers: which config to try next. One module per algorithm, reached by name.

Each module defines ``build(ctx: SearchContext, **options) -> SearchPlan``. Options are the
keys of ``strategy.searcher`` in the experiment file (besides ``name``); a module refuses unknown
ones with `hpotk.options.check_options`.

Metric and mode: Ray passes them through ``set_search_properties`` from the TuneConfig; a searcher
that must know them earlier (bo) takes them from the context too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpotk.registry import Registry
from hpotk.space.param import Space

SEARCHERS = Registry(
    "searcher",
    {
        "random": "hpotk.searchers.random:build",
        "grid": "hpotk.searchers.grid:build",
        "sobol": "hpotk.searchers.sobol:build",
        "tpe": "hpotk.searchers.tpe:build",
        "anneal": "hpotk.searchers.anneal:build",
        "bo": "hpotk.searchers.bo:build",
    },
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
    build = SEARCHERS.resolve(name, ctx.path)
    return build(ctx, **(options or {}))
