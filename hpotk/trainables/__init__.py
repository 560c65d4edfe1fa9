"""Trainables: what a trial runs. Built-in names, ``"module:object"``, or ``{command: [...]}``.

Every built-in is a `hpotk.trainables.base.TorchTrainable` (a ``ray.tune.Trainable`` class that
takes a `TrainContext`), and reports what each result cost (``epoch_s``, ``params``,
``peak_mem_mb``; `hpotk.trainables.cost`, which also tells an out-of-memory death from its error
text). A ``"module:object"`` reference names the user's own Ray Tune code: a
function trainable, a Trainable class, or either of them taking hpotk's context
(`hpotk.trainables.user`). `for_tune` gives Tune each of them in the form it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpotk.registry import Registry


def _check_user_trainable(obj: Any, path: str, reference: str) -> None:
    from hpotk.trainables.user import classify

    classify(obj, path, reference)


TRAINABLES = Registry(
    "trainable",
    {
        "mlp-digits": "hpotk.trainables.digits:DigitsMLP",
        "rgcn": "hpotk.trainables.rgcn:RGCNTrainable",
        "transe": "hpotk.trainables.kge:TransETrainable",
        "distmult": "hpotk.trainables.kge:DistMultTrainable",
        "rotate": "hpotk.trainables.kge:RotatETrainable",
        "cgcnn": "hpotk.trainables.cgcnn:CGCNNTrainable",
    },
    plugin=_check_user_trainable,
)


def check(spec: str, path: str = "trainable", base_dir: str | Path | None = None) -> str:
    """``spec`` checked without running anything: a built-in name as it is, a reference
    imported and checked to be a trainable, its file path made absolute."""
    return TRAINABLES.canonical(spec, path, base_dir)


def resolve(spec: Any, path: str = "trainable", base_dir: str | Path | None = None) -> Any:
    """The Trainable class or function trainable for a built-in name or a reference."""
    from hpotk.errors import ConfigError

    if not isinstance(spec, str):
        raise ConfigError(path, f"expected a trainable name or 'module:object', got {spec!r}")
    return TRAINABLES.resolve(spec, path, base_dir)


def is_function(obj: Any) -> bool:
    """A function trainable (it reports and checkpoints itself through ``ray.tune.report``)."""
    return not isinstance(obj, type)


def checkpoints_itself(spec: Any) -> bool:
    """Whether ``spec`` names a function trainable: it checkpoints itself through
    ``ray.tune.report(metrics, checkpoint=...)``, so Tune's checkpoint settings do not apply."""
    return isinstance(spec, str) and TRAINABLES.is_plugin(spec) and is_function(resolve(spec))


def overrides_reset_config(cls: type) -> bool:
    """Whether a Trainable class resets itself for a new trial (overrides ``reset_config``)."""
    from ray.tune import Trainable

    return getattr(cls, "reset_config", None) is not Trainable.reset_config


def reuses_actors(spec: Any, setting: bool | str = "auto", path: str = "reuse_actors") -> bool:
    """``reuse_actors`` resolved for trainable ``spec`` (a name, reference or command mapping).

    ``auto``: on for the built-ins and command trainables (their ``reset_config`` rebuilds the
    trial from scratch), for function trainables (Ray restarts the function), and for a user's
    Trainable class only if it overrides ``reset_config``. ``true`` on a class without one is
    refused: Ray would log "Could not re-use actor" and leave the trial waiting forever.
    """
    from hpotk.errors import ConfigError

    if setting is False:
        return False
    if not isinstance(spec, str) or not TRAINABLES.is_plugin(spec):
        return True
    obj = resolve(spec)
    if is_function(obj) or overrides_reset_config(obj):
        return True
    if setting == "auto":
        return False
    raise ConfigError(path, f"true needs a Trainable class that implements reset_config(self, "
                            f"new_config) and returns True, and {spec!r} does not; set "
                            f"reuse_actors: auto (or false) to start a fresh actor per trial")


def for_tune(obj: Any, context: Any) -> Any:
    """What to give Tune for ``obj`` (see `hpotk.trainables.user.for_tune`)."""
    from hpotk.trainables.user import for_tune as user_for_tune

    return user_for_tune(obj, context)
