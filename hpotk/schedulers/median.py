"""Median stopping, as Azure ML defines it.

At an evaluation interval ``t`` (see `hpotk.schedulers.early_termination`), trial ``i`` is stopped
when its best primary metric over intervals ``1..t`` is strictly worse than the median, over all
trials that have reached ``t`` (``i`` included, running or ended), of each trial's running average
over intervals ``1..t``. Azure ML's example: ``delay_evaluation=5, evaluation_interval=1`` stops a
trial at interval 5 if its best metric is worse than the median of the 1:5 running averages.

Unlike Ray's `MedianStoppingRule`, the trial itself is in the median, ended trials count only
with their history up to ``t``, and there is no minimum number of trials: a trial alone is never
stopped (its best is never worse than its own average).
"""

from __future__ import annotations

import statistics
from typing import Any

from hpotk.options import check_options
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers.early_termination import (
    INTERVAL_OPTIONS,
    IntervalPolicy,
    interval_settings,
    when,
)

OPTIONS = dict(INTERVAL_OPTIONS)


class MedianStoppingPolicy(IntervalPolicy):
    """Stop a trial whose best so far is worse than the median of all running averages."""

    def should_stop(self, trial_id: str, t: float) -> bool:
        averages = [self.history[other].mean_upto(t) for other in self.reached(t)]
        averages = [a for a in averages if a is not None]
        if not averages:
            return False
        return self.history[trial_id].best_upto(t) < statistics.median(averages)


def _settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, int]:
    check_options(options, OPTIONS, ctx.path)
    return interval_settings(ctx, options)


def build(ctx: SchedulerContext, **options: Any) -> MedianStoppingPolicy:
    return MedianStoppingPolicy(time_attr=ctx.time_attr, **_settings(ctx, options))


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    return {"summary": f"median stopping {when(s)}: stop a trial whose best {ctx.metric} so far is "
                       f"worse than the median of all trials' running averages up to then"}
