"""Schedulers: when to stop, pause or perturb a trial. One module per policy, reached by name.

Each module defines ``build(ctx: ScheduleContext, **options) -> ray.tune.schedulers.TrialScheduler``
and may define ``describe(ctx, **options) -> dict`` for `hpotk plan` (rungs, brackets, ...).
Options are the keys of ``strategy.scheduler`` besides ``name``; unknown ones are refused with
`hpotk.options.check_options`. Metric and mode reach the scheduler through the TuneConfig (Ray's
``set_search_properties``); do not pass them to the Ray constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpotk.registry import Registry
from hpotk.space.param import Space

SCHEDULERS = Registry(
    "scheduler",
    {
        "fifo": "hpotk.schedulers.fifo:build",
        "asha": "hpotk.schedulers.asha:build",
    },
)


@dataclass
class ScheduleContext:
    """What a scheduler may know about the experiment."""

    space: Space
    metric: str
    mode: str  # "min" | "max"
    max_t: int  # most training iterations (evaluations) a trial may run
    trials: int = 10
    seed: int = 0
    time_attr: str = "training_iteration"
    path: str = "strategy.scheduler"  # key path for error messages


def make(name: str, ctx: ScheduleContext, options: dict[str, Any] | None = None) -> Any:
    build = SCHEDULERS.resolve(name, ctx.path)
    return build(ctx, **(options or {}))


def describe(name: str, ctx: ScheduleContext, options: dict[str, Any] | None = None) -> dict:
    """The scheduler's plan for `hpotk plan`; ``{"scheduler": name}`` if it has none."""
    import importlib

    SCHEDULERS.resolve(name, ctx.path)  # validates the name
    module = importlib.import_module(SCHEDULERS._entries[name].partition(":")[0])
    info: dict[str, Any] = {"scheduler": name}
    if hasattr(module, "describe"):
        info.update(module.describe(ctx, **(options or {})))
    return info
