"""Constraints for searchers that model one objective and nothing else (tpe, anneal, bo).

When the experiment has ``constraints``, `hpotk.searchers.make` wraps such a searcher in
`ConstrainedSearcher`: a trial whose final result breaks a constraint
(`hpotk.objectives.violations`; a constrained metric the result lacks breaks nothing) is reported
to the wrapped Ray ``Searcher`` with its objective replaced by the worst value any trial has
reported so far, its own included, so the model learns that the region is bad; when no earlier
trial reported a finite value there is no worst yet, and the objective becomes infinitely bad
(``inf`` for "min", ``-inf`` for "max"), which hpotk's own searchers treat as a trial without a
finite result (tpe and anneal rank it worst, bo leaves it out), never as a value to fit.
Feasible trials, errored trials and intermediate results pass unchanged, later trials do not
revise a penalty already reported, and a warm start's earlier results (``tell_history``) are told
the same way. Searchers that model constraints themselves (Optuna's, ``MODELS_CONSTRAINTS =
True``) and those that never look at results (random, grid, sobol: marked ``MULTI_OBJECTIVE`` for
that reason) are not wrapped.
"""

from __future__ import annotations

import math
import os
import pickle
import tempfile
from types import ModuleType
from typing import Any

from ray.tune.search import Searcher

from hpotk.objectives import violations


def needs_wrapper(module: ModuleType) -> bool:
    """Whether a registered searcher module leaves constraints to `ConstrainedSearcher`."""
    return not getattr(module, "MODELS_CONSTRAINTS", getattr(module, "MULTI_OBJECTIVE", False))


class ConstrainedSearcher(Searcher):
    """A Ray ``Searcher`` that reports infeasible trials to ``searcher`` as the worst seen.

    Args:
        searcher: the wrapped searcher (its metric and mode are the objective).
        constraints: the experiment's constraints (``.name``, ``.max``, ``.min``, ``.text()``).
    """

    def __init__(self, searcher: Searcher, constraints: list[Any]):
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.constraints = list(constraints)
        self.worst: float | None = None  # worst finite objective reported, in its own units
        self.n_infeasible = 0

    # --- what Tune calls -----------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        accepted = self.searcher.set_search_properties(metric, mode, config, **spec)
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return accepted

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> dict | None:
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        if result and not error:
            result = self._as_told(result)
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    @property
    def tell_history(self) -> Any:
        """The wrapped searcher's ``tell_history`` (`hpotk.warm_start`), with earlier results
        that break a constraint told as the worst, as trials are; AttributeError where the
        wrapped searcher has none (so ``hasattr`` answers for it)."""
        tell = self.searcher.tell_history

        def tell_history(history: list[tuple[dict[str, Any], dict[str, Any]]]) -> Any:
            return tell([(config, self._as_told(metrics)) for config, metrics in history])

        return tell_history

    def _as_told(self, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` as the wrapped searcher is told it, counting its objective as seen."""
        value = self._finite(result.get(self.metric))
        earlier = self.worst
        if value is not None:
            self.worst = value if earlier is None else self._worse(earlier, value)
        if not violations(result, self.constraints):
            return result
        self.n_infeasible += 1
        return {**result, self.metric: self.penalty(earlier, value)}

    def penalty(self, earlier: float | None, own: float | None) -> float:
        """The objective reported for an infeasible trial: the worst of the earlier trials' and
        its own value, or infinitely bad when no earlier trial reported one."""
        if earlier is None:
            return math.inf if self.mode == "min" else -math.inf
        return earlier if own is None else self._worse(earlier, own)

    def _worse(self, a: float, b: float) -> float:
        return max(a, b) if self.mode == "min" else min(a, b)

    @staticmethod
    def _finite(value: Any) -> float | None:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) else None

    # --- state: the wrapped searcher's own save, and the worst value ---------------------------

    def save(self, checkpoint_path: str) -> None:
        with tempfile.TemporaryDirectory(dir=os.path.dirname(checkpoint_path) or None) as tmp:
            inner = os.path.join(tmp, "searcher.pkl")
            self.searcher.save(inner)
            with open(inner, "rb") as f:
                searcher_state = f.read()
        state = {"worst": self.worst, "n_infeasible": self.n_infeasible,
                 "metric": self._metric, "mode": self._mode, "searcher": searcher_state}
        with open(checkpoint_path, "wb") as f:
            pickle.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        with tempfile.TemporaryDirectory(dir=os.path.dirname(checkpoint_path) or None) as tmp:
            inner = os.path.join(tmp, "searcher.pkl")
            with open(inner, "wb") as f:
                f.write(state["searcher"])
            self.searcher.restore(inner)
        self.worst, self.n_infeasible = state["worst"], state["n_infeasible"]
        self._metric, self._mode = state["metric"], state["mode"]


def constrain(plan: Any, ctx: Any) -> Any:
    """``plan`` with its Searcher wrapped in `ConstrainedSearcher` (a generator as it is)."""
    if not ctx.constraints or not isinstance(plan.search_alg, Searcher):
        return plan
    plan.search_alg = ConstrainedSearcher(plan.search_alg, list(ctx.constraints))
    texts = ", ".join(c.text() for c in ctx.constraints)
    plan.notes.append(f"constraints ({texts}): an infeasible trial is reported to the searcher "
                      "as the worst objective seen so far")
    return plan
