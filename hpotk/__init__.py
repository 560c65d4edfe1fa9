"""hpotk: hyperparameter optimisation for PyTorch and GNN models, on Ray Tune.

The Python API (`hpotk.api`): ``hpotk.load(path, overrides=[...])``, ``hpotk.run(exp)``,
``hpotk.results.load(dir)`` and ``hpotk.tuner(exp)``.

Importing hpotk is cheap: Ray, torch and friends are imported inside the functions that use them,
and the API's names are imported on first use.

The package's layers, top to bottom (a module imports only from layers below it; the
import-linter contracts in pyproject.toml check it): the CLI and the Python API; the workflows
(`slurm`, `replay`, `study`, `pbt`, `reporting`); running an experiment (`runner`, `summary`,
the Tune callbacks, `recovery`, `state`); the plan and the spec (`plan`, `experiment`); the
results (`results`); the building blocks (`schedulers`, `searchers`, `trainables`, `space`,
`data`, `models`, `metrics`, `lr_schedule`); and the base (`layout`, the one owner of the
results-directory format; `_config`; `errors`). See docs/development.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from hpotk.errors import ConfigError, HpotkError
from hpotk.report import report

__all__ = ["ConfigError", "Experiment", "HpotkError", "load", "report", "results", "run",
           "tuner", "__version__"]
__version__ = "0.1.0"

_LAZY = {"load": "hpotk.api", "run": "hpotk.api", "tuner": "hpotk.api",
         "Experiment": "hpotk.experiment"}
_SUBMODULES = ("results", "testing")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"hpotk.{name}")
    raise AttributeError(f"module 'hpotk' has no attribute {name!r}")
