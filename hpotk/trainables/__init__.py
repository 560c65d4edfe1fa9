"""Trainables: what a trial runs. Built-in names, ``"pkg.module:Class"``, or ``{command: [...]}``.

Every built-in is a `hpotk.trainables.base.TorchTrainable` (a ``ray.tune.Trainable`` class);
the runner passes it a `TrainContext` through ``tune.with_parameters``.
"""

from __future__ import annotations

import importlib
from typing import Any

from hpotk.errors import ConfigError
from hpotk.registry import Registry

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
)


def resolve(spec: Any, path: str = "trainable") -> type:
    """The Trainable class for a built-in name or a ``"pkg.module:Class"`` reference."""
    if isinstance(spec, str) and ":" in spec and spec not in TRAINABLES:
        module_name, _, attribute = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(path, f"cannot import module {module_name!r} of {spec!r}: {exc}") from None
        if not hasattr(module, attribute):
            raise ConfigError(path, f"module {module_name!r} has no attribute {attribute!r}")
        return getattr(module, attribute)
    if isinstance(spec, str):
        return TRAINABLES.resolve(spec, path)
    raise ConfigError(path, f"expected a trainable name or 'pkg.module:Class', got {spec!r}")
