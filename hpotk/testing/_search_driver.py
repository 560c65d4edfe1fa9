"""Drive any hpotk `SearchPlan` without Ray's Tuner, the way Tune's controller would.

A ``ray.tune.search.Searcher`` (sobol, tpe, anneal, bo, a plug-in) is called directly: first
``set_search_properties(metric, mode, param_space)`` as Tune does when the param_space is not
empty (a Searcher without a space of its own takes the Ray domains from it), then ``suggest`` /
``on_trial_result`` / ``on_trial_complete``; its suggestion is merged over the plan's
``param_space`` (the fixed values) as Tune's SearchGenerator does. A ``BasicVariantGenerator``
(random, grid) gets the plan's ``param_space`` through ``add_configurations`` and is asked with
``next_trial()``. Either way the test sees ``suggest() -> (trial_id, config)`` and
``complete(trial_id, result | None, error)``.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.sample import Domain

from hpotk.searchers import SearchPlan


def has_domains(param_space: dict[str, Any]) -> bool:
    """Whether the (flat) param_space holds a space for Tune to search, not only values."""
    return any(isinstance(v, Domain) or (isinstance(v, dict) and "grid_search" in v)
               for v in param_space.values())


def _noop(config: dict[str, Any]) -> None:  # the trainable is never run
    return None


class Driver:
    """One experiment's search, driven by hand.

    Args:
        plan: a freshly built plan.
        restore_from: a directory written by `save`: the plan's algorithm is restored from it
            (Tune's ``restore_from_dir``) instead of starting afresh.
        metric, mode: the objective, given to a Searcher through ``set_search_properties``.
    """

    def __init__(self, plan: SearchPlan, restore_from: str | None = None,
                 metric: str | None = None, mode: str | None = None):
        self.plan = plan
        self.alg = plan.search_alg
        self.is_generator = isinstance(self.alg, BasicVariantGenerator)
        assert self.is_generator or isinstance(self.alg, Searcher), type(self.alg)
        self.n_suggested = 0
        if metric is not None and not self.is_generator and plan.param_space:
            accepted = self.alg.set_search_properties(metric, mode, dict(plan.param_space))
            # what Tune refuses: a space in param_space that the searcher does not take
            assert accepted or not has_domains(plan.param_space), \
                "the searcher refused the space in param_space (set_search_properties: False)"
        if restore_from is not None:
            self.alg.restore_from_dir(restore_from)
            # trial ids must not repeat after a restore
            self.n_suggested = json.loads(Path(restore_from, "driver.json").read_text())["n"]
        elif self.is_generator:
            self.alg.add_configurations({"conformance": {
                "run": _noop, "config": plan.param_space, "num_samples": plan.num_samples}})

    def suggest(self) -> tuple[str, dict[str, Any]] | None:
        if self.is_generator:
            trial = self.alg.next_trial()
            if trial is None:
                return None
            self.n_suggested += 1
            return trial.trial_id, dict(trial.config)
        trial_id = f"trial_{self.n_suggested:04d}"
        config = self.alg.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return None
        self.n_suggested += 1
        return trial_id, {**self.plan.param_space, **config}

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.alg.on_trial_result(trial_id, result)

    def complete(self, trial_id: str, result: dict[str, Any] | None = None,
                 error: bool = False) -> None:
        self.alg.on_trial_complete(trial_id, result=result, error=error)

    def save(self, dirpath: str) -> None:
        """Checkpoint the search state as Tune does (``save_to_dir``)."""
        self.alg.save_to_dir(dirpath, session_str="conformance")
        Path(dirpath, "driver.json").write_text(json.dumps({"n": self.n_suggested}))

    def clone_by_pickle(self) -> Driver:
        """A copy made by pickling: an hpotk searcher itself (plain pickle), or a generator's
        state."""
        if self.is_generator:
            import cloudpickle  # what Ray checkpoints a generator's state with (argparse inside)

            fresh = BasicVariantGenerator()
            fresh.set_state(pickle.loads(cloudpickle.dumps(self.alg.get_state())))
            alg = fresh
        else:
            alg = pickle.loads(pickle.dumps(self.alg))
        twin = Driver.__new__(Driver)  # a copy of a Driver already past set_search_properties
        twin.plan = SearchPlan(alg, self.plan.param_space, self.plan.num_samples)
        twin.alg, twin.is_generator, twin.n_suggested = alg, self.is_generator, self.n_suggested
        return twin
