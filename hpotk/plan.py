"""The plan of an experiment: Experiment -> space, searcher, scheduler, expected trials, and the
text of `hpotk plan`. Pure planning: it builds the Ray searcher and scheduler objects (their
modules import Ray when built) but starts nothing; `hpotk.runner` turns a plan into a Tuner and
runs it, `hpotk.replay` replays one in simulated time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpotk.experiment import Experiment
from hpotk.layout import PLAN_TEXT  # noqa: F401 - hpotk.plan.PLAN_TEXT, as before


@dataclass
class Plan:
    """Everything resolved from an experiment before anything runs (what `hpotk plan` shows).

    The scheduler is built and checked here, once; the Tuner uses this very object.
    """

    experiment: Experiment
    space: Any  # hpotk.space.param.Space
    search: Any  # hpotk.searchers.SearchPlan
    scheduler_plan: Any  # hpotk.schedulers.SchedulerPlan
    expected_trials: int
    search_concurrency: int = 1  # live trials the searcher may have: budget.concurrent, or the
    # whole population under a scheduler that multiplexes it (pbt, hyperband)
    warm_start: Any = None  # hpotk.warm_start.WarmStart: what the experiment took from earlier ones

    @property
    def scheduler_info(self) -> dict[str, Any]:
        return self.scheduler_plan.info

    def describe(self) -> dict[str, Any]:
        exp = self.experiment
        info = self.space.describe()
        return {
            "name": exp.name,
            "trainable": exp.trainable if isinstance(exp.trainable, str) else "command",
            "metric": exp.metric.model_dump(),
            "objectives": [m.model_dump() for m in exp.objectives],
            "constraints": [c.model_dump(exclude_none=True) for c in exp.constraints],
            "strategy": exp.strategy.label,
            "tuned": info["tuned"],
            "fixed": info["fixed"],
            "notes": info["notes"] + list(self.search.notes),
            "scheduler": self.scheduler_info,
            "budget": exp.budget.model_dump(),
            "expected_trials": self.expected_trials,
            "resources_per_trial": exp.resources.model_dump(),
            "lr_schedule": exp.lr_schedule,
            "results_dir": str(exp.results_dir),
            "warm_start": self.warm_start.describe() if self.warm_start else None,
        }

    def text(self) -> str:
        """`hpotk plan`'s text: space, budget, resources and the scheduler's plan."""
        return format_plan(self.describe())

    def params(self) -> dict[str, dict[str, Any]]:
        """The tuned params' kinds and scales (what figures need: log axes, categories)."""
        out = {}
        for p in self.space.params.values():
            out[p.name] = {"kind": p.kind, "scale": p.scale, "low": p.low, "high": p.high,
                           "choices": list(p.choices) if p.choices is not None else None,
                           "role": p.role}
        return out


def format_plan(info: dict[str, Any]) -> str:
    objectives = info.get("objectives") or [info["metric"]]
    what = ("objectives " if len(objectives) > 1 else "objective ") + ", ".join(
        f"{o['name']} ({o['mode']})" for o in objectives)
    lines = [f"experiment {info['name']}: trainable {info['trainable']}, {what}, strategy "
             f"{info['strategy']}"]
    if info.get("constraints"):
        from hpotk.objectives import constraint_text

        lines.append("constraints: " + "; ".join(constraint_text(c) for c in info["constraints"])
                     + " (a trial beyond one is infeasible: never the best, off the front)")
    b = info["budget"]
    lines.append(f"budget: {b['trials']} trials, {b['concurrent']} at a time, max_t {b['max_t']} "
                 f"iterations" + (f", {b['time_s']} s in all" if b["time_s"] else "")
                 + (f", {b['trial_time_s']} s per trial" if b["trial_time_s"] else ""))
    r = info["resources_per_trial"]
    lines.append(f"resources per trial: {r['cpu']:g} CPU, {r['gpu']:g} GPU")
    if info.get("lr_schedule"):
        spec = info["lr_schedule"]
        kind = spec.get("type", "?")
        detail = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
        lines.append(f"lr schedule: {kind} ({detail}), stepped once per evaluation iteration")
    lines.append(f"tuned ({len(info['tuned'])}):")
    for name, t in info["tuned"].items():
        tier = f"  [tier {t['tier']}]" if t.get("tier") else ""
        lines.append(f"    {name}: {t['sampling']}{tier}  ({t['role']})")
    lines.append(f"fixed ({len(info['fixed'])}):")
    for name, f in info["fixed"].items():
        lines.append(f"    {name} = {f['value']!r}  ({f['why']})")
    for note in info["notes"]:
        lines.append(f"note: {note}")
    if info.get("warm_start"):  # hpotk.warm_start: what was taken from where
        from hpotk.warm_start import plan_lines

        lines.extend(plan_lines(info["warm_start"]))
    sched = info["scheduler"]
    lines.append(f"scheduler {sched.get('scheduler')}: {sched.get('summary', '')}")
    if sched.get("population"):
        lines.append(f"    {sched['population']}")
    for warning in sched.get("warnings", []) or []:
        lines.append(f"warning: {warning}")
    for bracket in sched.get("brackets", []) or []:
        lines.append(f"    bracket {bracket.get('bracket', '')}: " + ", ".join(
            f"{r['iterations']} it x {r['expected_trials']}" for r in bracket.get("rungs", [])))
    for name, how in (sched.get("mutations") or {}).items():
        lines.append(f"    mutates {name}: {how}")
    for rung in sched.get("rungs", []) or []:
        lines.append(f"    rung at {rung['iterations']} iterations: ~{rung['expected_trials']} "
                     f"trials")
    lines.append(f"results: {info['results_dir']}")
    return "\n".join(lines)


