"""Schedulers: when to stop, pause or perturb a trial. One module per policy, reached by name.

Each module defines ``build(ctx: SchedulerContext, **options) -> ray.tune.schedulers.TrialScheduler``
and ``describe(ctx, **options) -> dict`` for `hpotk plan` (rungs, brackets, the stopping rule).
Options are the keys of ``strategy.scheduler`` besides ``name``; unknown ones are refused with
`hpotk.options.check_options`. Metric and mode reach the scheduler through the TuneConfig (Ray's
``set_search_properties``); do not pass them to the Ray constructor.

A plug-in, ``"module:factory"`` (`hpotk.registry.import_reference`), is a Ray ``TrialScheduler``
subclass (built with the options) or instance, or a factory ``factory(ctx, **options)`` that
returns one; its module may define ``describe`` and ``checkpoint_every`` as a built-in's does.

Checkpoint needs are said in one place, each module's optional
``checkpoint_every(ctx, **options) -> int``: a module that defines it needs trials that can
checkpoint (pbt copies weights, synchronous hyperband pauses trials); the number is how often
they must (every N iterations; 0: only when the scheduler pauses them). `plan` returns it with
the scheduler, and the runner turns checkpoints on (or refuses a trainable that cannot save).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from hpotk.registry import Registry, build_plugin, check_plugin, refuse_multi_objective
from hpotk.space.param import Space


def _bases() -> tuple[type, ...]:
    from ray.tune.schedulers import TrialScheduler

    return (TrialScheduler,)


def _check_plugin(obj: Any, path: str, reference: str) -> None:
    check_plugin(obj, _bases(), path, reference, "a scheduler")


SCHEDULERS = Registry(
    "scheduler",
    {
        "fifo": "hpotk.schedulers.fifo:build",
        "asha": "hpotk.schedulers.asha:build",
        "asha_promotion": "hpotk.schedulers.promotion:build",
        "moasha": "hpotk.schedulers.moasha:build",
        "ahb": "hpotk.schedulers.ahb:build",
        "hyperband": "hpotk.schedulers.hyperband:build",
        "pbt": "hpotk.schedulers.pbt:build",
        "median": "hpotk.schedulers.median:build",
        "bandit": "hpotk.schedulers.bandit:build",
        "truncation": "hpotk.schedulers.truncation:build",
    },
    plugin=_check_plugin,
)


@dataclass
class SchedulerContext:
    """What a scheduler may know about the experiment.

    ``searcher`` is the name of the searcher paired with the scheduler, when known: pbt refuses
    searchers Ray cannot combine with it (anything but random/grid). ``seed`` is the
    experiment's seed: pbt seeds its choices (whom to clone, how to perturb) with it.
    """

    space: Space
    metric: str
    mode: str  # "min" | "max"
    max_t: int  # most training iterations (evaluations) a trial may run
    trials: int = 10
    seed: int = 0
    time_attr: str = "training_iteration"
    path: str = "strategy.scheduler"  # key path for error messages
    searcher: str | None = None
    concurrent: int | None = None  # budget.concurrent, when known
    # every objective as (name, mode), the first being metric/mode; empty: just metric/mode
    objectives: list[tuple[str, str]] = field(default_factory=list)
    constraints: list[Any] = field(default_factory=list)  # hpotk.experiment.Constraint

    @property
    def all_objectives(self) -> list[tuple[str, str]]:
        return list(self.objectives) or [(self.metric, self.mode)]


@dataclass
class SchedulerPlan:
    """A built scheduler with what the runner must know about it.

    Attributes:
        scheduler: the ``ray.tune.schedulers.TrialScheduler``.
        info: its plan for `hpotk plan` (rungs, brackets, mutations, the rule).
        checkpoint_every: None if trials need not checkpoint; else every how many iterations
            they must (0: only when the scheduler pauses them).
    """

    name: str
    scheduler: Any
    info: dict[str, Any]
    checkpoint_every: int | None = None

    @property
    def needs_checkpoints(self) -> bool:
        return self.checkpoint_every is not None


# the names plug-ins written for earlier releases import ("schedule" now means an lr schedule only)
ScheduleContext = SchedulerContext
SchedulePlan = SchedulerPlan


def make(name: str, ctx: SchedulerContext, options: dict[str, Any] | None = None) -> Any:
    """The Ray scheduler ``name`` built with ``options`` (ConfigError for bad ones)."""
    build = SCHEDULERS.resolve(name, ctx.path)
    if len(ctx.all_objectives) > 1:
        refuse_multi_objective(SCHEDULERS, name, ctx.path, "scheduler")
    if SCHEDULERS.is_plugin(name):
        return build_plugin(build, _bases(), ctx, dict(options or {}), ctx.path)
    return build(ctx, **(options or {}))


def plan(name: str, ctx: SchedulerContext, options: dict[str, Any] | None = None) -> SchedulerPlan:
    """Build and check the scheduler once, with its description and checkpoint needs."""
    scheduler = make(name, ctx, options)
    return SchedulerPlan(name, scheduler, describe(name, ctx, options),
                        checkpoint_every(name, ctx, options))


def _module(name: str, path: str = "") -> ModuleType:
    return SCHEDULERS.module_of(name, path)  # ConfigError listing the choices for a bad name


def describe(name: str, ctx: SchedulerContext, options: dict[str, Any] | None = None) -> dict:
    """The scheduler's plan for `hpotk plan`; ``{"scheduler": name}`` if it has none."""
    module = _module(name, ctx.path)
    info: dict[str, Any] = {"scheduler": name}
    if hasattr(module, "describe"):
        info.update(module.describe(ctx, **(options or {})))
    return info


def checkpoint_every(name: str, ctx: SchedulerContext,
                     options: dict[str, Any] | None = None) -> int | None:
    """How often trials under scheduler ``name`` must checkpoint; None if they need not."""
    module = _module(name, ctx.path)
    if not hasattr(module, "checkpoint_every"):
        return None
    return int(module.checkpoint_every(ctx, **(options or {})))


def holds_population(name: str, path: str = "") -> bool:
    """Whether scheduler ``name`` needs its whole population alive at once (pbt, synchronous
    hyperband, asha_promotion, whose paused trials stay alive): the searcher then creates every trial up front and the scheduler itself keeps
    ``budget.concurrent`` of them training (`hpotk.schedulers.population`)."""
    return bool(getattr(_module(name, path), "POPULATION", False))


def requires_checkpointing(name: str) -> bool:
    """Whether trials run under scheduler ``name`` must be able to checkpoint."""
    return hasattr(_module(name), "checkpoint_every")
