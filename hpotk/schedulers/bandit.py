"""Bandit policy, as Azure ML defines it: stop a trial that is not within a slack of
the best trial.

At an evaluation interval ``t`` (see `hpotk.schedulers.early_termination`), let ``best`` be the
trial's best primary metric over intervals ``1..t`` and ``ref`` the best such value among all
trials that have reached ``t`` (the trial included, running or ended). The trial is stopped when
``best`` is strictly outside the slack:

- ``slack_factor`` ``s``, mode max: ``best < ref / (1 + s)``. Azure ML's worked example: the best
  trial reports 0.8 at interval 10, ``s = 0.2``: trials whose best is below 0.8/1.2 = 0.667 stop.
- ``slack_factor`` ``s``, mode min (hpotk's reading, the mirror image: the better/worse ratio may
  not exceed ``1 + s`` either way): ``best > ref * (1 + s)``.
  For metrics that can be negative the same distances are taken from ``|ref|``: max stops below
  ``ref - |ref| * s / (1 + s)``, min stops above ``ref + |ref| * s``; for ``ref > 0`` these are the
  two rules above.
- ``slack_amount`` ``a`` (an absolute distance): max stops below ``ref - a``, min above ``ref + a``.

Exactly one of ``slack_factor`` and ``slack_amount`` must be given.
"""

from __future__ import annotations

from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers.early_termination import (
    INTERVAL_OPTIONS,
    WORST,
    IntervalPolicy,
    interval_settings,
    when,
)

OPTIONS = {**INTERVAL_OPTIONS, "slack_factor": (int, float), "slack_amount": (int, float)}


class BanditPolicy(IntervalPolicy):
    """Stop a trial whose best so far is outside the slack of the best trial's best."""

    def __init__(self, slack_factor: float | None = None, slack_amount: float | None = None,
                 **interval: Any):
        super().__init__(**interval)
        if (slack_factor is None) == (slack_amount is None):
            raise ValueError("give exactly one of slack_factor and slack_amount")
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount

    def threshold(self, ref: float) -> float:
        """The metric value beyond which a trial stops, given the best trial's value ``ref``."""
        if self.slack_amount is not None:
            return ref - self.slack_amount if self._mode == "max" else ref + self.slack_amount
        s = self.slack_factor
        if self._mode == "max":
            return ref - abs(ref) * s / (1 + s)  # = ref / (1 + s) for ref > 0
        return ref + abs(ref) * s  # = ref * (1 + s) for ref > 0

    def should_stop(self, trial_id: str, t: float) -> bool:
        refs = [self.history[other].best_upto(t) for other in self.reached(t)]
        ref = max(refs, default=WORST)
        if ref == WORST:
            return False  # no finite value yet: nothing to compare against
        best = self.history[trial_id].best_upto(t)
        if best == WORST:
            return True  # only NaN/inf so far, while another trial has a real value
        limit = self.threshold(self.raw(ref))
        value = self.raw(best)
        return value < limit if self._mode == "max" else value > limit


def _settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, Any]:
    check_options(options, OPTIONS, ctx.path)
    s: dict[str, Any] = interval_settings(ctx, options)
    factor, amount = options.get("slack_factor"), options.get("slack_amount")
    if (factor is None) == (amount is None):
        got = "both" if factor is not None else "neither"
        raise ConfigError(f"{ctx.path}.slack_factor",
                          f"give exactly one of slack_factor (a ratio, e.g. 0.1) and slack_amount "
                          f"(an absolute distance in the metric's units); got {got}")
    if factor is not None and factor <= 0:
        raise ConfigError(f"{ctx.path}.slack_factor", f"must be > 0, got {factor}")
    if amount is not None and amount < 0:
        raise ConfigError(f"{ctx.path}.slack_amount", f"must be >= 0, got {amount}")
    s["slack_factor"], s["slack_amount"] = factor, amount
    return s


def build(ctx: SchedulerContext, **options: Any) -> BanditPolicy:
    return BanditPolicy(time_attr=ctx.time_attr, **_settings(ctx, options))


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    if s["slack_factor"] is not None:
        f = s["slack_factor"]
        rule = (f"below best/(1+{f:g})" if ctx.mode == "max" else f"above best*(1+{f:g})")
    else:
        a = s["slack_amount"]
        rule = f"below best-{a:g}" if ctx.mode == "max" else f"above best+{a:g}"
    return {"summary": f"bandit {when(s)}: stop a trial whose best {ctx.metric} so far is {rule}, "
                       f"best being the best trial's best so far"}
