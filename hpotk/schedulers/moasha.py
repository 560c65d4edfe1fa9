"""Multi-objective ASHA: asynchronous successive halving that ranks results on several objectives.

As in ASHA (`hpotk.schedulers.asha`), a trial reaching rung k (``grace_period *
reduction_factor**k`` iterations, Ray's milestones) is compared with the results recorded at that
rung so far, and continues only if it is in their top ``1/reduction_factor``; every trial stops
at ``max_t``. What differs is the order in which results rank, as in Syne Tune's MOASHA
(``syne_tune/optimizer/schedulers/multiobjective/moasha.py``; Schmucker et al. 2021, Salinas et
al. 2021): by non-dominated sorting, the Pareto front first, then the front behind it, ... Within
a front, ties are broken by NSGA-II's crowding distance (the more isolated point first), or with
``tie_break: hypervolume`` by each point's exclusive hypervolume contribution (reference point:
the rung's worst value of each objective, pushed out by a tenth of its range). Syne Tune orders
a front by an epsilon-net instead; crowding distance is the textbook choice and needs no seed
point. Before any of that: a feasible result ranks ahead of one that breaks a constraint
(fewer broken constraints first), and a result with a missing or NaN objective ranks last.

Where the cutoff falls: ASHA's is the ``(1 - 1/eta)`` percentile of the recorded values, so a
result continues if it ranks level with or ahead of the recorded result at position ``(m-1)/eta``
from the top (m results recorded). Between two recorded results a value can be interpolated
(ASHA does), a rank cannot: with several objectives, a result that falls strictly between the
two recorded results the cutoff lies between continues if the cutoff is at least halfway to the
worse of them.

With one objective, non-dominated sorting is ordering by value, and the decision is ASHA's:
Ray's own percentile expression when nothing at the rung is missing or infeasible, the same
interpolation otherwise. So ``moasha`` also serves single-objective experiments that have
constraints, and ASHA's decisions are kept where there are none.

A Ray Tune user builds it directly: ``MOASHA(metrics=["val_mae", "epoch_s"], modes=["min",
"min"], max_t=30)``, with ``tune.TuneConfig(metric=None)`` or the first metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ray.tune.result import DEFAULT_METRIC
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from hpotk.errors import ConfigError
from hpotk.objectives import crowding_distance, hypervolume_contributions, nondominated_ranks
from hpotk.objectives import violations as broken_constraints
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers._saved import SavesItsAttributes
from hpotk.schedulers.asha import bracket_plan, rung_count, settings

#: ranks several objectives (`hpotk.registry.refuse_multi_objective`)
MULTI_OBJECTIVE = True
OPTIONS = {"grace_period": int, "reduction_factor": (int, float), "max_t": int,
           "stop_last_trials": bool, "tie_break": str}
TIE_BREAKS = ("crowding", "hypervolume")

Row = tuple[tuple[float, ...], int]  # a result at a rung: its objective values, constraints broken
Key = tuple[int, int, float, float]  # (missing, broken, value or front, tie): smaller ranks ahead


class MOASHA(SavesItsAttributes, FIFOScheduler):
    """Multi-objective asynchronous successive halving as a Ray ``TrialScheduler``.

    Its state is keyed by trial id, so a pickled copy (or `save`/`restore`) carries on with the
    controller's trials.

    Args:
        metrics: the objectives' result keys (one name or a list); None: Tune's ``metric``
            (``set_search_properties``), a single objective.
        modes: "min"/"max" per metric (one mode applies to all); required with ``metrics``.
        time_attr: the result key that counts progress (``training_iteration``).
        max_t: trials stop when ``time_attr`` reaches it.
        grace_period: the first rung.
        reduction_factor: eta: rungs at ``grace_period * eta**k``; the top ``1/eta`` continue.
        stop_last_trials: stop trials at ``max_t`` (as Ray's ASHA).
        tie_break: within a front, "crowding" (distance) or "hypervolume" (contribution).
        constraints: objects with ``name``, ``max``, ``min`` (`hpotk.experiment.Constraint`):
            a result beyond one ranks after every feasible one.
    """

    def __init__(self, metrics: str | Sequence[str] | None = None,
                 modes: str | Sequence[str] | None = None, *,
                 time_attr: str = "training_iteration", max_t: int = 100, grace_period: int = 1,
                 reduction_factor: float = 3, stop_last_trials: bool = True,
                 tie_break: str = "crowding", constraints: Sequence[Any] = ()):
        super().__init__()
        if not grace_period > 0 or not max_t >= grace_period:
            raise ValueError(f"need 0 < grace_period <= max_t, got grace_period={grace_period}, "
                             f"max_t={max_t}")
        if not reduction_factor > 1:
            raise ValueError(f"reduction_factor must be > 1, got {reduction_factor}")
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        self._metrics, self._modes = _objectives(metrics, modes)
        self._metric = self._metrics[0] if self._metrics else None  # Tune checks it is reported
        self._time_attr, self._max_t, self._eta = time_attr, max_t, reduction_factor
        self._stop_last_trials, self._tie_break = stop_last_trials, tie_break
        self._constraints = list(constraints)
        # Ray's milestones (hpotk.schedulers.asha.rung_count), ascending; a dict per rung
        self._milestones = [grace_period * reduction_factor**k
                            for k in range(rung_count(grace_period, reduction_factor, max_t))]
        self._recorded: list[dict[str, Row]] = [{} for _ in self._milestones]
        self._num_stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Tune's metric and mode: taken if none were given, accepted if they are the first
        objective's (so ``TuneConfig(metric=<first>)`` works), refused otherwise."""
        if self._metrics:
            return metric in (None, self._metrics[0]) and mode in (None, self._modes[0])
        if mode is not None and mode not in ("min", "max"):
            return False
        if metric or mode:
            self._metrics = [metric or DEFAULT_METRIC]
            self._metric = self._metrics[0]
            self._modes = [mode] if mode else None
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        if not self._metrics or not self._modes:
            raise ValueError(f"{type(self).__name__} has no `metric` ({self._metrics}) or "
                             f"`mode` ({self._modes}): give metrics and modes when building it, "
                             f"or metric and mode to `tune.TuneConfig()`")

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if not self._judges(result):
            return TrialScheduler.CONTINUE
        if result[self._time_attr] >= self._max_t and self._stop_last_trials:
            action = TrialScheduler.STOP
        else:
            action = self._at_rung(trial.trial_id, result)
        if action == TrialScheduler.STOP:
            self._num_stopped += 1
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        if self._judges(result):  # its last result counts at a rung it reached (as in Ray's)
            self._at_rung(trial.trial_id, result)

    def debug_string(self) -> str:
        rungs = " | ".join(f"{m:g}: {len(r)} recorded"
                           for m, r in zip(self._milestones, self._recorded, strict=True))
        return (f"Using MOASHA ({', '.join(self._metrics or [])}; tie_break {self._tie_break}): "
                f"num_stopped={self._num_stopped}; rungs {rungs}")

    # --- the rungs -----------------------------------------------------------------------------

    def _judges(self, result: dict) -> bool:
        """A result with progress and at least one objective (Ray's ASHA skips the others)."""
        return self._time_attr in result and any(m in result for m in self._metrics or ())

    def _at_rung(self, trial_id: str, result: dict) -> str:
        """Ray's bracket walk: the highest milestone reached where the trial is not recorded
        decides; with stop_last_trials off, one where it is recorded means decided already."""
        t = result[self._time_attr]
        for milestone, recorded in zip(reversed(self._milestones), reversed(self._recorded),
                                       strict=True):
            if t >= milestone and trial_id in recorded and not self._stop_last_trials:
                break
            if t < milestone or trial_id in recorded:
                continue
            row = self._row(result)
            go_on = self._continues(row, list(recorded.values()))
            recorded[trial_id] = row
            return TrialScheduler.CONTINUE if go_on else TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def _row(self, result: dict) -> Row:
        values = tuple(_number(result.get(m)) for m in self._metrics)
        broken = len(broken_constraints(result, self._constraints)) if self._constraints else 0
        return values, broken

    def _continues(self, row: Row, recorded: list[Row]) -> bool:
        if not recorded:
            return True  # the first result at a rung goes on
        single = len(self._metrics) == 1
        if single and all(_plain(r) for r in [*recorded, row]):
            # one objective, nothing missing or infeasible: Ray's expression, to the last bit
            sign = 1.0 if self._modes[0] == "max" else -1.0
            cutoff = np.nanpercentile([sign * r[0][0] for r in recorded],
                                      (1 - 1 / self._eta) * 100)
            return not sign * row[0][0] < cutoff
        keys = rank_keys([*recorded, row], self._modes, self._tie_break)
        return within_top(keys[-1], sorted(keys[:-1]), self._eta, interpolate=single)


def rank_keys(rows: Sequence[Row], modes: Sequence[str], tie_break: str = "crowding") -> list[Key]:
    """A sort key per row, smaller ranking ahead: complete rows before those missing an
    objective, then fewer constraints broken, then (one objective) the value turned to
    minimise, or (several) the non-dominated front and the tie-break within it, computed among
    the rows of the same standing."""
    keys: list[Key] = [(1, 0, 0.0, 0.0)] * len(rows)  # missing an objective: all level, last
    groups: dict[int, list[int]] = {}
    for i, (values, broken) in enumerate(rows):
        if all(math.isfinite(v) for v in values):
            groups.setdefault(broken, []).append(i)
    signs = np.array([-1.0 if m == "max" else 1.0 for m in modes])
    for broken, members in groups.items():
        values = np.array([rows[i][0] for i in members], dtype=float)
        if len(modes) == 1:
            for i, v in zip(members, values[:, 0] * signs[0], strict=True):
                keys[i] = (0, broken, float(v), 0.0)
            continue
        fronts, reference = nondominated_ranks(values, modes), _reference(values, signs)
        ties = np.zeros(len(members))
        for front in np.unique(fronts):
            on = fronts == front
            ties[on] = _tie_scores(values[on], modes, tie_break, reference)
        for i, front, tie in zip(members, fronts, ties, strict=True):
            keys[i] = (0, broken, float(front), -float(tie))
    return keys


def within_top(candidate: Key, ordered: Sequence[Key], eta: float, interpolate: bool) -> bool:
    """Whether ``candidate`` passes the cutoff among the recorded keys ``ordered`` (ascending,
    at least one): level with or ahead of the one at position ``(m-1)/eta``; between the two the
    cutoff falls between, by the interpolated value (``interpolate``, one objective) or, for a
    rank, if the cutoff is at least halfway to the worse of them."""
    c = (len(ordered) - 1) / eta
    lo, hi = math.floor(c + 1e-9), math.ceil(c - 1e-9)
    if candidate <= ordered[lo]:
        return True
    if lo >= hi or candidate >= ordered[hi]:
        return False
    frac = c - lo
    if interpolate and candidate[:2] == ordered[lo][:2] == ordered[hi][:2]:
        return candidate[2] <= ordered[lo][2] + frac * (ordered[hi][2] - ordered[lo][2])
    return frac >= 0.5


def _tie_scores(front: Any, modes: Sequence[str], tie_break: str, reference: Any) -> Any:
    """Larger is preferred: crowding distance, or exclusive hypervolume contribution."""
    if tie_break == "hypervolume":
        return hypervolume_contributions(front, modes, reference)
    return crowding_distance(front, modes)


def _reference(values: Any, signs: Any) -> Any:
    """The hypervolume reference point in the objectives' own directions: each one's worst
    value among ``values``, a tenth of its range further (1 where all are equal), so the
    extremes of a front still contribute."""
    x = values * signs  # to minimise
    worst, span = x.max(axis=0), x.max(axis=0) - x.min(axis=0)
    return (worst + np.where(span > 0, 0.1 * span, 1.0)) * signs


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _plain(row: Row) -> bool:
    values, broken = row
    return not broken and all(math.isfinite(v) for v in values)


def _objectives(metrics: str | Sequence[str] | None,
                modes: str | Sequence[str] | None) -> tuple[list[str] | None, list[str] | None]:
    """Metric names and one mode per name, checked (ValueError: a Ray user's arguments)."""
    if metrics is None:
        if modes is not None:
            raise ValueError("modes without metrics: give both, or neither (Tune's metric and "
                             "mode then apply)")
        return None, None
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"metrics must be distinct names, at least one, got {metrics!r}")
    if modes is None:
        raise ValueError(f"give a mode ('min' or 'max') for each of the metrics {names}")
    directions = [modes] * len(names) if isinstance(modes, str) else list(modes)
    if len(directions) != len(names) or any(m not in ("min", "max") for m in directions):
        raise ValueError(f"modes must be 'min' or 'max', one per metric {names}, got {modes!r}")
    return names, directions


