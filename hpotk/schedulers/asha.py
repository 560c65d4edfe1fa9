"""ASHA: asynchronous successive halving with one bracket (Li et al. 2020).

A trial reaching rung r (grace_period * reduction_factor**k iterations) continues only if its
result is in the top 1/reduction_factor of the results recorded at that rung so far.
"""

from __future__ import annotations

from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.schedulers import ScheduleContext

OPTIONS = {"grace_period": int, "reduction_factor": (int, float), "brackets": int,
           "max_t": int, "stop_last_trials": bool}


def _settings(ctx: ScheduleContext, options: dict[str, Any]) -> dict[str, Any]:
    check_options(options, OPTIONS, ctx.path)
    s = {"grace_period": 1, "reduction_factor": 3, "brackets": 1, "max_t": ctx.max_t}
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


def build(ctx: ScheduleContext, **options: Any) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    s = _settings(ctx, options)
    return ASHAScheduler(time_attr=ctx.time_attr, **s)


def rungs(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """Resource levels at which ASHA compares trials (below max_t)."""
    levels, r = [], grace_period
    while r < max_t:
        levels.append(int(r))
        r *= reduction_factor
    return levels


def describe(ctx: ScheduleContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    eta = s["reduction_factor"]
    levels = rungs(s["grace_period"], eta, s["max_t"]) + [s["max_t"]]
    expected = [round(ctx.trials / eta**i, 1) for i in range(len(levels))]
    return {
        "rungs": [{"iterations": t, "expected_trials": n} for t, n in zip(levels, expected)],
        "summary": f"one bracket, reduction_factor {eta}: a trial continues past a rung only in "
                   f"the top 1/{eta}",
    }
