"""Random search: Ray's BasicVariantGenerator over `Space.to_ray()`, seeded."""

from __future__ import annotations

from hpotk.searchers import SearchContext, SearchPlan


def build(ctx: SearchContext) -> SearchPlan:
    from ray.tune.search import BasicVariantGenerator

    return SearchPlan(
        search_alg=BasicVariantGenerator(random_state=ctx.seed, max_concurrent=ctx.concurrent),
        param_space=ctx.space.to_ray(),
        num_samples=ctx.trials,
    )


