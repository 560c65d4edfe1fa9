"""Truncation selection, as Azure ML defines it: at each evaluation interval, cancel
the lowest ``truncation_percentage`` percent of trials by their primary metric at that interval.

At an evaluation interval ``t`` (see `hpotk.schedulers.early_termination`) the population is every
trial that has reached ``t`` (the trial included); with ``exclude_finished_jobs`` the trials that
have ended (completed, stopped or errored) are left out. Each member's performance is its metric
at interval ``t``. With ``n`` members the lowest ``k = floor(n * truncation_percentage / 100)`` are
cancelled: trial ``i`` stops when at most ``k`` members (``i`` included) are no better than it.
Ties are kept (a tie that straddles the cut stops nobody), so never more than ``k`` stop. Seed
003's example (``truncation_percentage=20, delay_evaluation=5``): at interval 5 a trial in the
lowest 20% of the trials' interval-5 values stops.

The decision about trial ``i`` is made when ``i`` reports ``t`` (Ray's protocol): the first trials
to reach an interval face a small population, so early arrivals are rarely cut.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers.early_termination import (
    INTERVAL_OPTIONS,
    IntervalPolicy,
    interval_settings,
    when,
)

OPTIONS = {**INTERVAL_OPTIONS, "truncation_percentage": int, "exclude_finished_jobs": bool}


class TruncationSelectionPolicy(IntervalPolicy):
    """Stop a trial in the lowest ``truncation_percentage`` percent at an evaluation interval."""

    def __init__(self, truncation_percentage: int = 20, exclude_finished_jobs: bool = False,
                 **interval: Any):
        super().__init__(**interval)
        self.truncation_percentage = truncation_percentage
        self.exclude_finished_jobs = exclude_finished_jobs

    def should_stop(self, trial_id: str, t: float) -> bool:
        members = [other for other in self.reached(t)
                   if other == trial_id or not (self.exclude_finished_jobs
                                                and other in self.ended)]
        cut = math.floor(len(members) * self.truncation_percentage / 100)
        mine = self.history[trial_id].at(t)
        no_better = sum(1 for other in members if self.history[other].at(t) <= mine)
        return no_better <= cut


def _settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, Any]:
    check_options(options, OPTIONS, ctx.path)
    s: dict[str, Any] = interval_settings(ctx, options)
    pct = options.get("truncation_percentage")
    if pct is None:
        raise ConfigError(f"{ctx.path}.truncation_percentage",
                          "required: the percentage (1..99) of the lowest trials to cancel at "
                          "each evaluation interval")
    if not 1 <= pct <= 99:
        raise ConfigError(f"{ctx.path}.truncation_percentage",
                          f"must be an integer from 1 to 99, got {pct}")
    s["truncation_percentage"] = pct
    s["exclude_finished_jobs"] = bool(options.get("exclude_finished_jobs") or False)
    return s


def build(ctx: SchedulerContext, **options: Any) -> TruncationSelectionPolicy:
    return TruncationSelectionPolicy(time_attr=ctx.time_attr, **_settings(ctx, options))


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    who = "running trials" if s["exclude_finished_jobs"] else "trials (finished ones included)"
    return {"summary": f"truncation selection {when(s)}: stop a trial whose {ctx.metric} there is "
                       f"in the lowest {s['truncation_percentage']}% of the {who} that reached it"}
