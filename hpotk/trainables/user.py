"""The user's own Ray Tune code as a trainable: ``trainable: "module:object"``.

Three kinds of object run unchanged, told apart by their signature:

- a **function trainable**, Ray Tune's function API: ``def train(config)`` that calls
  ``ray.tune.report(metrics, checkpoint=...)`` and resumes from ``ray.tune.get_checkpoint()``.
  It checkpoints itself, so ``checkpoint.every``/``checkpoint.at_end`` do not apply to it;
- a ``ray.tune.Trainable`` subclass whose ``setup(self, config)`` takes only the config, as
  written for Ray;
- a function or Trainable class that declares a ``context`` parameter
  (``def train(config, context)``, ``def setup(self, config, context=None)``): it also gets
  hpotk's `hpotk.trainables.base.TrainContext` (data, seed, objective, ...), as the built-ins do.

A module next to the experiment file needs no ``PYTHONPATH`` in Ray's workers, on this machine or
on a Slurm cluster's nodes: its modules are sent to the workers by value (cloudpickle's
``register_pickle_by_value``), and the trainable puts the module's directory on the worker's
``sys.path`` before the user's code runs, for what it imports later.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from hpotk.errors import ConfigError

HELP = ("give a function train(config) that calls ray.tune.report(...), or a ray.tune.Trainable "
        "subclass")


def classify(obj: Any, path: str = "trainable", reference: str = "") -> str:
    """``"class"`` or ``"function"``; ConfigError for an object that is no trainable."""
    from ray.tune import Trainable

    name = reference or getattr(obj, "__name__", repr(obj))
    if isinstance(obj, type):
        if issubclass(obj, Trainable):
            return "class"
        raise ConfigError(path, f"{name!r} is the class {obj.__name__}, which is not a "
                                f"ray.tune.Trainable subclass; {HELP}")
    if not callable(obj) or inspect.ismodule(obj):
        raise ConfigError(path, f"{name!r} is of type {type(obj).__name__}, not a trainable; {HELP}")
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return "function"
    try:
        signature.bind({}, **({"context": None} if "context" in signature.parameters else {}))
    except TypeError:
        raise ConfigError(path, f"{name!r} takes {signature}; a function trainable takes the "
                                f"trial's config (and optionally context): def train(config)"
                          ) from None
    return "function"


def wants_context(obj: Any) -> bool:
    """Whether the function, or the class's ``setup``, declares a ``context`` parameter."""
    target = obj.setup if isinstance(obj, type) else obj
    try:
        return "context" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def for_tune(obj: Any, context: Any) -> Any:
    """What the runner gives Tune for ``obj``: the object itself, with hpotk's ``context``
    bound (``tune.with_parameters``) only if it declares it, and, for a module of the user's
    that is not installed, sent by value with its directory put on the workers' ``sys.path``."""
    from ray import tune

    directory = _local_directory(obj)
    trainable = obj
    if directory is not None:
        _send_by_value(directory)
        trainable = _on_path(obj, directory)
    if wants_context(obj):
        trainable = tune.with_parameters(trainable, context=context)
    return trainable


def _local_directory(obj: Any) -> str | None:
    """The ``sys.path`` entry ``obj``'s module was found under, if it is no installed module
    (not under site-packages, not hpotk itself)."""
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    file = getattr(module, "__file__", None)
    if module is None or file is None or module.__name__.split(".")[0] == "hpotk":
        return None
    path = Path(file).resolve()
    if "site-packages" in path.parts or "dist-packages" in path.parts:
        return None
    depth = len(module.__name__.split(".")) + (path.name == "__init__.py")
    return str(path.parents[depth - 1])


def _send_by_value(directory: str) -> None:
    """Pickle the modules under ``directory`` by value, so workers need not import them."""
    from ray import cloudpickle

    root = Path(directory)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if "." in name or not file or name == "hpotk":
            continue
        path = Path(file).resolve()
        if path.parent == root or (path.name == "__init__.py" and path.parent.parent == root):
            cloudpickle.register_pickle_by_value(module)


def add_to_path(directory: str) -> None:
    """On a worker: make the user's modules next to the experiment importable."""
    if directory not in sys.path:
        sys.path.insert(0, directory)


def _on_path(obj: Any, directory: str) -> Any:
    if isinstance(obj, type):
        class OnPath(obj):  # type: ignore[misc, valid-type]
            def setup(self, config: dict[str, Any], **kwargs: Any) -> None:
                add_to_path(directory)
                super().setup(config, **kwargs)

        OnPath.__name__, OnPath.__qualname__ = obj.__name__, obj.__qualname__
        return OnPath

    def trainable(config: dict[str, Any], **kwargs: Any) -> Any:
        add_to_path(directory)
        return obj(config, **kwargs)

    trainable.__name__ = getattr(obj, "__name__", "trainable")
    return trainable
