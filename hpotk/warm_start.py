"""Warm starts: an experiment takes configs, history or bounds from earlier experiments with the
same objective(s) (``warm_start: {from: [...], mode: configs|history|bounds, top: N}``).

Where from. Each entry of ``from`` is a results directory that ``hpotk run`` wrote, read with
`hpotk.results.load`. A relative path is taken the way ``results:`` is, from the current
directory, and, where nothing is there, from the experiment file's directory. The earlier
experiment must have optimised the same objectives (names and modes; order aside).

Which trials. Only trials that reported every objective, and none that broke a constraint (the
earlier run's, as marked in its trials table, or today's). The top N of each directory are the
N best by the objective's best value, or, with several objectives, by non-dominated rank and
then crowding distance (NSGA-II's order, `hpotk.objectives`) on the last reported values.

Their configs today. A config is rewritten for today's space: every tuned param takes the
earlier value, clipped into today's bounds and snapped onto today's grid (numbers); a value of a
choice param that today's choices no longer hold is refused, naming warm_start and the param
(add it back, or fix the param). A param the earlier configs lack takes today's default. Fixed
values of today's experiment always win (they are not part of the configs).

The modes:

- ``configs``: the top N configs of each directory (best first, alternating between
  directories, duplicates once) are the first trials, within ``budget.trials``: through the
  searcher's ``evaluate_first`` (tpe, anneal, bo: they learn from those trials' results too),
  Ray's ``BasicVariantGenerator(points_to_evaluate=...)`` (random), the grid reordered so they
  come first, each grid point still once (grid), or `FirstPoints` around any other Ray Searcher
  (sobol, plug-ins).
- ``history``: every such earlier trial (only the top N of each when ``top`` is given) goes to
  the searcher as already evaluated, with its last reported metrics, before its first
  suggestion: told to the built searcher where it has ``tell_history`` (tpe, anneal, bo), and
  in ``SearchContext.history`` for the searchers that read it there while built (Optuna's).
  A searcher that never looks at results (Ray's random and grid, an hpotk searcher that
  observes nothing: sobol) is refused.
- ``bounds``: the space is narrowed to the bounding box of the top N of every directory (Syne
  Tune's BoundingBox transfer): numbers to [min, max] of those configs (scale kept; a normal
  param becomes uniform, a lognormal one log-uniform, over that box), choices to the values
  seen among them; a param left with one value is fixed.

`hpotk plan` says what was taken from where (`plan_lines`).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import pickle
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from hpotk._plain import plain
from hpotk.errors import ConfigError, HpotkError
from hpotk.experiment import Experiment
from hpotk.space.param import Fixed, Param, Space

KEY = "warm_start"


@dataclasses.dataclass
class Source:
    """One earlier results directory and what was taken from it."""

    given: str  # as the experiment file writes it
    path: Path
    trials: int  # trials in it
    usable: int  # of those, feasible with every objective reported
    taken: int = 0  # configs or points taken from it


@dataclasses.dataclass
class WarmStart:
    """A warm start resolved against today's space (`prepare`), then applied to the searcher
    (`apply`). ``space`` is today's space, narrowed in mode bounds."""

    mode: str
    top: int
    sources: list[Source]
    space: Space
    configs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    history: list[tuple[dict[str, Any], dict[str, Any]]] = dataclasses.field(default_factory=list)
    narrowed: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    applied: str = ""  # how the searcher got it

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "top": self.top,
                "sources": [{"from": s.given, "path": str(s.path), "trials": s.trials,
                             "usable": s.usable, "taken": s.taken} for s in self.sources],
                "configs": len(self.configs), "points": len(self.history),
                "narrowed": {k: list(v) for k, v in self.narrowed.items()},
                "applied": self.applied, "notes": list(self.notes)}

    def summary(self) -> str:
        """One line for `hpotk run`'s output."""
        where = f"{len(self.sources)} earlier experiment(s)"
        if self.mode == "configs":
            return f"warm start: {len(self.configs)} configs from {where} run first"
        if self.mode == "history":
            return f"warm start: {len(self.history)} earlier trials from {where} {self.applied}"
        return (f"warm start: space narrowed to the top configs of {where} "
                f"({', '.join(self.narrowed) or 'nothing changed'})")


