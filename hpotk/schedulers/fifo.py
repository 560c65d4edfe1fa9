"""FIFO: run every trial to the end (``budget.max_t``); no early stopping."""

from __future__ import annotations

from typing import Any

from hpotk.schedulers import ScheduleContext


def build(ctx: ScheduleContext) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def describe(ctx: ScheduleContext) -> dict:
    return {"rungs": [], "summary": f"every trial runs to max_t={ctx.max_t}"}
