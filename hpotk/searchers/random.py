"""Random search: Ray's BasicVariantGenerator over `Space.to_ray()`, seeded."""

from __future__ import annotations

from typing import Any

from hpotk.options import check_options
from hpotk.searchers import SearchContext, SearchPlan

#: draws configs without looking at results: any number of objectives
MULTI_OBJECTIVE = True


def build(ctx: SearchContext, **options: Any) -> SearchPlan:
    """No options: refuses any."""
    from ray.tune.search import BasicVariantGenerator

    check_options(options, {}, ctx.path)
    return SearchPlan(
        search_alg=BasicVariantGenerator(random_state=ctx.seed, max_concurrent=ctx.concurrent),
        param_space=ctx.space.to_ray(),
        num_samples=ctx.trials,
    )


