"""FIFO: run every trial to the end (``budget.max_t``); no early stopping."""

from __future__ import annotations

from typing import Any

from hpotk.options import check_options
from hpotk.schedulers import SchedulerContext

#: stops nothing early: any number of objectives
MULTI_OBJECTIVE = True


def build(ctx: SchedulerContext, **options: Any) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    check_options(options, {}, ctx.path)
    return FIFOScheduler()


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    check_options(options, {}, ctx.path)
    return {"rungs": [], "summary": f"every trial runs to max_t={ctx.max_t}"}
