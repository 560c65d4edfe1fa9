"""Sobol sampling (Azure's ``rule="sobol"``): scrambled, seeded, reproducible.

Point i of a scrambled Sobol sequence in the unit cube (one dimension per tuned param, in
declaration order) is mapped onto the params' values with `hpotk.searchers.unit.from_unit`.
The same seed gives the same sequence of configs; the i-th suggestion does not depend on results,
so restoring mid-experiment continues the sequence where it stopped.

Options:
    scramble (bool, default true): Owen scrambling (false: the plain sequence, seed unused).
"""

from __future__ import annotations

from typing import Any

from hpotk.options import check_options
from hpotk.searchers import SearchContext, SearchPlan
from hpotk.searchers.base import SpaceSearcher
from hpotk.searchers.unit import from_unit
from hpotk.space.param import Space

#: draws configs without looking at results: any number of objectives
MULTI_OBJECTIVE = True


class SobolSearcher(SpaceSearcher):
    """Suggests the points of a scrambled Sobol sequence, in order.

    Args:
        space, metric, mode, seed: see `SpaceSearcher`.
        scramble: Owen-scramble the sequence (seeded by ``seed``).
    """

    _transient = ("_engine",)

    def __init__(self, space: Space, metric: str, mode: str, seed: int = 0,
                 scramble: bool = True):
        super().__init__(space, metric, mode, seed)
        self.scramble = scramble
        self.n_suggested = 0
        self._engine = None
        self._rebuild()

    def _rebuild(self) -> None:
        from scipy.stats import qmc

        # a space with no tuned params still gets one (unused) dimension
        self._engine = qmc.Sobol(d=max(len(self.space.params), 1), scramble=self.scramble,
                                 seed=self.seed)
        if self.n_suggested:
            self._engine.fast_forward(self.n_suggested)

    def _propose(self, trial_id: str) -> dict[str, Any]:
        import warnings

        with warnings.catch_warnings():
            # scipy warns when the number of points drawn is not a power of 2 (balance
            # properties); trials are drawn one at a time by design.
            warnings.simplefilter("ignore", UserWarning)
            u = self._engine.random(1)[0]
        self.n_suggested += 1
        return {p.name: from_unit(p, u[i]) for i, p in enumerate(self.space.params.values())}


def build(ctx: SearchContext, **options: Any) -> SearchPlan:
    check_options(options, {"scramble": bool}, ctx.path)
    searcher = SobolSearcher(ctx.space, ctx.metric, ctx.mode, seed=ctx.seed,
                             scramble=options.get("scramble") is not False)
    return SearchPlan(
        search_alg=searcher,
        param_space=ctx.space.fixed_values(),
        num_samples=ctx.trials,
        notes=[f"sobol: scrambled={searcher.scramble}, seed={ctx.seed}"],
    )
