"""`SpaceSearcher`: the part every hpotk-owned ``ray.tune.search.Searcher`` shares.

A subclass holds the search space itself (the runner's ``param_space`` carries only the fixed
values) and implements two methods:

* ``_propose(trial_id) -> dict`` — the next config of tuned params;
* ``_observe(trial_id, config, loss, error)`` — a finished trial; ``loss`` is the objective
  turned into "smaller is better" (``-value`` when maximising), or None when the trial errored
  (``error`` true) or reported nothing finite (NaN, inf, metric missing). No optimiser may
  learn a NaN.

This base class does the rest the same way for all of them: metric and mode from the
`SearchContext` at construction (Ray calls ``set_search_properties`` only when the param_space is
non-empty), the in-flight trials, the objective's sign, and ``save``/``restore`` as a pickle of
``get_state()``. Pickling the searcher itself goes through the same state, so a subclass keeps
anything unpicklable (a compiled optimiser, a domain with lambdas) out of it and rebuilds it
in ``_rebuild()``.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

from ray.tune.search import Searcher

from hpotk.space.param import Space


class SpaceSearcher(Searcher):
    """Base class; see the module docstring.

    Args:
        space: the tuned params (fixed values are not the searcher's business).
        metric: result key to optimise.
        mode: "min" or "max".
        seed: seeds every random choice the searcher makes.
    """

    # attributes that are rebuilt, not pickled (set by subclasses)
    _transient: tuple[str, ...] = ()

    def __init__(self, space: Space, metric: str, mode: str, seed: int = 0):
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.seed = int(seed)
        self.pending: dict[str, dict[str, Any]] = {}  # trial_id -> config in flight
        self.n_observed = 0  # finished trials, successful or not
        self.n_failed = 0  # of those, errored or without a finite metric

    # --- Ray's Searcher interface -------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        """Accept Ray's metric/mode (they come from the same experiment file as ours).

        ``config`` holds only the fixed values: the space is this searcher's own.
        """
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = self._propose(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        self.pending[trial_id] = dict(config)
        return dict(config)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        config = self.pending.pop(trial_id, None)
        if config is None:
            return
        loss = None if error else self.loss_of(result)
        self.n_observed += 1
        if loss is None:
            self.n_failed += 1
        self._observe(trial_id, config, loss, error)

    def loss_of(self, result: dict | None) -> float | None:
        """The result's objective as "smaller is better"; None if missing or not finite."""
        if not result or self.metric not in result:
            return None
        try:
            value = float(result[self.metric])
        except (TypeError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        return -value if self.mode == "max" else value

    # --- state ---------------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._transient}

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in self._transient:
            self.__dict__[name] = None
        self._rebuild()

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))

    def __getstate__(self) -> dict[str, Any]:
        return self.get_state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.set_state(state)

    # --- for subclasses ------------------------------------------------------------------------

    def _propose(self, trial_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def _observe(self, trial_id: str, config: dict[str, Any], loss: float | None,
                 error: bool) -> None:
        """Learn from a finished trial (nothing to learn by default)."""

    def _rebuild(self) -> None:
        """Recreate the transient attributes after unpickling / restore (none by default)."""