def plan_lines(info: dict[str, Any]) -> list[str]:
    """`hpotk plan`'s lines about a warm start (from `WarmStart.describe`)."""
    mode = info["mode"]
    what = {"configs": "configs", "history": "earlier trials", "bounds": "top configs"}[mode]
    lines = [f"warm start ({mode}) from {len(info['sources'])} earlier experiment(s):"]
    for s in info["sources"]:
        lines.append(f"    {s['path']}: {s['taken']} {what} of {s['usable']} usable "
                     f"({s['trials']} trials)")
    if mode == "configs":
        lines.append(f"    the first {info['configs']} trials run those configs "
                     f"({info['applied']})")
    elif mode == "history":
        lines.append(f"    {info['points']} earlier trials {info['applied']}")
    else:
        lines.append(f"    space narrowed to their bounding box ({len(info['narrowed'])} "
                     f"param(s)):")
        for name, (before, after) in info["narrowed"].items():
            lines.append(f"        {name}: {before} -> {after}")
    lines.extend(f"    note: {note}" for note in info["notes"])
    return lines


# ---------------------------------------------------------------------------------------------
# Loading and ranking


def resolve(given: str, exp: Experiment, index: int) -> Path:
    """The results directory ``warm_start.from[index]`` names (see the module docstring)."""
    path = Path(given).expanduser()
    tried = [path.resolve()] if path.is_absolute() else [
        path.resolve(), (exp.base_dir / path).resolve()]
    for candidate in tried:
        if candidate.is_dir():
            return candidate
    where = " or ".join(dict.fromkeys(str(t) for t in tried))
    raise ConfigError(f"{KEY}.from[{index}]", f"no results directory {given!r} (looked for "
                                              f"{where}); run that experiment first or fix "
                                              f"the path")


def _objectives_text(objectives: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name} ({mode})" for name, mode in objectives)


