"""Grid search: every combination of the discrete params' values, each tried once."""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.searchers import SearchContext, SearchPlan

#: draws configs without looking at results: any number of objectives
MULTI_OBJECTIVE = True


def grid_points(ctx: SearchContext) -> dict[str, list]:
    """Each tuned param's grid values; ConfigError for a continuous param."""
    values = {}
    for p in ctx.space.params.values():
        if not p.is_discrete:
            raise ConfigError(
                p.path or f"space.{p.name}",
                f"grid search needs discrete values but {p.name!r} is continuous ({p.describe()}); "
                "give it a step (inc_val / q), options, or use another searcher",
            )
        values[p.name] = p.grid_values()
    return values


def build(ctx: SearchContext, **options: Any) -> SearchPlan:
    """No options: refuses any."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    check_options(options, {}, ctx.path)
    values = grid_points(ctx)
    size = math.prod(len(v) for v in values.values()) if values else 1
    if size > ctx.trials:
        raise ConfigError(
            "budget.trials",
            f"the grid has {size} points but the budget allows {ctx.trials} trials; "
            f"raise budget.trials to {size} or coarsen the grid",
        )
    param_space = {name: tune.grid_search(v) for name, v in values.items()}
    param_space.update(ctx.space.fixed_values())
    return SearchPlan(
        search_alg=BasicVariantGenerator(random_state=ctx.seed, max_concurrent=ctx.concurrent),
        param_space=param_space,
        num_samples=1,
        notes=[f"grid of {size} points"],
    )