def _settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, Any]:
    s = settings(ctx, options, OPTIONS)  # grace_period >= 1, reduction_factor > 1, ...
    s.setdefault("tie_break", "crowding")
    if s["tie_break"] not in TIE_BREAKS:
        raise ConfigError(f"{ctx.path}.tie_break",
                          f"must be 'crowding' or 'hypervolume', got {s['tie_break']!r}")
    return s


def build(ctx: SchedulerContext, **options: Any) -> MOASHA:
    """One objective: Tune's metric and mode reach it (as every scheduler); several: Tune's
    metric stays unset and the objectives are given here."""
    s = _settings(ctx, options)
    objectives = ctx.all_objectives
    several = len(objectives) > 1
    return MOASHA([name for name, _ in objectives] if several else None,
                  [mode for _, mode in objectives] if several else None,
                  time_attr=ctx.time_attr, constraints=list(ctx.constraints), **s)


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    eta, objectives = s["reduction_factor"], ctx.all_objectives
    names = ", ".join(f"{name} ({mode})" for name, mode in objectives)
    if len(objectives) > 1:
        tie = "crowding distance" if s["tie_break"] == "crowding" else "hypervolume contribution"
        order = f"non-dominated sorting of {names}, ties by {tie}"
    else:
        order = f"{names}, as asha"
    info: dict[str, Any] = {
        "rungs": bracket_plan(ctx.trials, s["grace_period"], eta, s["max_t"]),
        "summary": f"multi-objective ASHA, one bracket, reduction_factor {eta}: a trial "
                   f"continues past a rung only in the top 1/{eta} of the results recorded "
                   f"there, ranked by {order}; infeasible, then incomplete results rank last; "
                   f"all stop at max_t={s['max_t']}",
        "objectives": [{"name": name, "mode": mode} for name, mode in objectives],
    }
    if ctx.constraints:
        info["constraints"] = [c.text() for c in ctx.constraints]
    return info
