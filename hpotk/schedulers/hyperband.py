"""HyperBand, synchronous (Li et al. 2018), as Ray's `HyperBandScheduler` runs it.

Trials fill brackets in order ``s = 0, 1, ...`` of a band: bracket ``s`` holds up to
``ceil(s_max_1 / (s + 1) * eta**s)`` trials that all run ``int(max_t / eta**s)`` iterations; then
the bracket waits (pausing trials) until every trial got there, keeps the best ``1/eta`` and
multiplies the budget by ``eta``, up to ``max_t``. ``s_max_1 = round(log_eta(max_t)) + 1``.
Bracket 0 is plain random search at full budget; the last bracket stops the most.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.schedulers import SchedulerContext

POPULATION = True  # every trial exists from the start (hpotk.schedulers.population)
OPTIONS = {"reduction_factor": (int, float), "max_t": int, "stop_last_trials": bool}


def _settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, Any]:
    check_options(options, OPTIONS, ctx.path)
    s = {"reduction_factor": 3, "max_t": ctx.max_t, "stop_last_trials": True}
    s.update({k: v for k, v in options.items() if v is not None})
    if s["reduction_factor"] <= 1:
        raise ConfigError(f"{ctx.path}.reduction_factor",
                          f"must be > 1, got {s['reduction_factor']}")
    if s["max_t"] < 1:
        raise ConfigError(f"{ctx.path}.max_t", f"must be >= 1, got {s['max_t']}")
    return s


def _hyperband_class() -> type:
    from ray.tune.schedulers import HyperBandScheduler

    from hpotk.schedulers.population import Population

    class HyperBand(Population, HyperBandScheduler):
        """Ray's `HyperBandScheduler`, made picklable (Ray keeps two lambdas on the instance),
        whose brackets fill with members that all exist from the start while ``slots`` train
        (`hpotk.schedulers.population`): a bracket gathers at each rung."""

        def __getstate__(self) -> dict:
            return {k: v for k, v in self.__dict__.items() if k not in ("_get_n0", "_get_r0")}

        def __setstate__(self, state: dict) -> None:
            self.__dict__.update(state)
            self._get_n0 = lambda s: int(math.ceil(self._s_max_1 / (s + 1) * self._eta**s))
            self._get_r0 = lambda s: int(self._max_t_attr * self._eta ** (-s))

    HyperBand.__module__, HyperBand.__qualname__ = __name__, "HyperBand"
    return HyperBand


def __getattr__(name: str) -> Any:
    # `HyperBand` is made on first use, so that `brackets` (hpotk report) needs no Ray; pickle
    # finds it by name here like any module-level class
    if name == "HyperBand":
        cls = globals()["HyperBand"] = _hyperband_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(ctx: SchedulerContext, **options: Any) -> Any:
    """A `HyperBand` (Ray's `HyperBandScheduler`, picklable, its brackets a population)."""
    from hpotk.schedulers.population import wants_population

    scheduler = __getattr__("HyperBand")(time_attr=ctx.time_attr, **_settings(ctx, options))
    scheduler.slots = ctx.concurrent if wants_population(ctx) else None
    return scheduler


def checkpoint_every(ctx: SchedulerContext, **options: Any) -> int:
    """Paused trials must resume where they stopped: a checkpoint at each pause (0: no more)."""
    _settings(ctx, options)
    return 0



def brackets(trials: int, reduction_factor: float, max_t: int) -> list[dict]:
    """The brackets ``trials`` trials fill, in order, with the trials at each rung.

    Mirrors Ray's bookkeeping: a bracket whose first budget rounds to 0 is skipped; a bracket
    that is not full keeps everyone at a rung where it has no more than the surviving count.
    """
    eta = reduction_factor
    s_max_1 = int(round(math.log(max_t) / math.log(eta))) + 1
    plan: list[dict] = []
    left, band = trials, 0
    while left > 0:
        for s in range(s_max_1):
            r0 = int(max_t * eta ** (-s))
            if r0 == 0 or left <= 0:
                continue
            n0 = int(math.ceil(s_max_1 / (s + 1) * eta**s))
            n = min(n0, left)
            left -= n
            rungs, budget, survivors, alive = [], r0, n0, n
            for _ in range(s + 1):
                rungs.append({"iterations": budget, "expected_trials": alive})
                survivors = int(math.ceil(survivors / eta))
                alive = min(alive, survivors)
                budget = int(min(budget * eta, max_t))
            plan.append({"band": band, "bracket": s, "trials": n, "max_trials": n0,
                         "rungs": rungs})
        band += 1
    return plan


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    eta = s["reduction_factor"]
    plan = brackets(ctx.trials, eta, s["max_t"])
    info = {
        "brackets": plan,
        "summary": f"synchronous HyperBand, reduction_factor {eta}: a bracket pauses its trials "
                   f"at each rung until all arrive, then keeps the best 1/{eta}",
    }
    from hpotk.schedulers.population import describe as describe_population

    info["population"] = describe_population(ctx, "each rung until their bracket has arrived")
    return info
