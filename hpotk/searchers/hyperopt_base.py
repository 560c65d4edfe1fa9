"""hyperopt behind an hpotk `SpaceSearcher`: the shared part of ``tpe`` and ``anneal``.

The space is translated from `Param` (never from Ray domains) into a flat hyperopt space, one
label per param, chosen so that hyperopt's own value is all we need (no pyll evaluation):

=====================================  ======================================  ===============
Param                                  hyperopt                                back to a value
=====================================  ======================================  ===============
choice (categorical, bool, power2)     ``hp.choice(name, range(n))``           ``choices[i]``
linear int / quantised (grid of n)     ``hp.quniform(name, -0.5, n - 0.5, 1)``  ``low + k*step``
linear float                           ``hp.uniform(name, low, high)``         as is
log (float; int/quantised snapped)     ``hp.loguniform(name, ln low, ln high)``  `snap`
reverse_log                            ``hp.loguniform`` of ``1 - x``          ``1 - v``
normal / lognormal (q: snapped)        ``hp.normal`` / ``hp.lognormal``        `snap`
=====================================  ======================================  ===============

Finished trials go into hyperopt's ``Trials`` the way hyperopt's own ``fmin`` records them:
a trial with a finite metric is done with its loss; one that reported a NaN/inf metric, or
none, is done with status "fail" — TPE and annealing rank it as the worst loss, so they steer
away from a region that diverges, without ever seeing a NaN; an errored trial (the trainable
raised) is marked as an error, which hyperopt leaves out of its model altogether. Trials still
running rank as the worst loss too, which keeps concurrent suggestions apart.

Warm starts (`hpotk.warm_start`) reach hyperopt the way Ray's HyperOptSearch takes
``points_to_evaluate`` and ``evaluated_rewards``: `HyperoptSearcher.evaluate_first` queues
configs that are suggested before any of hyperopt's own (their results then count like any
other trial's), and `HyperoptSearcher.tell_history` inserts earlier (config, metrics) pairs as
completed trials, so TPE and annealing model them before their first suggestion (they count
towards TPE's ``n_startup_jobs``: with enough history the first suggestion is already TPE's).
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.searchers.base import SpaceSearcher
from hpotk.searchers.unit import n_grid, snap
from hpotk.space.param import Param, Space


def hyperopt_expression(p: Param) -> Any:
    """The hyperopt expression for ``p`` (see the module table)."""
    from hyperopt import hp

    if p.choices is not None:
        return hp.choice(p.name, list(range(len(p.choices))))
    if p.scale == "linear" and p.is_discrete:
        return hp.quniform(p.name, -0.5, n_grid(p) - 0.5, 1)
    if p.scale == "linear":
        return hp.uniform(p.name, p.low, p.high)
    if p.scale == "log":
        return hp.loguniform(p.name, math.log(p.low), math.log(p.high))
    if p.scale == "reverse_log":
        return hp.loguniform(p.name, math.log(1.0 - p.high), math.log(1.0 - p.low))
    if p.scale == "normal":
        return hp.normal(p.name, p.mu, p.sigma)
    if p.scale == "lognormal":
        return hp.lognormal(p.name, p.mu, p.sigma)
    raise ValueError(f"unknown scale {p.scale!r} for param {p.name!r}")


def from_hyperopt(p: Param, value: Any) -> Any:
    """The param value for hyperopt's value of ``p``'s label."""
    if p.choices is not None:
        return p.choices[int(value)]
    if p.scale == "linear" and p.is_discrete:
        k = min(max(int(round(float(value))), 0), n_grid(p) - 1)
        return p.cast(p.low + k * (p.step or 1))
    if p.scale == "reverse_log":
        return snap(p, 1.0 - float(value))
    return snap(p, value)


def to_hyperopt(p: Param, value: Any) -> Any:
    """hyperopt's value of ``p``'s label for a valid value of ``p`` (`from_hyperopt` inverted)."""
    if p.choices is not None:
        return _choice_index(p, value)
    if p.scale == "linear" and p.is_discrete:
        return float(round((float(value) - p.low) / (p.step or 1)))
    if p.scale == "reverse_log":
        return 1.0 - float(value)
    return float(value)


def _choice_index(p: Param, value: Any) -> int:
    for i, choice in enumerate(p.choices):
        if choice is value or (choice == value and isinstance(choice, bool) == isinstance(
                value, bool)):
            return i
    raise ValueError(f"{value!r} is not one of {p.name!r}'s choices {list(p.choices)}")


def _objective(config: dict) -> dict:  # hyperopt's Domain needs a function; never called
    raise RuntimeError("hpotk drives hyperopt in ask/tell fashion; the objective is Ray's trial")


class HyperoptSearcher(SpaceSearcher):
    """A hyperopt ``suggest`` algorithm over a `Space`, ask/tell style.

    Args:
        space, metric, mode, seed: see `SpaceSearcher`.
        algorithm: "tpe" or "anneal".
        algorithm_options: keyword arguments of ``hyperopt.<algorithm>.suggest``
            (tpe: n_startup_jobs, gamma, ...; anneal: avg_best_idx, shrink_coef).
    """

    _transient = ("_domain",)
    # configs to suggest before hyperopt's own (`evaluate_first`); a class default so that a
    # searcher pickled before warm starts existed restores too
    first_points: list[dict[str, Any]] = []
    n_history = 0  # earlier trials told as completed (`tell_history`)

    def __init__(self, space: Space, metric: str, mode: str, seed: int = 0,
                 algorithm: str = "tpe", algorithm_options: dict[str, Any] | None = None):
        import hyperopt
        import numpy as np

        if not space.params:  # hyperopt cannot build a Domain of nothing (an IndexError)
            from hpotk.errors import ConfigError

            raise ConfigError("space", f"the {algorithm} searcher needs at least one tuned "
                                       "param; every param is fixed (use searcher random)")
        super().__init__(space, metric, mode, seed)
        self.algorithm = algorithm
        self.algorithm_options = dict(algorithm_options or {})
        self.trials = hyperopt.Trials()
        self.rng = np.random.default_rng(self.seed)
        self.tids: dict[str, int] = {}  # trial_id -> hyperopt tid
        self._domain = None
        self._rebuild()

    def _rebuild(self) -> None:
        import hyperopt

        expression = {p.name: hyperopt_expression(p) for p in self.space.params.values()}
        self._domain = hyperopt.Domain(_objective, expression)

    def _algorithm(self):
        import hyperopt

        return {"tpe": hyperopt.tpe.suggest, "anneal": hyperopt.anneal.suggest}[self.algorithm]

    # --- warm starts (hpotk.warm_start) -------------------------------------------------------

    def evaluate_first(self, points: list[dict[str, Any]]) -> None:
        """Suggest ``points`` (configs of the tuned params, valid values) before any of
        hyperopt's own; their results are recorded like any other trial's."""
        self.first_points = [dict(point) for point in points]

    def tell_history(self, history: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
        """Insert earlier (config, metrics) pairs as completed trials before the first
        suggestion; those without a finite objective are left out. Returns how many went in."""
        from hyperopt import JOB_STATE_DONE, STATUS_OK

        docs = []
        for config, metrics in history:
            loss = self.loss_of(metrics)
            if loss is None:
                continue
            doc = self._trial_doc(self.trials.new_trial_ids(1)[0], config)
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"loss": loss, "status": STATUS_OK}
            docs.append(doc)
        if docs:
            self.trials.insert_trial_docs(docs)
            self.trials.refresh()
        self.n_history += len(docs)
        return len(docs)

    def _trial_doc(self, tid: int, config: dict[str, Any]) -> dict[str, Any]:
        """A new hyperopt trial document holding ``config`` (as hyperopt's own would)."""
        labels = list(self.space.params.values())
        misc = {"tid": tid, "cmd": self._domain.cmd, "workdir": self._domain.workdir,
                "idxs": {p.name: [tid] for p in labels},
                "vals": {p.name: [to_hyperopt(p, config[p.name])] for p in labels}}
        return self.trials.new_trial_docs([tid], [None], [{"status": "new"}], [misc])[0]

    def _propose_first(self, trial_id: str) -> dict[str, Any]:
        config = self.first_points.pop(0)
        doc = self._trial_doc(self.trials.new_trial_ids(1)[0], config)
        self.trials.insert_trial_docs([doc])
        self.trials.refresh()
        self.tids[trial_id] = doc["tid"]
        return {name: config[name] for name in self.space.params}

    # --- suggest / observe --------------------------------------------------------------------

    def _propose(self, trial_id: str) -> dict[str, Any]:
        import logging

        from hyperopt.base import spec_from_misc

        if self.first_points:
            return self._propose_first(trial_id)
        new_ids = self.trials.new_trial_ids(1)
        self.trials.refresh()
        logging.getLogger("hyperopt").setLevel(logging.WARNING)  # one INFO line per suggestion
        docs = self._algorithm()(new_ids, self._domain, self.trials,
                                 int(self.rng.integers(2**31 - 1)), **self.algorithm_options)
        self.trials.insert_trial_docs(docs)
        self.trials.refresh()
        self.tids[trial_id] = docs[0]["tid"]
        values = spec_from_misc(docs[0]["misc"])
        return {p.name: from_hyperopt(p, values[p.name]) for p in self.space.params.values()}

    def _observe(self, trial_id: str, config: dict[str, Any], loss: float | None,
                 error: bool) -> None:
        from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, STATUS_FAIL, STATUS_OK

        tid = self.tids.pop(trial_id)
        doc = next(d for d in self.trials._dynamic_trials if d["tid"] == tid)
        if error:
            doc["state"] = JOB_STATE_ERROR
            doc["misc"]["error"] = ("TrialError", "the trial raised (see Ray Tune's log)")
        elif loss is None:
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"status": STATUS_FAIL}
        else:
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"loss": loss, "status": STATUS_OK}
        self.trials.refresh()
