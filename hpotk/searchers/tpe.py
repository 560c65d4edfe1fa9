"""TPE (Tree-structured Parzen Estimator) from hyperopt, with ModelArts' options.

Options:
    n_initial_points (int, default: hyperopt's 20, but at most a quarter of budget.trials and
        at least 5): random suggestions before TPE models the results (``n_startup_jobs``).
    gamma (float in (0, 1), default 0.25): the quantile of results that TPE models as "good"
        (l(x)); the rest is g(x).
    n_ei_candidates (int, default 24): candidates drawn from l(x) per suggestion; the one with
        the best l(x)/g(x) is suggested.
"""

from __future__ import annotations

from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.searchers import SearchContext, SearchPlan

SINGLE_OBJECTIVE_REASON = "hyperopt's TPE models one objective"
OPTIONS = {"n_initial_points": int, "gamma": (int, float), "n_ei_candidates": int}


def build(ctx: SearchContext, **options: Any) -> SearchPlan:
    from hpotk.searchers.hyperopt_base import HyperoptSearcher

    check_options(options, OPTIONS, ctx.path)
    n_initial = options.get("n_initial_points")
    n_initial = min(20, max(5, ctx.trials // 4)) if n_initial is None else n_initial
    gamma = options.get("gamma")
    gamma = 0.25 if gamma is None else float(gamma)
    candidates = options.get("n_ei_candidates")
    candidates = 24 if candidates is None else candidates
    if n_initial < 0:
        raise ConfigError(f"{ctx.path}.n_initial_points", f"must be >= 0, got {n_initial}")
    if not 0 < gamma < 1:
        raise ConfigError(f"{ctx.path}.gamma", f"must be in (0, 1), got {gamma}")
    if candidates < 1:
        raise ConfigError(f"{ctx.path}.n_ei_candidates", f"must be >= 1, got {candidates}")
    searcher = HyperoptSearcher(
        ctx.space, ctx.metric, ctx.mode, seed=ctx.seed, algorithm="tpe",
        algorithm_options={"n_startup_jobs": n_initial, "gamma": gamma,
                           "n_EI_candidates": candidates},
    )
    notes = [f"tpe: {n_initial} random points first, gamma={gamma}"]
    if n_initial >= ctx.trials:
        notes.append(f"tpe: n_initial_points {n_initial} >= budget.trials {ctx.trials}: "
                     "every trial is random search")
    return SearchPlan(
        search_alg=searcher,
        param_space=ctx.space.fixed_values(),
        num_samples=ctx.trials,
        notes=notes,
    )