def ranked_trials(res: Any, constraints: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """The trials of ``res`` (`hpotk.results.Results`) that reported every objective and break
    no constraint, best first (module docstring); and how many trials there were."""
    import numpy as np

    from hpotk.objectives import crowding_distance, nondominated_ranks, violations

    objectives = list(res.meta.get("objectives") or [(res.metric, res.mode)])
    rows = [{k: plain(v) for k, v in row.items()} for row in res.trials.to_dict("records")]
    total = len(rows)
    rows = [r for r in rows if _true(r.get("feasible", True)) and not violations(r, constraints)]
    if len(objectives) == 1:
        name, mode = objectives[0]
        key = f"best_{name}" if any(f"best_{name}" in r for r in rows) else name
        rows = [r for r in rows if _finite(r.get(key)) and _finite(r.get(name, r.get(key)))]
        rows.sort(key=lambda r: float(r[key]) if mode == "min" else -float(r[key]))
        return rows, total
    rows = [r for r in rows if all(_finite(r.get(name)) for name, _ in objectives)]
    if not rows:
        return rows, total
    values = np.array([[float(r[name]) for name, _ in objectives] for r in rows])
    modes = [mode for _, mode in objectives]
    ranks = nondominated_ranks(values, modes)
    crowding = np.zeros(len(rows))
    for front in set(ranks.tolist()):
        members = np.flatnonzero(ranks == front)
        crowding[members] = crowding_distance(values[members], modes)
    order = sorted(range(len(rows)), key=lambda i: (int(ranks[i]), -float(crowding[i]), i))
    return [rows[i] for i in order], total


def _true(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True  # not marked: nothing known against it
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "")
    return bool(value)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Configs in today's space


def today(row: dict[str, Any], space: Space, where: str) -> tuple[dict[str, Any], set[str]]:
    """An earlier trial's config for today's tuned params (clipped, snapped, choices checked;
    module docstring), and the names of the params its config lacked (given their default)."""
    from hpotk.searchers.unit import snap

    config, missing = {}, set()
    defaults = space.defaults()
    for p in space.params.values():
        raw = row.get(f"config/{p.name}")
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            config[p.name] = defaults[p.name]
            missing.add(p.name)
        elif p.choices is not None:
            config[p.name] = _choice(p, raw, where, row)
        else:
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ConfigError(where, f"param {p.name!r}: trial {row.get('trial_id')} has "
                                         f"{raw!r}, not a number, and today {p.name} is "
                                         f"{p.describe()}; fix the param or warm-start from "
                                         f"elsewhere") from None
            config[p.name] = snap(p, value)
    return config, missing


def _choice(p: Param, raw: Any, where: str, row: dict[str, Any]) -> Any:
    for choice in p.choices:
        same_kind = isinstance(choice, bool) == isinstance(raw, bool)
        if (choice == raw and same_kind) or str(choice) == str(raw):
            return choice
    raise ConfigError(where, f"param {p.name!r}: trial {row.get('trial_id')} has {raw!r}, which "
                             f"is no longer one of its choices {list(p.choices)}; add it back to "
                             f"space.{p.name}, or fix {p.name} (fixed values win over warm-start "
                             f"configs)")


def _interleave(groups: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Best of each group first, then the second best of each, ...; each config once."""
    out, seen = [], set()
    for config in itertools.chain.from_iterable(itertools.zip_longest(*groups)):
        key = repr(sorted(config.items())) if config is not None else None
        if config is not None and key not in seen:
            seen.add(key)
            out.append(config)
    return out


# ---------------------------------------------------------------------------------------------
# Preparing and applying


def prepare(exp: Experiment, space: Space) -> WarmStart:
    """Read the earlier experiments and resolve the warm start against today's ``space``."""
    from hpotk import results

    spec = exp.warm_start
    ours = [(m.name, m.mode) for m in exp.objectives]
    sources, picked, usable_rows = [], [], []
    history_top = "top" in spec.model_fields_set  # history takes every trial unless top is set
    for i, given in enumerate(spec.from_):
        where = f"{KEY}.from[{i}]"
        path = resolve(given, exp, i)
        try:
            res = results.load(path)
        except HpotkError as exc:
            raise ConfigError(where, str(exc)) from None
        theirs = list(res.meta.get("objectives") or [(res.metric, res.mode)])
        if sorted(theirs) != sorted(ours):
            raise ConfigError(where, f"{path} optimised {_objectives_text(theirs)}, this "
                                     f"experiment {_objectives_text(ours)}: a warm start needs "
                                     f"the same objective(s); warm-start from an experiment of "
                                     f"{_objectives_text(ours)}")
        rows, total = ranked_trials(res, list(exp.constraints))
        if not rows:
            raise ConfigError(where, f"{path} has no trial that reported "
                                     f"{_objectives_text(ours)} without breaking a constraint "
                                     f"(of {total} trials): nothing to warm-start from")
        take = rows if spec.mode == "history" and not history_top else rows[:spec.top]
        sources.append(Source(str(given), path, total, len(rows), len(take)))
        picked.append([today(row, space, where) for row in take])
        usable_rows.append(take)
    warm = WarmStart(spec.mode, spec.top, sources, space)
    if spec.mode == "configs":
        warm.configs = _interleave([[config for config, _ in group] for group in picked])
        if len(warm.configs) > exp.budget.trials:
            warm.notes.append(f"{len(warm.configs)} earlier configs, budget.trials "
                              f"{exp.budget.trials}: only the first {exp.budget.trials} run")
            warm.configs = warm.configs[:exp.budget.trials]
    elif spec.mode == "history":
        for group, rows in zip(picked, usable_rows, strict=True):
            warm.history.extend((config, _metrics(row)) for (config, _), row in
                                zip(group, rows, strict=True))
    else:
        warm.space, warm.narrowed, notes = narrow(space, [c for g in picked for c in g],
                                                  sum(s.taken for s in sources))
        warm.notes.extend(notes)
    return warm


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    """An earlier trial's last reported metrics (numbers), without its config."""
    return {k: v for k, v in row.items() if not k.startswith("config/")
            and isinstance(v, (int, float)) and not isinstance(v, bool)}


def narrow(space: Space, picked: list[tuple[dict[str, Any], set[str]]],
           n: int) -> tuple[Space, dict[str, tuple[str, str]], list[str]]:
    """``space`` narrowed to the bounding box of the ``picked`` configs (mode bounds); what
    changed (name -> (before, after)) and notes."""
    from hpotk.searchers.unit import snap

    params, fixed, narrowed, notes = {}, dict(space.fixed), {}, []
    for p in space.params.values():
        values = [config[p.name] for config, missing in picked if p.name not in missing]
        if not values:
            params[p.name] = p
            notes.append(f"{p.name}: not in the earlier configs, kept as it is")
            continue
        if p.choices is not None:
            kept = tuple(c for c in p.choices if any(c is v or (
                c == v and isinstance(c, bool) == isinstance(v, bool)) for v in values))
            new = dataclasses.replace(p, choices=kept, default=p.default if p.default in kept
                                      else kept[0])
        else:
            low, high = min(values), max(values)
            scale = {"normal": "linear", "lognormal": "log" if low > 0 else "linear"}.get(
                p.scale, p.scale)
            new = dataclasses.replace(p, scale=scale, low=low, high=high, mu=None, sigma=None)
            default = p.default if p.default is not None else None
            new = dataclasses.replace(new, default=None if default is None else snap(new, default))
        new = dataclasses.replace(new, origin=f"{p.origin or p.describe()}, narrowed by {KEY}")
        single = new.grid_values() if new.is_discrete else None
        if (single is not None and len(single) == 1) or (new.choices is None
                                                         and new.low == new.high):
            value = single[0] if single is not None else new.cast(new.low)
            fixed[p.name] = Fixed(p.name, value, f"{KEY} bounds: all {n} top configs had it",
                                  tier=p.tier, role=p.role)
            narrowed[p.name] = (p.describe(), f"fixed {value!r}")
            continue
        params[p.name] = new
        if new.describe() != p.describe():
            narrowed[p.name] = (p.describe(), new.describe())
    return Space(params=params, fixed=fixed, notes=list(space.notes)), narrowed, notes


def apply(warm: WarmStart, search: Any, ctx: Any, name: str) -> Any:
    """The search plan (`hpotk.searchers.SearchPlan`) with the warm start given to its search
    algorithm (configs, history); ConfigError where the searcher cannot take it."""
    if warm.mode == "configs":
        return _first(warm, search, ctx, name)
    if warm.mode == "history":
        _tell(warm, search.search_alg, name)
    else:
        warm.applied = "the searcher samples the narrowed space"
    return search


def _innermost(alg: Any, method: str) -> Any:
    """The searcher in ``alg``'s wrappers (Ray's ``.searcher`` chain, e.g. hpotk's
    ConstrainedSearcher) that has ``method``; else the innermost one."""
    while not hasattr(alg, method) and getattr(alg, "searcher", None) is not None:
        alg = alg.searcher
    return alg


def _first(warm: WarmStart, search: Any, ctx: Any, name: str) -> Any:
    from ray.tune.search import BasicVariantGenerator

    points, alg = [dict(c) for c in warm.configs], search.search_alg
    if hasattr(_innermost(alg, "evaluate_first"), "evaluate_first"):
        _innermost(alg, "evaluate_first").evaluate_first(points)
        warm.applied = f"{name} suggests them first and learns from their results"
        return search
    if isinstance(alg, BasicVariantGenerator):
        grid = {k: v["grid_search"] for k, v in search.param_space.items()
                if isinstance(v, dict) and set(v) == {"grid_search"}}
        if grid:
            seen = {repr(sorted(p.items())) for p in points}
            rest = [dict(zip(grid, values, strict=True)) for values in
                    itertools.product(*grid.values())]
            rest = [p for p in rest if repr(sorted(p.items())) not in seen]
            constants = {k: v for k, v in search.param_space.items() if k not in grid}
            warm.applied = "the grid reordered: they first, every grid point once"
            return dataclasses.replace(search, search_alg=FirstPoints(points + rest),
                                       param_space=constants, num_samples=len(points) + len(rest))
        warm.applied = "Ray's points_to_evaluate"
        return dataclasses.replace(search, search_alg=BasicVariantGenerator(
            points_to_evaluate=points, max_concurrent=alg.max_concurrent, random_state=ctx.seed))
    if isinstance(alg, Searcher):
        warm.applied = f"suggested before {name}'s own"
        return dataclasses.replace(search, search_alg=FirstPoints(points, alg))
    raise ConfigError(f"{KEY}.mode", f"configs: searcher {name} ({type(alg).__name__}) takes no "
                                     f"configs to run first; use mode: bounds")


def _tell(warm: WarmStart, alg: Any, name: str) -> None:
    alg = _innermost(alg, "tell_history")
    if hasattr(alg, "tell_history"):
        told = alg.tell_history(warm.history)
        warm.applied = f"told to {name} as already evaluated ({told} with a finite objective)"
    elif never_learns(alg):
        raise ConfigError(f"{KEY}.mode", f"history: searcher {name} does not learn from results, "
                                         f"so earlier results cannot warm it up; use mode: "
                                         f"configs (the earlier top configs run first) or "
                                         f"bounds")
    else:
        warm.applied = f"given to {name} as already evaluated (SearchContext.history)"


def never_learns(alg: Any) -> bool:
    """Whether search algorithm ``alg`` never looks at results: Ray's random/grid generator,
    or an hpotk searcher that overrides neither ``_observe`` nor ``on_trial_complete``."""
    from ray.tune.search import BasicVariantGenerator

    from hpotk.searchers.base import SpaceSearcher

    if isinstance(alg, BasicVariantGenerator):
        return True
    kind = type(alg)
    return isinstance(alg, SpaceSearcher) and kind._observe is SpaceSearcher._observe and (
        kind.on_trial_complete is SpaceSearcher.on_trial_complete)


# ---------------------------------------------------------------------------------------------
# Configs first, around any Ray Searcher


class FirstPoints(Searcher):
    """Suggests ``points`` first, then asks ``searcher`` (none: the points are all there is).

    Results of the points' trials are not passed on: a searcher that learns from results takes
    them through its own ``evaluate_first`` instead. Saved as Ray's wrappers are (its state
    apart from ``searcher``, which Tune saves itself).
    """

    def __init__(self, points: list[dict[str, Any]], searcher: Searcher | None = None):
        searcher = searcher if searcher is not None else _Exhausted()
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.points = [dict(p) for p in points]
        self.ours: set[str] = set()

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.points:
            self.ours.add(trial_id)
            return self.points.pop(0)
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self.ours:
            self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        if trial_id in self.ours:
            self.ours.discard(trial_id)
            return
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def get_state(self) -> dict[str, Any]:
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "searcher"})

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(copy.deepcopy(state))

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)


class _Exhausted(Searcher):
    """No suggestions at all (behind `FirstPoints` when the points are the whole search)."""

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        return Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({}, f)

    def restore(self, checkpoint_path: str) -> None:
        pass
