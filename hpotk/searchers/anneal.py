"""Simulated annealing from hyperopt, with ModelArts' options.

Each suggestion starts from one earlier trial — drawn from the trials sorted by loss, with a
geometric distribution of mean ``avg_best_idx`` (small: nearly always the best) — and samples
every param from its prior narrowed around that trial's value; the neighbourhood shrinks as
``1 / (1 + n_observed * shrink_coef)``.

Options:
    avg_best_idx (float >= 1, default 2.0): mean rank of the trial to start from (1: always
        the best).
    shrink_coef (float >= 0, default 0.1): how fast the neighbourhood shrinks (0: never).
"""

from __future__ import annotations

from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.searchers import SearchContext, SearchPlan

SINGLE_OBJECTIVE_REASON = "hyperopt's annealing follows one objective"
OPTIONS = {"avg_best_idx": (int, float), "shrink_coef": (int, float)}


def build(ctx: SearchContext, **options: Any) -> SearchPlan:
    from hpotk.searchers.hyperopt_base import HyperoptSearcher

    check_options(options, OPTIONS, ctx.path)
    values = {}
    for key, default, low in (("avg_best_idx", 2.0, 1.0), ("shrink_coef", 0.1, 0.0)):
        value = options.get(key)
        value = default if value is None else float(value)
        if not value >= low:
            raise ConfigError(f"{ctx.path}.{key}", f"must be >= {low:g}, got {value}")
        values[key] = value
    searcher = HyperoptSearcher(ctx.space, ctx.metric, ctx.mode, seed=ctx.seed,
                                algorithm="anneal", algorithm_options=values)
    return SearchPlan(
        search_alg=searcher,
        param_space=ctx.space.fixed_values(),
        num_samples=ctx.trials,
        notes=[f"anneal: avg_best_idx={values['avg_best_idx']}, "
               f"shrink_coef={values['shrink_coef']}"],
    )
