"""ASHA: asynchronous successive halving with one bracket (Li et al. 2020).

A trial reaching rung k (``grace_period * reduction_factor**k`` iterations) continues only if its
result is in the top ``1/reduction_factor`` of the results recorded at that rung so far; every
trial stops at ``max_t``. Ray's `AsyncHyperBandScheduler` with ``brackets=1``; `hpotk.schedulers.ahb`
is the same with several brackets.

This is the *stopping* type (``type: stopping``, the default). The *promotion* type, which pauses
trials at rungs and promotes them later, is its own scheduler, ``asha_promotion``
(`hpotk.schedulers.promotion`): it also changes how many trials the searcher may create at once,
which hpotk decides from the scheduler's name.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.schedulers import SchedulerContext

OPTIONS = {"grace_period": int, "reduction_factor": (int, float), "max_t": int,
           "stop_last_trials": bool}


def settings(ctx: SchedulerContext, options: dict[str, Any], allowed: dict | None = None,
             defaults: dict | None = None) -> dict[str, Any]:
    """Checked settings of an async successive-halving scheduler (asha, ahb)."""
    allowed = allowed or OPTIONS
    check_options(options, allowed, ctx.path)
    s = {"grace_period": 1, "reduction_factor": 3, "max_t": ctx.max_t}
    if "stop_last_trials" in allowed:
        s["stop_last_trials"] = True
    s.update(defaults or {})
    s.update({k: v for k, v in options.items() if v is not None})
    if s["grace_period"] < 1:
        raise ConfigError(f"{ctx.path}.grace_period", f"must be >= 1, got {s['grace_period']}")
    if s["reduction_factor"] <= 1:
        raise ConfigError(f"{ctx.path}.reduction_factor",
                          f"must be > 1, got {s['reduction_factor']}")
    if s["max_t"] < s["grace_period"]:
        raise ConfigError(f"{ctx.path}.max_t",
                          f"max_t {s['max_t']} must be >= grace_period {s['grace_period']}")
    return s


def _stopping_type(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, Any]:
    """The options without ``type``, which may only say ``stopping`` (this scheduler)."""
    options = dict(options)
    kind = options.pop("type", None)
    if kind in (None, "stopping"):
        return options
    if kind == "promotion":
        raise ConfigError(
            f"{ctx.path}.type",
            "promotion-type ASHA is the scheduler asha_promotion: write `scheduler: {name: "
            "asha_promotion}` (or strategy: asha_promotion/random) with the same grace_period, "
            "reduction_factor and max_t")
    raise ConfigError(f"{ctx.path}.type", f"must be 'stopping' (this scheduler) or 'promotion' "
                                          f"(the scheduler asha_promotion), got {kind!r}")


def build(ctx: SchedulerContext, **options: Any) -> Any:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    s = settings(ctx, _stopping_type(ctx, options))
    return AsyncHyperBandScheduler(time_attr=ctx.time_attr, brackets=1, **s)


def rung_count(grace_period: int, reduction_factor: float, max_t: int, bracket: int = 0) -> int:
    """How many rungs Ray's async bracket ``bracket`` has (its own formula, milestones <= max_t)."""
    n = int(math.log(max_t / grace_period) / math.log(reduction_factor) - bracket + 1)
    return max(n, 0)


def rungs(grace_period: int, reduction_factor: float, max_t: int, bracket: int = 0) -> list[int]:
    """Iterations at which bracket ``bracket`` compares trials, below max_t (ascending).

    A rung at a fractional milestone acts at the first iteration >= the milestone.
    """
    levels = []
    for k in range(rung_count(grace_period, reduction_factor, max_t, bracket)):
        milestone = grace_period * reduction_factor ** (k + bracket)
        if milestone < max_t:
            levels.append(math.ceil(milestone - 1e-9))
    return levels


def bracket_plan(trials: float, grace_period: int, reduction_factor: float, max_t: int,
                 bracket: int = 0) -> list[dict]:
    """Rungs of one bracket and the expected number of its ``trials`` that reach each one.

    In the long run a fraction ``1/reduction_factor`` of the trials at a rung pass it.
    """
    levels = rungs(grace_period, reduction_factor, max_t, bracket) + [max_t]
    return [{"iterations": t, "expected_trials": round(trials / reduction_factor**i, 1)}
            for i, t in enumerate(levels)]


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = settings(ctx, _stopping_type(ctx, options))
    eta = s["reduction_factor"]
    return {
        "rungs": bracket_plan(ctx.trials, s["grace_period"], eta, s["max_t"]),
        "summary": f"one bracket, reduction_factor {eta}: a trial continues past a rung only in "
                   f"the top 1/{eta} of the results recorded there; all stop at max_t={s['max_t']}",
    }
