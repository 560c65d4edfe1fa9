"""Schedulers: when to stop, pause or perturb a trial. One module per policy, reached by name.

Each module defines ``build(ctx: ScheduleContext, **options) -> ray.tune.schedulers.TrialScheduler``
and ``describe(ctx, **options) -> dict`` for `hpotk plan` (rungs, brackets, the stopping rule).
Options are the keys of ``strategy.scheduler`` besides ``name``; unknown ones are refused with
`hpotk.options.check_options`. Metric and mode reach the scheduler through the TuneConfig (Ray's
``set_search_properties``); do not pass them to the Ray constructor.

A module that sets ``REQUIRES_CHECKPOINTING = True`` (pbt) needs every trial to checkpoint: the
runner asks `requires_checkpointing(name)` and configures checkpoints before it starts Tune.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from hpotk.registry import Registry
from hpotk.space.param import Space

SCHEDULERS = Registry(
    "scheduler",
    {
        "fifo": "hpotk.schedulers.fifo:build",
        "asha": "hpotk.schedulers.asha:build",
        "ahb": "hpotk.schedulers.ahb:build",
        "hyperband": "hpotk.schedulers.hyperband:build",
        "pbt": "hpotk.schedulers.pbt:build",
        "median": "hpotk.schedulers.median:build",
        "bandit": "hpotk.schedulers.bandit:build",
        "truncation": "hpotk.schedulers.truncation:build",
    },
)


@dataclass
class ScheduleContext:
    """What a scheduler may know about the experiment.

    ``searcher`` is the name of the searcher paired with the scheduler, when known: pbt refuses
    searchers Ray cannot combine with it (anything but random/grid).
    """

    space: Space
    metric: str
    mode: str  # "min" | "max"
    max_t: int  # most training iterations (evaluations) a trial may run
    trials: int = 10
    seed: int = 0
    time_attr: str = "training_iteration"
    path: str = "strategy.scheduler"  # key path for error messages
    searcher: str | None = None


def make(name: str, ctx: ScheduleContext, options: dict[str, Any] | None = None) -> Any:
    build = SCHEDULERS.resolve(name, ctx.path)
    return build(ctx, **(options or {}))


def _module(name: str, path: str = "") -> ModuleType:
    SCHEDULERS.resolve(name, path)  # validates the name (ConfigError listing the choices)
    return importlib.import_module(SCHEDULERS._entries[name].partition(":")[0])


def describe(name: str, ctx: ScheduleContext, options: dict[str, Any] | None = None) -> dict:
    """The scheduler's plan for `hpotk plan`; ``{"scheduler": name}`` if it has none."""
    module = _module(name, ctx.path)
    info: dict[str, Any] = {"scheduler": name}
    if hasattr(module, "describe"):
        info.update(module.describe(ctx, **(options or {})))
    return info


def requires_checkpointing(name: str) -> bool:
    """Whether trials run under scheduler ``name`` must checkpoint (PBT copies weights)."""
    return bool(getattr(_module(name), "REQUIRES_CHECKPOINTING", False))
