"""Schedulers: when to stop, pause or perturb a trial. One module per policy, reached by name.

Each module defines ``build(ctx: ScheduleContext, **options) -> ray.tune.schedulers.TrialScheduler``
and ``describe(ctx, **options) -> dict`` for `hpotk plan` (rungs, brackets, the stopping rule).
Options are the keys of ``strategy.scheduler`` besides ``name``; unknown ones are refused with
`hpotk.options.check_options`. Metric and mode reach the scheduler through the TuneConfig (Ray's
``set_search_properties``); do not pass them to the Ray constructor.

Checkpoint needs are said in one place, each module's optional
``checkpoint_every(ctx, **options) -> int``: a module that defines it needs trials that can
checkpoint (pbt copies weights, synchronous hyperband pauses trials); the number is how often
they must (every N iterations; 0: only when the scheduler pauses them). `plan` returns it with
the scheduler, and the runner turns checkpoints on (or refuses a trainable that cannot save).
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


@dataclass
class SchedulePlan:
    """A built scheduler with what the runner must know about it.

    Attributes:
        scheduler: the ``ray.tune.schedulers.TrialScheduler``.
        info: its plan for `hpotk plan` (rungs, brackets, mutations, the rule).
        checkpoint_every: None if trials need not checkpoint; else every how many iterations
            they must (0: only when the scheduler pauses them).
    """

    name: str
    scheduler: Any
    info: dict[str, Any]
    checkpoint_every: int | None = None

    @property
    def needs_checkpoints(self) -> bool:
        return self.checkpoint_every is not None


def make(name: str, ctx: ScheduleContext, options: dict[str, Any] | None = None) -> Any:
    """The Ray scheduler ``name`` built with ``options`` (ConfigError for bad ones)."""
    build = SCHEDULERS.resolve(name, ctx.path)
    return build(ctx, **(options or {}))


def plan(name: str, ctx: ScheduleContext, options: dict[str, Any] | None = None) -> SchedulePlan:
    """Build and check the scheduler once, with its description and checkpoint needs."""
    scheduler = make(name, ctx, options)
    return SchedulePlan(name, scheduler, describe(name, ctx, options),
                        checkpoint_every(name, ctx, options))


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


def checkpoint_every(name: str, ctx: ScheduleContext,
                     options: dict[str, Any] | None = None) -> int | None:
    """How often trials under scheduler ``name`` must checkpoint; None if they need not."""
    module = _module(name, ctx.path)
    if not hasattr(module, "checkpoint_every"):
        return None
    return int(module.checkpoint_every(ctx, **(options or {})))


def requires_checkpointing(name: str) -> bool:
    """Whether trials run under scheduler ``name`` must be able to checkpoint."""
    return hasattr(_module(name), "checkpoint_every")
