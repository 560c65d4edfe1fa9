"""Async HyperBand: ASHA run over several brackets (Li et al. 2020, section 3.2).

Bracket ``s`` starts its rungs at ``grace_period * reduction_factor**s``, so higher brackets stop
trials later and less often. Ray assigns each new trial to a bracket at random with probability
proportional to ``exp(number of rungs of the bracket)`` (a softmax), which `describe` reproduces.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers.asha import OPTIONS as ASHA_OPTIONS
from hpotk.schedulers.asha import bracket_plan, rung_count, settings

OPTIONS = {**ASHA_OPTIONS, "brackets": int}


def _settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, Any]:
    s = settings(ctx, options, OPTIONS, defaults={"brackets": 3})
    most = rung_count(s["grace_period"], s["reduction_factor"], s["max_t"])
    if not 1 <= s["brackets"] <= max(most, 1):
        raise ConfigError(
            f"{ctx.path}.brackets",
            f"must be between 1 and {max(most, 1)} for grace_period={s['grace_period']}, "
            f"reduction_factor={s['reduction_factor']}, max_t={s['max_t']} (a bracket beyond "
            f"that has no rung), got {s['brackets']}")
    return s


def build(ctx: SchedulerContext, **options: Any) -> Any:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    s = _settings(ctx, options)
    return AsyncHyperBandScheduler(time_attr=ctx.time_attr, **s)


def bracket_probabilities(grace_period: int, reduction_factor: float, max_t: int,
                          brackets: int) -> list[float]:
    """Probability that Ray puts a new trial into each bracket."""
    sizes = [rung_count(grace_period, reduction_factor, max_t, s) for s in range(brackets)]
    weights = [math.exp(n - max(sizes)) for n in sizes]
    return [w / sum(weights) for w in weights]


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    g, eta, max_t = s["grace_period"], s["reduction_factor"], s["max_t"]
    probs = bracket_probabilities(g, eta, max_t, s["brackets"])
    brackets = [
        {"bracket": b, "probability": round(p, 3), "expected_trials": round(ctx.trials * p, 1),
         "rungs": bracket_plan(ctx.trials * p, g, eta, max_t, b)}
        for b, p in enumerate(probs)
    ]
    return {
        "brackets": brackets,
        "summary": f"{s['brackets']} asynchronous brackets, reduction_factor {eta}: within its "
                   f"bracket a trial continues past a rung only in the top 1/{eta}; "
                   f"all stop at max_t={max_t}",
    }