def build_space(exp: Experiment) -> Any:
    from hpotk import space as space_module

    nodes, edges = _graph_size(exp)
    return space_module.build(exp.space, trials=exp.budget.trials, base_dir=exp.base_dir,
                              graph_nodes=nodes, graph_edges=edges, path="space")


def _graph_size(exp: Experiment) -> tuple[float | None, float | None]:
    """Nodes and edges of the experiment's graph (for node_/edge_strategy), if it has one."""
    data = exp.data
    if "nodes" in data or "edges" in data:
        return data.get("nodes"), data.get("edges")
    try:
        from hpotk.data import graph_size
    except ImportError:
        return None, None
    try:
        return graph_size(data)
    except (KeyError, ValueError, NotImplementedError):
        return None, None


def make_plan(exp: Experiment) -> Plan:
    """Resolve space, searcher and scheduler; errors name the experiment file they came from."""
    from hpotk.errors import ConfigError

    try:
        return _make_plan(exp)
    except ConfigError as exc:
        if exc.source is None and exp.source:
            raise ConfigError(exc.path, exc.message, exp.source) from None
        raise


def _make_plan(exp: Experiment) -> Plan:
    from hpotk import schedulers, searchers

    if isinstance(exp.trainable, str):
        from hpotk.trainables import resolve

        resolve(exp.trainable)  # an unknown name fails here, before anything starts
    space = build_space(exp)
    warm = None  # warm start (hpotk.warm_start): mode bounds narrows the space here
    if exp.warm_start is not None:
        from hpotk import warm_start

        warm = warm_start.prepare(exp, space)
        space = warm.space
    # under pbt / hyperband the searcher creates the whole population at once and the scheduler
    # keeps budget.concurrent of it training (hpotk.schedulers.population)
    population = schedulers.holds_population(exp.strategy.scheduler.name, "strategy.scheduler")
    search_ctx = searchers.SearchContext(
        space=space, metric=exp.metric.name, mode=exp.metric.mode, seed=exp.seed,
        trials=exp.budget.trials,
        concurrent=exp.budget.trials if population else exp.budget.concurrent,
        objectives=[(m.name, m.mode) for m in exp.objectives], constraints=list(exp.constraints),
        history=warm.history if warm else [],
    )
    search = searchers.make(exp.strategy.searcher.name, search_ctx, exp.strategy.searcher.options)
    if warm is not None:  # warm start: configs run first, or history told to the searcher
        search = warm_start.apply(warm, search, search_ctx, exp.strategy.searcher.name)
    scheduler_plan = schedulers.plan(exp.strategy.scheduler.name,
                                     _scheduler_context(exp, space), exp.strategy.scheduler.options)
    _check_checkpointing(exp, scheduler_plan)
    expected = search.num_samples * _grid_size(search.param_space)
    return Plan(exp, space, search, scheduler_plan, expected, search_ctx.concurrent, warm)


def _check_checkpointing(exp: Experiment, scheduler_plan: Any) -> None:
    """A command trainable checkpoints only if its script can: refuse what needs it otherwise."""
    if not isinstance(exp.trainable, dict):
        return
    from hpotk.trainables.command import refuse_without_checkpoints

    if scheduler_plan.needs_checkpoints:
        refuse_without_checkpoints(exp.trainable, f"strategy.scheduler {exp.strategy.scheduler.name}")
    elif exp.checkpoint.every or exp.checkpoint.at_end:
        refuse_without_checkpoints(exp.trainable, "checkpoint.every / checkpoint.at_end")


def _scheduler_context(exp: Experiment, space: Any) -> Any:
    from hpotk import schedulers

    return schedulers.SchedulerContext(
        space=space, metric=exp.metric.name, mode=exp.metric.mode, max_t=exp.budget.max_t,
        trials=exp.budget.trials, seed=exp.seed, searcher=exp.strategy.searcher.name,
        concurrent=exp.budget.concurrent,
        objectives=[(m.name, m.mode) for m in exp.objectives], constraints=list(exp.constraints),
    )


def _grid_size(param_space: dict[str, Any]) -> int:
    size = 1
    for value in param_space.values():
        if isinstance(value, dict) and set(value) == {"grid_search"}:
            size *= len(value["grid_search"])
    return size
