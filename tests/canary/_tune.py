"""Helpers of the canaries in this directory. Canaries: one test per private attribute, signature or behaviour of another library that
hpotk relies on (STYLE 12, "Pin what you borrow"). Each fails with `moved`'s message: what
moved, which hpotk feature breaks, and where to look. ``pytest -k canary`` runs them all.

Tune's controller is built here without a Ray cluster (nothing in these tests starts Ray): its
default resource manager and a `SearchGenerator` need none, and a `StorageContext` whose
staging directory is a temporary directory stands in for the one under Ray's session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def moved(api: str, feature: str, where: str) -> str:
    """The message of a failed canary."""
    return (f"{api} is not what hpotk relies on (pinned against Ray 2.60, dragonfly-opt 0.1.7, "
            f"hyperopt 0.3, pydantic 2, Python 3.11): {feature} breaks. Look at {where}")


def controller(tmp_path: Path, **kwargs: Any) -> Any:
    """A real ``TuneController`` with a local storage and a searcher that suggests nothing."""
    from ray.train._internal.storage import StorageContext
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.search import Searcher, SearchGenerator

    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)

    class LocalStaging(StorageContext):
        @property
        def experiment_driver_staging_path(self) -> str:  # Ray's is under its session dir
            return str(staging)

    class Nothing(Searcher):
        def suggest(self, trial_id: str) -> None:
            return None

    storage = LocalStaging(storage_path=str(tmp_path), experiment_dir_name="exp")
    kwargs.setdefault("search_alg", SearchGenerator(Nothing()))
    return TuneController(storage=storage, **kwargs)


def stub_trial(trial_id: str, storage: Any, **config: Any) -> Any:
    """A Trial as the schedule harness makes them (stub: no trainable registered)."""
    from ray.tune import PlacementGroupFactory
    from ray.tune.experiment import Trial

    return Trial("sim", config=dict(config), trial_id=trial_id, stub=True, storage=storage,
                 experiment_tag=trial_id,
                 placement_group_factory=PlacementGroupFactory([{"CPU": 1}]))
