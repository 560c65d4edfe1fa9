"""Replay studies: Ray Tune's schedulers on recorded learning curves, in simulated time.

A fifo/random run in which every trial ran to ``max_t`` records everything a scheduler could
see: each trial's config, its metrics after every iteration, how long each iteration took and
what starting the trial cost. Syne Tune's simulated backend replays such tables (its "tabulated
benchmarks") and advances a simulated clock by the recorded times, so schedulers can be compared
in seconds, over many seeds. hpotk does the same with the very scheduler objects `hpotk run`
gives Ray Tune (built by `hpotk.schedulers.plan`), called where Ray 2.60's TuneController calls
them:

- ``on_trial_add`` when the searcher creates a trial; ``choose_trial_to_run`` to fill a free
  worker; ``on_trial_result`` per result, except the one that reaches ``max_t`` (Ray's stopper
  ends that trial without asking the scheduler); ``on_trial_complete`` for a running trial that
  stops, ``on_trial_remove`` for a paused or pending one;
- the scheduler's callbacks: ``get_trials``, ``get_live_trials``, ``stop_trial``,
  ``pause_trial``.

**The clock.** Time 0 is the start of the experiment. The first trials start when the table's
first trial did (Ray's own start-up, as recorded), each worker when the recording's did (on a
loaded machine the second comes up seconds after the first), and the time budget counts from
the first (Ray's counts from the Tuner's start, a moment earlier). A trial started at ``t`` reports iteration
``i`` at ``t + setup + sum(seconds of iterations 1..i)``. A trial's setup is the recorded time
from its worker becoming free to its first result, less its first iteration: Ray's latency in
starting it, the actor, the trainable's setup. An iteration's seconds are the recorded seconds
between the trial's consecutive results, which include Ray's per-result overhead
(``time_this_iter_s`` alone leaves it out; it is used where the gap cannot be read).

**Pausing** (synchronous hyperband) is simulated as Syne Tune does: when the scheduler pauses a
trial, the trial's results after the pause are dropped; when it resumes, it continues from the
iteration it was paused at (hpotk checkpoints at every pause), pays its setup again, and the
resume records the time offset: the recorded seconds of the iterations it does not redo.

**Searchers** draw from the table's configs: ``random`` without replacement (a fresh order per
seed), ``grid`` every grid point in the grid's order (each must be in the table). Searchers that
propose new configs from a model or a sequence (tpe, bo, anneal, sobol) are refused: a
nearest-neighbour stand-in would feed the model results of configs it did not propose, and with
a few dozen recorded configs in several dimensions the neighbour is far, so the replayed searcher
would not be the real one; the comparison of schedulers it answers is asked with random search.
**PBT** is refused: after an exploit a trial trains on from another trial's weights with new
hyperparameters, a learning curve no table holds.

Every simulated run becomes an in-memory `hpotk.results.Results` (``freshness.source ==
"replay"``), so the study's aggregation treats replayed and real runs alike.
"""

from __future__ import annotations

import heapq
import math
import random
import tempfile
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk._plain import plain
from hpotk.errors import HpotkError

#: schedulers a replay refuses, and why
REFUSED_SCHEDULERS = {
    "pbt": "pbt cannot be replayed: after an exploit a trial trains on from another trial's "
           "weights with perturbed hyperparameters, a learning curve that no recorded table "
           "holds (replay shows only what the recorded trials did). Run pbt for real",
}
#: searchers that replay draws configs for itself (from the table)
TABLE_SEARCHERS = ("random", "grid")
#: searchers a replay refuses: they propose configs the table has no curves for
MODEL_SEARCHERS = ("tpe", "bo", "anneal", "sobol")
#: history columns that are bookkeeping, not metrics
_BOOKKEEPING = {"trial_id", "iteration", "time_s", "timestamp", "time_this_iter_s",
                "time_total_s", "node", "training_iteration", "done", "event", "date",
                "hostname", "pid", "experiment_tag", "time_since_restore",
                "iterations_since_restore", "timesteps_total", "episodes_total",
                "timesteps_since_restore", "should_checkpoint", "checkpoint_dir_name"}


# ---------------------------------------------------------------------------------------------
# the table


@dataclass
class Recorded:
    """One recorded trial: its config and its whole learning curve.

    Attributes:
        trial_id: the trial's id in the recorded experiment.
        config: the config it ran (tuned and fixed values).
        results: the metrics it reported after iterations 1..max_t (bookkeeping left out).
        iter_s: the seconds each of those iterations took.
        setup_s: what starting it cost, up to its first iteration (see the module docstring).
    """

    trial_id: str
    config: dict[str, Any]
    results: list[dict[str, Any]]
    iter_s: list[float]
    setup_s: float


@dataclass
class Table:
    """A complete experiment, ready to replay: every trial's curve to ``max_t``.

    Attributes:
        path: the recorded results directory.
        meta: its `hpotk.results.Results.meta`.
        metric, mode: the objective.
        max_t: the iterations every trial ran.
        params: the tuned params' names.
        trials: the recorded trials, in the order they started.
        launch_s: when the first trial started (the experiment's own start-up before it).
        ready_s: when each of the recording's workers took its first trial, after launch_s
            (the first is 0: workers come up one after another on a loaded machine).
    """

    path: Path
    meta: dict[str, Any]
    metric: str
    mode: str
    max_t: int
    params: list[str]
    trials: list[Recorded]
    launch_s: float
    ready_s: list[float] = field(default_factory=lambda: [0.0])

    def key(self, config: Mapping[str, Any]) -> tuple:
        """A config's identity in the table: its tuned values, floats to 10 significant digits."""
        return tuple(_normal_value(config.get(name)) for name in self.params)

    def lookup(self, config: Mapping[str, Any]) -> Recorded:
        """The recorded trial of ``config``; HpotkError naming it if the table never ran it."""
        index = self._index()
        found = index.get(self.key(config))
        if found is None:
            shown = {name: config.get(name) for name in self.params}
            raise HpotkError(
                f"config {shown} is not in the replay table {self.path} ({len(self.trials)} "
                f"recorded configs): replay can only show what a recorded trial did. Record it "
                f"(run it with fifo), or replay a searcher that draws from the table (random)")
        return found

    def _index(self) -> dict[tuple, Recorded]:
        if not hasattr(self, "_by_key"):
            self._by_key = {self.key(t.config): t for t in self.trials}
        return self._by_key

    def scaled(self, factor: float) -> Table:
        """The table with every recorded iteration and setup ``factor`` times as long: what the
        schedulers would do on a machine that slow (a loaded one), e.g. `time_ratio` of real
        runs made under other load than the recording."""
        import dataclasses

        if not factor > 0:
            raise HpotkError(f"a time scale must be > 0, got {factor}")
        trials = [dataclasses.replace(t, iter_s=[s * factor for s in t.iter_s],
                                      setup_s=t.setup_s * factor) for t in self.trials]
        return dataclasses.replace(self, trials=trials)

    def nearest(self, config: Mapping[str, Any]) -> Recorded:
        """The recorded trial nearest to ``config`` in the space normalised to [0, 1] per
        param (log params on a log scale, choices by their position)."""
        def position(name: str, value: Any) -> float:
            p = (self.meta.get("params") or {}).get(name) or {}
            choices = p.get("choices")
            if choices:
                keys = [_normal_value(c) for c in choices]
                v = _normal_value(value)
                return keys.index(v) / max(len(keys) - 1, 1) if v in keys else 0.5
            low, high, x = _num(p.get("low")), _num(p.get("high")), _num(value)
            if low is None or high is None or x is None or high <= low:
                return 0.0 if x is None else x
            if p.get("scale") == "log" and low > 0 and x > 0:
                return (math.log(x) - math.log(low)) / (math.log(high) - math.log(low))
            return (x - low) / (high - low)

        target = [position(n, config.get(n)) for n in self.params]
        return min(self.trials, key=lambda t: sum(
            (position(n, t.config.get(n)) - x) ** 2 for n, x in zip(self.params, target,
                                                                    strict=True)))

    @property
    def iteration_s(self) -> float:
        """Mean recorded seconds per iteration (for messages)."""
        seconds = [s for t in self.trials for s in t.iter_s]
        return sum(seconds) / max(len(seconds), 1)


def load_table(source: str | Path | Any) -> Table:
    """The replay table of a results directory (or an already loaded `Results`).

    Refuses (HpotkError) an experiment that is still running, and one whose trials did not all
    run to ``max_t``, naming the incomplete ones: a scheduler in replay may let any trial run to
    the end, so every curve must be whole.
    """
    from hpotk import results as results_module

    res = source if isinstance(source, results_module.Results) else results_module.load(source)
    where = res.path
    if res.status == "running":
        raise HpotkError(f"{where}: the experiment is still running; replay needs a finished one "
                         f"in which every trial ran to max_t")
    max_t = int((res.meta.get("budget") or {}).get("max_t") or 0)
    if max_t < 1:
        raise HpotkError(f"{where}: its budget names no max_t; cannot tell whole curves from "
                         f"stopped ones")
    metric = res.metric
    trials = res.trials
    if trials is None or len(trials) == 0:
        raise HpotkError(f"{where} holds no trials to replay")
    history = res.history
    by_trial = {tid: frame for tid, frame in history.groupby("trial_id", sort=False)} \
        if len(history) else {}
    incomplete: list[str] = []
    curves: dict[str, tuple[list[dict[str, Any]], list[float], float]] = {}
    for row in trials.to_dict("records"):
        tid = str(row["trial_id"])
        frame = by_trial.get(row["trial_id"])
        status = str(row.get("status"))
        got = _curve(frame, metric, max_t) if frame is not None else None
        n = int(row.get("iterations") or 0)
        if status != "COMPLETED" or got is None:
            incomplete.append(f"{tid} ({status}, {n}/{max_t} iterations)")
            continue
        curves[tid] = got
    if incomplete:
        shown = ", ".join(incomplete[:8]) + (f" and {len(incomplete) - 8} more"
                                              if len(incomplete) > 8 else "")
        raise HpotkError(
            f"{where} cannot be replayed: {len(incomplete)} of {len(trials)} trials did not run "
            f"to max_t={max_t}: {shown}. Replay needs every trial's whole learning curve: record "
            f"the table with strategy fifo/random and no time budget (e.g. hpotk run FILE --set "
            f"strategy=fifo/random --set budget.time_s=null)")
    params = res.param_names
    rows = trials.to_dict("records")
    starts = {str(r["trial_id"]): _num(r.get("start_s")) for r in rows}
    ends = {str(r["trial_id"]): _num(r.get("end_s")) for r in rows}
    order = sorted(curves, key=lambda t: (starts[t] if starts[t] is not None else math.inf))
    known = [starts[t] for t in order if starts[t] is not None]
    launch = min(known) if known else 0.0
    concurrent = int((res.meta.get("budget") or {}).get("concurrent") or 1)
    recorded = []
    for position, tid in enumerate(order):
        results_list, iter_s, first_at = curves[tid]
        start = starts[tid] if starts[tid] is not None else first_at - iter_s[0]
        free = start
        if position >= concurrent:  # its worker became free when an earlier trial ended
            before = [ends[o] for o in order[:position] if ends[o] is not None
                      and ends[o] <= start + 1e-9]
            if before:
                free = max(before)
        setup = max(0.0, first_at - iter_s[0] - free)
        row = next(r for r in rows if str(r["trial_id"]) == tid)
        config = {k[len("config/"):]: plain(v) for k, v in row.items()
                  if k.startswith("config/") and not _missing(v)}
        recorded.append(Recorded(tid, config, results_list, iter_s, setup))
    firsts = sorted(starts[t] for t in order[:concurrent] if starts[t] is not None) or [launch]
    ready = [max(0.0, f - launch) for f in firsts]
    return Table(where, res.meta, metric, res.mode, max_t, params, recorded, float(launch), ready)


def _curve(frame: Any, metric: str, max_t: int) -> tuple[list[dict], list[float], float] | None:
    """A trial's results 1..max_t (the last report of each iteration), the seconds of each, and
    when it reported its first; None if any iteration or the metric is missing."""
    rows = frame.to_dict("records")
    last: dict[int, int] = {}
    for position, row in enumerate(rows):
        if _missing(row.get("iteration")):
            continue
        last[int(row["iteration"])] = position
    if any(i not in last for i in range(1, max_t + 1)):
        return None
    results, seconds = [], []
    for i in range(1, max_t + 1):
        row = rows[last[i]]
        value = row.get(metric)
        if _missing(value):
            return None
        results.append({k: plain(v) for k, v in row.items()
                        if k not in _BOOKKEEPING and not k.startswith("config/")
                        and not _missing(v) and not isinstance(v, str)})
        own = _num(row.get("time_this_iter_s"))
        gap = None
        if i > 1 and last[i - 1] < last[i]:
            gap = _num(row.get("time_s")) - _num(rows[last[i - 1]].get("time_s"))
        if gap is not None and gap >= 0 and (own is None or gap <= 5 * own + 5):
            seconds.append(gap)
        else:
            seconds.append(max(own or 0.0, 0.0))
    first = rows[last[1]]
    first_at = _num(first.get("time_s"))
    if first_at is None:
        first_at = sum(seconds[:1])
    if seconds[0] <= 0:
        seconds[0] = max(_num(first.get("time_this_iter_s")) or 0.0, 0.0)
    return results, seconds, first_at


# ---------------------------------------------------------------------------------------------
# what a strategy may replay


@dataclass
class Strategy:
    """One strategy to replay: scheduler and searcher (names and options) and its budget.

    Attributes:
        label: the study's label for it.
        scheduler, scheduler_options: the hpotk scheduler and its options.
        searcher, searcher_options: the searcher (random or grid) and its options.
        concurrent: workers.
        time_s: the time budget (None: until the table is used up).
        max_t: iterations a trial may run (at most the table's).
        trials: most trials to start (None: as many as the table has).
        space: the strategy's `hpotk.space.param.Space` (needed by grid, and by schedulers that
            know the space).
    """

    label: str
    scheduler: str = "fifo"
    scheduler_options: dict[str, Any] = field(default_factory=dict)
    searcher: str = "random"
    searcher_options: dict[str, Any] = field(default_factory=dict)
    concurrent: int = 1
    time_s: float | None = None
    max_t: int | None = None
    trials: int | None = None
    space: Any = None


def strategy_of(exp: Any, *, label: str | None = None, time_s: float | None = None,
                concurrent: int | None = None, table: Table | None = None) -> Strategy:
    """The `Strategy` of an experiment (a `hpotk.experiment.Experiment`), checked against
    ``table`` when given: the same trainable, data, tuned params and fixed values (a config the
    table never ran is refused), max_t no more than the table's."""
    from hpotk.runner import build_space

    space = build_space(exp)
    strategy = Strategy(
        label=label or exp.strategy.label,
        scheduler=exp.strategy.scheduler.name,
        scheduler_options=dict(exp.strategy.scheduler.options),
        searcher=exp.strategy.searcher.name,
        searcher_options=dict(exp.strategy.searcher.options),
        concurrent=int(concurrent or exp.budget.concurrent),
        time_s=time_s if time_s is not None else exp.budget.time_s,
        max_t=exp.budget.max_t, trials=exp.budget.trials, space=space,
    )
    if table is not None:
        check_against(table, exp, space, strategy.label)
    return strategy


def check_against(table: Table, exp: Any, space: Any, label: str) -> None:
    """Refuse (HpotkError) a strategy whose configs the table does not hold."""
    recorded = table.meta.get("experiment") or {}
    where = f"strategy {label!r}"
    if recorded.get("trainable") is not None and recorded.get("trainable") != exp.trainable:
        raise HpotkError(f"{where} trains {exp.trainable!r} but the replay table {table.path} "
                         f"recorded {recorded.get('trainable')!r}")
    if recorded.get("data") is not None and dict(recorded.get("data") or {}) != dict(exp.data):
        raise HpotkError(f"{where} uses data {dict(exp.data)} but the replay table {table.path} "
                         f"recorded data {recorded.get('data')}: its curves are of other data")
    tuned = list(space.params)
    if set(tuned) != set(table.params):
        raise HpotkError(f"{where} tunes {sorted(tuned)} but the replay table {table.path} tuned "
                         f"{sorted(table.params)}: replay draws configs from the table, so the "
                         f"space must be the table's")
    defined = table.meta.get("params") or {}
    for name, p in space.params.items():
        old = defined.get(name)
        if not old:
            continue
        new = {"kind": p.kind, "scale": p.scale, "low": p.low, "high": p.high,
               "choices": list(p.choices) if p.choices is not None else None}
        if any(_normal_value(old.get(k)) != _normal_value(v) for k, v in new.items()):
            raise HpotkError(f"{where}: space.{name} is {p.describe()} but the replay table "
                             f"{table.path} sampled it from {_describe_old(old)}: replay can draw "
                             f"only the recorded configs, so the space must be the table's")
    sample = table.trials[0].config
    for name, value in space.fixed_values().items():
        if name in sample and _normal_value(sample[name]) != _normal_value(value):
            raise HpotkError(f"{where}: {name}={value!r} is a config the replay table "
                             f"{table.path} never ran (it ran {name}={sample[name]!r})")
    if exp.budget.max_t > table.max_t:
        raise HpotkError(f"{where}: budget.max_t={exp.budget.max_t} is beyond the replay table's "
                         f"curves ({table.path} ran every trial to max_t={table.max_t})")


def refuse(strategy: Strategy) -> None:
    """HpotkError for a scheduler or searcher replay cannot run, with the reason."""
    if strategy.scheduler in REFUSED_SCHEDULERS:
        raise HpotkError(f"strategy {strategy.label!r}: {REFUSED_SCHEDULERS[strategy.scheduler]}")
    if strategy.searcher in MODEL_SEARCHERS:
        raise HpotkError(
            f"strategy {strategy.label!r}: searcher {strategy.searcher!r} cannot be replayed: it "
            f"proposes new configs from a model or sequence, and the table has curves only for "
            f"the configs it recorded (a nearest recorded config would feed the model results of "
            f"configs it did not propose, so it would not be {strategy.searcher} any more). "
            f"Replay the scheduler with random search, or run {strategy.label} for real")
    if strategy.searcher not in TABLE_SEARCHERS:
        raise HpotkError(f"strategy {strategy.label!r}: searcher {strategy.searcher!r} cannot be "
                         f"replayed (replay draws configs with {' or '.join(TABLE_SEARCHERS)})")


# ---------------------------------------------------------------------------------------------
# the searcher: configs from the table


class TableSearch:
    """Draws the table's configs: ``random`` without replacement, ``grid`` in grid order, or
    ``order`` given (a list of recorded trial ids, e.g. a real run's creation order)."""

    def __init__(self, table: Table, strategy: Strategy, seed: int,
                 order: Sequence[str] | None = None):
        from hpotk.options import check_options

        check_options(strategy.searcher_options, {}, "strategy.searcher")
        if order is not None:
            by_id = {t.trial_id: t for t in table.trials}
            missing = [o for o in order if o not in by_id]
            if missing:
                raise HpotkError(f"trials {missing} are not in the replay table {table.path}")
            self.queue = [by_id[o] for o in order]
        elif strategy.searcher == "grid":
            self.queue = self._grid(table, strategy)
        else:
            import numpy as np

            permutation = np.random.default_rng(seed).permutation(len(table.trials))
            self.queue = [table.trials[i] for i in permutation]
        if strategy.trials is not None:
            self.queue = self.queue[:strategy.trials]
        self.position = 0

    @staticmethod
    def _grid(table: Table, strategy: Strategy) -> list[Recorded]:
        import itertools

        from hpotk.searchers import SearchContext
        from hpotk.searchers.grid import grid_points

        if strategy.space is None:
            raise HpotkError(f"strategy {strategy.label!r}: grid replay needs the space")
        ctx = SearchContext(space=strategy.space, metric=table.metric, mode=table.mode)
        values = grid_points(ctx)
        names = list(values)
        return [table.lookup(dict(zip(names, combo, strict=True)))
                for combo in itertools.product(*(values[n] for n in names))]

    def next(self) -> Recorded | None:
        if self.position >= len(self.queue):
            return None
        self.position += 1
        return self.queue[self.position - 1]

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.queue)


# ---------------------------------------------------------------------------------------------
# the simulated TuneController


@dataclass
class _Run:
    trial: Any  # ray.tune.experiment.Trial
    recorded: Recorded
    done: int = 0  # iterations reported (and kept)
    seconds: float = 0.0  # the trial's own time (Ray's time_total_s)
    generation: int = 0  # bumps when a pending result is dropped (pause, stop)
    started_s: float | None = None
    ended_s: float | None = None
    pauses: list[tuple[float, int]] = field(default_factory=list)  # (time, iteration)
    resumes: list[dict[str, float]] = field(default_factory=list)
    dropped: int = 0  # results not reported because the trial was paused or stopped
    pending: bool = False  # a result of it is on the clock
    decisions: list[tuple[int, str]] = field(default_factory=list)


class Simulation:
    """One replayed experiment: a scheduler, the table's configs, a simulated clock.

    It plays Ray Tune's TuneController for the scheduler (see the module docstring), with
    ``concurrent`` workers: the searcher creates a trial while fewer than ``concurrent`` trials
    are live (Ray's BasicVariantGenerator with ``max_concurrent``, as `hpotk run` builds it; a
    paused trial is live), and a free worker runs ``choose_trial_to_run``'s pick.
    """

    def __init__(self, table: Table, scheduler: Any, search: TableSearch, *, concurrent: int,
                 max_t: int, time_s: float | None = None, seed: int = 0):
        from ray.tune.experiment import Trial

        self._Trial = Trial
        self.table, self.scheduler, self.search = table, scheduler, search
        self.concurrent, self.max_t, self.seed = concurrent, min(max_t, table.max_t), seed
        self.metric, self.mode = table.metric, table.mode
        self.deadline = None if time_s is None else table.launch_s + float(time_s)
        self.now = table.launch_s
        # workers come up as the recording's did; one beyond those recorded, with the last
        offsets = [(table.ready_s or [0.0])[min(w, len(table.ready_s or [0.0]) - 1)]
                   for w in range(concurrent)]
        self._ready_n = sum(1 for o in offsets if o <= 0.0)
        self.runs: dict[str, _Run] = {}
        self.trials: list[Any] = []
        self.history: list[dict[str, Any]] = []
        self._events: list[tuple[float, int, str, int, int]] = []
        self._seq = 0
        self._dir = tempfile.mkdtemp(prefix="hpotk-replay-")
        self._storage = types.SimpleNamespace(experiment_driver_staging_path=self._dir,
                                              experiment_dir_name="replay", trial_dir_name=None)
        self.exhausted_s: float | None = None  # when the searcher ran out of table configs
        self.ended_s = self.now
        self.search_alg = None
        self._live_n = self._running_n = 0
        for offset in sorted(o for o in offsets if o > 0.0):
            self._seq += 1
            heapq.heappush(self._events, (self.now + offset, self._seq, "", 0, 0))
        from ray.tune import PlacementGroupFactory

        self._resources = PlacementGroupFactory([{"CPU": 1}])
        if not scheduler.set_search_properties(self.metric, self.mode):
            raise HpotkError(f"the scheduler {type(scheduler).__name__} refused metric "
                             f"{self.metric!r} / mode {self.mode!r}")

    # --- what schedulers call -----------------------------------------------------------------

    def get_trials(self) -> list[Any]:
        return self.trials

    def get_live_trials(self) -> list[Any]:
        return [t for t in self.trials if t.status not in (self._Trial.TERMINATED,
                                                           self._Trial.ERROR)]

    def stop_trial(self, trial: Any) -> None:
        """Ray's ``TuneController.stop_trial``: the scheduler hears of it as Ray tells it."""
        Trial = self._Trial
        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        run = self.runs[trial.trial_id]
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
        else:
            self.scheduler.on_trial_complete(self, trial, _flat(trial.last_result))
            self._drop(run)
        self._set_status(trial, Trial.TERMINATED)
        run.ended_s = self.now

    def pause_trial(self, trial: Any, should_checkpoint: bool = True) -> None:
        self._pause(self.runs[trial.trial_id])

    # --- the loop -------------------------------------------------------------------------------

    def run(self) -> Simulation:
        """Run to the time budget, or until no trial is left to run."""
        self._fill()
        while self._events:
            at, _, tid, generation, iteration = heapq.heappop(self._events)
            if self.deadline is not None and at > self.deadline:
                self.now = self.deadline
                break
            if not tid:  # a worker comes up
                self.now = at
                self._ready_n += 1
                self._fill()
                continue
            run = self.runs[tid]
            if generation != run.generation:
                continue  # dropped: paused or stopped since it was scheduled
            run.pending = False
            self.now = at
            self._result(run, iteration)
            self._fill()
        self.ended_s = self.now
        for run in self.runs.values():  # the budget ends them (Ray stops every trial left)
            run.dropped += run.pending
            run.pending = False
            if run.ended_s is None and run.started_s is not None:
                run.ended_s = self.now
        return self

    def _set_status(self, trial: Any, status: str) -> None:
        """Set a trial's status, keeping the counts of live and running trials."""
        Trial = self._Trial
        ended = (Trial.TERMINATED, Trial.ERROR)
        self._live_n += (status not in ended) - (trial.status not in ended)
        self._running_n += (status == Trial.RUNNING) - (trial.status == Trial.RUNNING)
        trial.set_status(status)

    def _live(self) -> int:
        return self._live_n

    def _running(self) -> int:
        return self._running_n

    def _fill(self) -> None:
        while True:
            while self._live() < self.concurrent and not self.search.exhausted:
                self._add(self.search.next())
            if self.search.exhausted and self.exhausted_s is None:
                self.exhausted_s = self.now
            if self._running() >= min(self.concurrent, self._ready_n):
                return
            trial = self.scheduler.choose_trial_to_run(self)
            if trial is None:
                return
            self._start(self.runs[trial.trial_id])

    def _add(self, recorded: Recorded) -> None:
        n = len(self.trials)
        trial = self._Trial("replay", config=dict(recorded.config), trial_id=f"r{n:05d}",
                            stub=True, storage=self._storage, experiment_tag=str(n),
                            placement_group_factory=self._resources)
        trial.placement_group_factory = self._resources  # one request, shared (no scheduler
        # but PBT's resource hooks reads it)
        self.trials.append(trial)
        self._live_n += 1
        self.runs[trial.trial_id] = _Run(trial, recorded)
        self.scheduler.on_trial_add(self, trial)

    def _start(self, run: _Run) -> None:
        trial = run.trial
        if trial.status not in (self._Trial.PENDING, self._Trial.PAUSED):
            raise HpotkError(f"the scheduler chose trial {trial.trial_id} to run, but it is "
                             f"{trial.status}")
        if trial.status == self._Trial.PAUSED:
            offset = sum(run.recorded.iter_s[:run.done])
            run.resumes.append({"time_s": self.now, "iteration": run.done, "offset_s": offset})
        elif run.started_s is None:
            run.started_s = self.now
        self._set_status(trial, self._Trial.RUNNING)
        self._schedule(run, self.now + run.recorded.setup_s)

    def _schedule(self, run: _Run, base: float) -> None:
        iteration = run.done + 1
        at = base + run.recorded.iter_s[iteration - 1]
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, run.trial.trial_id, run.generation,
                                      iteration))
        run.pending = True

    def _drop(self, run: _Run) -> None:
        """Drop the trial's result in flight (Syne Tune drops the results after a pause)."""
        run.generation += 1
        run.dropped += run.pending
        run.pending = False

    def _pause(self, run: _Run) -> None:
        self._drop(run)
        self._set_status(run.trial, self._Trial.PAUSED)
        run.pauses.append((self.now, run.done))

    def _result(self, run: _Run, iteration: int) -> None:
        from ray.tune.schedulers import TrialScheduler

        trial, recorded = run.trial, run.recorded
        seconds = recorded.iter_s[iteration - 1]
        run.done = iteration
        run.seconds += seconds
        result = dict(recorded.results[iteration - 1])
        result.update(training_iteration=iteration, time_this_iter_s=seconds,
                      time_total_s=run.seconds, trial_id=trial.trial_id, done=False,
                      config=dict(trial.config))
        self.history.append({"trial_id": trial.trial_id, "iteration": iteration,
                             "time_s": self.now, "timestamp": self.now,
                             "time_this_iter_s": seconds, "time_total_s": run.seconds,
                             **recorded.results[iteration - 1],
                             **{f"config/{k}": v for k, v in trial.config.items()}})
        if iteration >= self.max_t:  # Ray's stopper: no scheduler call
            decision = TrialScheduler.STOP
        else:
            decision = self.scheduler.on_trial_result(self, trial, _flat(result))
        run.decisions.append((iteration, decision))
        # what Trial.update_last_result keeps that schedulers read (trial.last_result); Ray's
        # per-metric analysis (min/max/avg of every metric) costs half the replay and no hpotk
        # scheduler reads it
        result["experiment_tag"] = trial.experiment_tag
        trial.run_metadata.last_result = result
        if decision == TrialScheduler.STOP:
            if trial.status == self._Trial.RUNNING:
                self.stop_trial(trial)
        elif decision == TrialScheduler.PAUSE:
            self._pause(run)
        elif decision == TrialScheduler.CONTINUE:
            if trial.status == self._Trial.RUNNING:
                self._schedule(run, self.now)
        else:
            raise HpotkError(f"the scheduler answered {decision!r} for trial {trial.trial_id}; "
                             f"replay simulates continue, pause and stop")

    # --- outcomes -------------------------------------------------------------------------------

    def stopped_at(self) -> dict[str, int]:
        """Recorded trial id -> the iterations the trial got (for comparing with a real run)."""
        return {run.recorded.trial_id: run.done for run in self.runs.values()}

    def to_results(self, *, label: str, strategy: Strategy, seed: int) -> Any:
        """This run as an in-memory `hpotk.results.Results` (simulated seconds in ``time_s``)."""
        import pandas as pd

        from hpotk.results import Freshness, Results, _order_history

        metric, mode = self.metric, self.mode
        history = _order_history(pd.DataFrame(self.history)) if self.history else \
            pd.DataFrame(columns=["trial_id", "iteration", "time_s", "timestamp",
                                  "time_this_iter_s", "time_total_s", metric])
        rows = []
        for trial in self.trials:
            run = self.runs[trial.trial_id]
            values = [r[metric] for r in run.recorded.results[:run.done]]
            finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
            row: dict[str, Any] = {"trial_id": trial.trial_id,
                                   "status": self._status(run)}
            row.update({f"config/{k}": v for k, v in trial.config.items()})
            last = run.recorded.results[run.done - 1] if run.done else {}
            row[metric] = last.get(metric)
            row[f"best_{metric}"] = (min(finite) if mode == "min" else max(finite)) \
                if finite else None
            for key, value in last.items():
                row.setdefault(key, value)
            row.update(iterations=run.done, time_s=run.seconds, node="", error="",
                       start_s=run.started_s, end_s=run.ended_s,
                       replayed_from=run.recorded.trial_id, pauses=len(run.pauses))
            rows.append(row)
        trials = pd.DataFrame(rows)
        budget = {"trials": len(self.search.queue), "concurrent": self.concurrent,
                  "max_t": self.max_t, "time_s": strategy.time_s, "trial_time_s": None}
        scheduler = {"name": strategy.scheduler, **strategy.scheduler_options}
        searcher = {"name": strategy.searcher, **strategy.searcher_options}
        meta = {
            "name": label, "metric": metric, "mode": mode, "strategy": label,
            "scheduler": scheduler, "searcher": searcher, "budget": budget, "seed": seed,
            "plan": "", "started": 0.0, "finished": self.ended_s, "status": "complete",
            "runs": [], "expected_trials": len(self.search.queue), "ray_nodes": None,
            "params": dict(self.table.meta.get("params") or {}),
            "experiment": dict(self.table.meta.get("experiment") or {}), "source": "replay",
            "nodes": [],
            "replay": {"table": str(self.table.path), "simulated_s": self.ended_s,
                       "exhausted_s": self.exhausted_s,
                       "dropped_results": sum(r.dropped for r in self.runs.values()),
                       "pauses": sum(len(r.pauses) for r in self.runs.values()),
                       "resumes": [dict(r, trial_id=run.trial.trial_id)
                                   for run in self.runs.values() for r in run.resumes]},
        }
        return Results(Path(f"replay:{self.table.path}/{label}/seed{seed}"), meta, trials,
                       history, Freshness("replay", self.ended_s, time.time()))

    def _status(self, run: _Run) -> str:
        """COMPLETED (ran to max_t), STOPPED (by the scheduler) or UNFINISHED (running,
        paused or pending when the budget ran out), as `hpotk run` records them."""
        if run.done >= self.max_t:
            return "COMPLETED"
        if run.trial.status == self._Trial.TERMINATED:
            return "STOPPED"
        return "UNFINISHED"


# ---------------------------------------------------------------------------------------------
# replaying strategies


def build_scheduler(table: Table, strategy: Strategy, seed: int) -> Any:
    """The strategy's scheduler, built by `hpotk.schedulers.plan` as `hpotk run` builds it."""
    from hpotk import schedulers
    from hpotk.space.param import Param, Space

    space = strategy.space
    if space is None:  # a table-only replay: the space from the table's recorded params
        params = {}
        for name in table.params:
            p = (table.meta.get("params") or {}).get(name) or {}
            params[name] = Param(name, p.get("kind") or "float", p.get("scale") or "linear",
                                 low=p.get("low"), high=p.get("high"),
                                 choices=tuple(p["choices"]) if p.get("choices") else None,
                                 role=p.get("role") or "algorithm")
        space = Space(params=params)
    ctx = schedulers.ScheduleContext(
        space=space, metric=table.metric, mode=table.mode,
        max_t=min(strategy.max_t or table.max_t, table.max_t),
        trials=strategy.trials or len(table.trials), seed=seed, searcher=strategy.searcher)
    return schedulers.plan(strategy.scheduler, ctx, dict(strategy.scheduler_options)).scheduler


def replay(table: Table, strategy: Strategy, seed: int = 0,
           order: Sequence[str] | None = None) -> Simulation:
    """Replay ``strategy`` on ``table`` once, with ``seed`` (Ray's schedulers draw from Python's
    and NumPy's global generators, seeded here as the harness of Ray's tests does).

    ``order``: recorded trial ids to try, in this order, instead of the searcher's draw.
    """
    import numpy as np

    refuse(strategy)
    random.seed(seed)
    np.random.seed(seed)
    scheduler = build_scheduler(table, strategy, seed)
    search = TableSearch(table, strategy, seed, order=order)
    sim = Simulation(table, scheduler, search, concurrent=strategy.concurrent,
                     max_t=strategy.max_t or table.max_t, time_s=strategy.time_s, seed=seed)
    return sim.run()


@dataclass
class ReplayCost:
    """What the simulator itself cost: real seconds per simulated hour."""

    real_s: float = 0.0
    simulated_s: float = 0.0
    runs: int = 0

    @property
    def per_simulated_hour(self) -> float:
        return self.real_s / (self.simulated_s / 3600.0) if self.simulated_s > 0 else math.nan

    def describe(self) -> str:
        return (f"{self.runs} replayed runs, {self.simulated_s / 3600.0:.2f} simulated hours in "
                f"{self.real_s:.1f} real seconds ({self.per_simulated_hour:.2f} s per simulated "
                f"hour)")


def replay_strategies(table: Table, strategies: Mapping[str, Sequence[tuple[Strategy, int]]],
                      cost: ReplayCost | None = None) -> dict[str, list[Any]]:
    """Replay every (strategy, seed) pair: label -> one `Results` per seed, in seed order.

    All strategies are refused up front (before any replay runs) if one cannot be replayed.
    """
    for runs in strategies.values():
        for strategy, _ in runs:
            refuse(strategy)
    cost = cost if cost is not None else ReplayCost()
    out: dict[str, list[Any]] = {}
    for label, runs in strategies.items():
        out[label] = []
        for strategy, seed in runs:
            began = time.perf_counter()
            sim = replay(table, strategy, seed)
            cost.real_s += time.perf_counter() - began
            cost.simulated_s += sim.ended_s
            cost.runs += 1
            out[label].append(sim.to_results(label=label, strategy=strategy, seed=seed))
    return out


@dataclass
class StudyReplay:
    """What `replay_study` did: the summary, the files written, the simulator's cost."""

    summary: Any  # hpotk.study.StudySummary
    outputs: list[Path]
    cost: ReplayCost
    note: str
    exhausted: dict[str, int]  # label -> runs in which the table ran out of configs


def replay_study(study: Any, table_dir: str | Path, *, out_dir: str | Path | None = None,
                 log: Any = print) -> StudyReplay:
    """Replay every (strategy, repeat) of ``study`` (a `hpotk.study.Study`) on the table in
    ``table_dir``, and write the study's outputs, each labelled "replayed from <dir>".

    Each run is the study's own experiment for that strategy and seed (so its scheduler
    options, budget and seed are the real study's); it is checked against the table first
    (same trainable, data, space and fixed values; max_t within the table's), and every
    strategy is refused up front if one cannot be replayed. The outputs go to
    ``<study results>/replay/`` unless ``out_dir`` says otherwise, never over a real study's.
    """
    import json

    from hpotk.study import aggregate, write_outputs

    table = load_table(table_dir)
    strategies: dict[str, list[tuple[Strategy, int]]] = {}
    for run in study.runs:
        strategy = strategy_of(run.experiment, label=run.label, table=table)
        strategies.setdefault(run.label, []).append((strategy, run.seed))
    for runs in strategies.values():
        for strategy, _ in runs:
            refuse(strategy)
    cost = ReplayCost()
    runs = replay_strategies(table, strategies, cost)
    exhausted = {label: sum(1 for r in results if r.meta["replay"]["exhausted_s"] is not None
                            and r.meta["replay"]["exhausted_s"] < r.meta["finished"])
                 for label, results in runs.items()}
    summary = aggregate(runs, report_metric=study.report_metric, top_k=study.spec.top_k,
                        baseline=study.baseline, target=study.spec.target,
                        band=study.spec.band, grid_points=study.spec.grid_points)
    summary.name = f"{study.name} (replay)"
    note = (f"replayed from {table.path}, in simulated time ({cost.per_simulated_hour:.1f} s "
            f"per simulated hour)")
    used_up = {k: v for k, v in exhausted.items() if v}
    if used_up:  # fewer trials than a real run would have had: say so on every output
        note += "; table used up: " + ", ".join(f"{v}/{len(runs[k])} {k}"
                                                for k, v in used_up.items())
    out = Path(out_dir) if out_dir is not None else study.results_dir / "replay"
    outputs = write_outputs(summary, out, note=note)
    record = {
        "study": study.name, "table": str(table.path), "recorded_trials": len(table.trials),
        "note": note, "cost": {"real_s": cost.real_s, "simulated_s": cost.simulated_s,
                               "runs": cost.runs,
                               "real_s_per_simulated_hour": cost.per_simulated_hour},
        "exhausted": exhausted,
        "runs": [{"label": label, "seed": r.meta["seed"], **r.meta["replay"],
                  "trials": len(r.trials)} for label, results in runs.items() for r in results],
    }
    (out / "replay.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    outputs.append(out / "replay.json")
    log(summary.text())
    log(f"[hpotk] study {study.name}: {note}")
    log(f"[hpotk] study {study.name}: {cost.describe()}")
    log(f"[hpotk] study {study.name}: " + ", ".join(str(p) for p in outputs))
    return StudyReplay(summary, outputs, cost, note, exhausted)


# ---------------------------------------------------------------------------------------------
# replay against real runs


@dataclass
class Agreement:
    """How a replayed strategy compares with real runs of it.

    Attributes:
        real_runs, replayed_runs: how many of each.
        trials_real, trials_replayed: trials finished per run (mean, sd, min, max).
        final_real, final_replayed: the final top-k mean per run (mean, sd, min, max).
        within_envelope: share of the time grid (where the replay's mean and at least two real
            runs are defined) at which the replay's mean lies between the lowest and the
            highest real run there.
        within_sd: share at which it lies within one sd of the real runs' mean.
        max_gap_sd: the largest gap between the two mean curves, in real sds at that time.
        grid, real, replayed: the time grid and each side's mean / low / high curves and mean
            trials finished (for `plot_agreement`).
    """

    report_metric: str
    top_k: int
    real_runs: int
    replayed_runs: int
    trials_real: tuple[float, float, float, float]
    trials_replayed: tuple[float, float, float, float]
    final_real: tuple[float, float, float, float]
    final_replayed: tuple[float, float, float, float]
    within_envelope: float
    within_sd: float
    max_gap_sd: float
    grid: Any = None
    real: dict[str, Any] = field(default_factory=dict)
    replayed: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        def four(v: tuple[float, ...], digits: int) -> str:
            return (f"{v[0]:.{digits}f} ± {v[1]:.{digits}f} (range {v[2]:.{digits}f}-"
                    f"{v[3]:.{digits}f})")

        return "\n".join([
            f"trials finished: real {four(self.trials_real, 1)} over {self.real_runs} runs; "
            f"replayed {four(self.trials_replayed, 1)} over {self.replayed_runs} seeds",
            f"final {self.report_metric} (top {self.top_k}): real {four(self.final_real, 4)}; "
            f"replayed {four(self.final_replayed, 4)}",
            f"top-{self.top_k} curve: the replay's mean is inside the real runs' range at "
            f"{self.within_envelope:.0%} of the time grid, within one real sd of the real mean at "
            f"{self.within_sd:.0%}; largest gap {self.max_gap_sd:.1f} real sd",
        ])


def time_ratio(table: Table, runs: Sequence[Any], *, nearest: bool = False) -> tuple[float, int]:
    """How much longer the real ``runs`` took than the table for the same work: the ratio of
    their seconds to the recorded ones over every (config, iteration) both hold, and how many
    such pairs there were ((nan, 0) if none: the runs tried no recorded config).

    ``nearest``: a config the table lacks is compared with the nearest recorded one in the
    normalised space (`Table.nearest`), so that any run measures its machine's speed; what an
    iteration costs depends on its config (batch size, width), which the nearest shares most.

    A run's seconds are the gaps between its trial's consecutive results (the first result's
    ``time_this_iter_s``), as `load_table` reads them."""
    mine = real = 0.0
    pairs = 0
    for res in runs:
        for trial_id, frame in res.history.groupby("trial_id", sort=False):
            config = res.trials.loc[res.trials["trial_id"] == trial_id]
            if not len(config):
                continue
            row = config.iloc[0].to_dict()
            wanted = {p: row.get(f"config/{p}") for p in table.params}
            recorded = table._index().get(table.key(wanted))
            if recorded is None and nearest:
                recorded = table.nearest(wanted)
            if recorded is None:
                continue
            rows = frame.sort_values("time_s").to_dict("records")
            for i, r in enumerate(rows):
                it = int(r["iteration"])
                if not 1 <= it <= table.max_t:
                    continue
                gap = r["time_s"] - rows[i - 1]["time_s"] if i else r.get("time_this_iter_s")
                if gap is None or _missing(gap) or gap < 0:
                    continue
                real += float(gap)
                mine += recorded.iter_s[it - 1]
                pairs += 1
    return (real / mine if mine > 0 else math.nan), pairs


def aligned(res: Any, until: float | None = None) -> Any:
    """A copy of a run measured from its first trial's start (the experiment's own start-up
    left out), with the time the trials had as its budget: for comparing runs whose start-up
    differed (Ray starting on a loaded machine) by what the scheduler decided.

    ``until``: cut it there, as if its budget had ended then (what came later dropped, trials
    running then unfinished); the schedulers do not know the budget, so the first ``until``
    seconds of a longer run are a run of ``until`` seconds."""
    import copy

    import numpy as np

    out = copy.copy(res)
    start = float(np.nanmin(res.trials["start_s"])) if len(res.trials) else 0.0
    out.history = res.history.copy()
    out.history["time_s"] = out.history["time_s"] - start
    out.trials = res.trials.copy()
    for column in ("start_s", "end_s"):
        out.trials[column] = out.trials[column] - start
    meta = dict(res.meta)
    finished, started = meta.get("finished"), meta.get("started")
    end = float(finished) - float(started) if finished is not None and started is not None \
        else float(res.history["time_s"].max())
    window = max(end - start, 0.0)
    if until is not None and until < window:
        window = float(until)
        out.history = out.history[out.history["time_s"] <= window]
        late = out.trials["end_s"] > window
        out.trials.loc[late, "status"] = "UNFINISHED"
        out.trials.loc[late, "end_s"] = np.nan
        out.trials = out.trials[~(out.trials["start_s"] > window)]
    meta["budget"] = dict(meta.get("budget") or {}, time_s=window)
    meta["runs"] = []
    out.meta = meta
    return out


def agreement(real: Sequence[Any], replayed: Sequence[Any], *, report_metric: str, top_k: int,
              grid_points: int = 200) -> Agreement:
    """Compare replayed runs of a strategy with real runs of it (all `hpotk.results.Results`),
    on the study's own curves (`hpotk.study.aggregate`)."""
    import numpy as np

    from hpotk.study import aggregate

    summary = aggregate({"real": list(real), "replayed": list(replayed)},
                        report_metric=report_metric, top_k=top_k, baseline="real",
                        grid_points=grid_points)
    curves = {label: [c for c in summary.runs if c.label == label]
              for label in ("real", "replayed")}

    def stats(values: Sequence[float]) -> tuple[float, float, float, float]:
        v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
        if not len(v):
            return (math.nan,) * 4
        return (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, float(v.min()),
                float(v.max()))

    import warnings

    real_stack = np.vstack([c.values for c in curves["real"]])
    with warnings.catch_warnings():  # grid points before top_k trials reported are all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(real_stack, axis=0)
        sd = np.nanstd(real_stack, axis=0, ddof=1)
        low, high = np.nanmin(real_stack, axis=0), np.nanmax(real_stack, axis=0)
    replay_stack = np.vstack([c.values for c in curves["replayed"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        replay_center = np.where((~np.isnan(replay_stack)).sum(axis=0) >= min(2, len(
            replay_stack)), np.nanmean(replay_stack, axis=0), math.nan)
    # compared where the replay's mean and at least two real runs (or the only one) are defined:
    # a real run cut short (its start-up ate its budget) does not blank the whole comparison
    enough = min(2, len(real_stack))
    defined = ~np.isnan(replay_center) & ((~np.isnan(real_stack)).sum(axis=0) >= enough)
    if defined.any():
        r, m, s = replay_center[defined], mean[defined], sd[defined]
        inside = (r >= low[defined] - 1e-12) & (r <= high[defined] + 1e-12)
        near = np.abs(r - m) <= s + 1e-12
        gaps = np.abs(r - m) / np.where(s > 0, s, np.nan)
        within_envelope, within_sd = float(inside.mean()), float(near.mean())
        max_gap = float(np.nanmax(gaps)) if np.isfinite(gaps).any() else 0.0
    else:
        within_envelope = within_sd = max_gap = math.nan
    rep = summary.strategies["replayed"]
    return Agreement(
        report_metric, top_k, len(real), len(replayed),
        stats([c.trials_finished for c in curves["real"]]),
        stats([c.trials_finished for c in curves["replayed"]]),
        stats([c.final for c in curves["real"]]), stats([c.final for c in curves["replayed"]]),
        within_envelope, within_sd, max_gap, grid=summary.grid,
        real={"mean": mean, "low": low, "high": high,
              "finished": summary.strategies["real"].finished_mean},
        replayed={"mean": replay_center, "low": rep.low, "high": rep.high,
                  "finished": rep.finished_mean})


def plot_agreement(a: Agreement, path: str | Path, *, title: str, note: str = "",
                   real_label: str = "real", replay_label: str = "replayed") -> Path:
    """The replayed and the real curves on one figure: each side's mean top-k curve, the real
    runs' range and the replay's 95% CI, and the trials finished below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = a.grid
    fig, (ax, bottom) = plt.subplots(2, 1, figsize=(8.5, 6.2), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    ax.fill_between(t, a.real["low"], a.real["high"], color="tab:blue", alpha=0.18, lw=0,
                    label=f"{real_label}: range of {a.real_runs} runs")
    ax.plot(t, a.real["mean"], color="tab:blue", lw=2, label=f"{real_label}: mean")
    ax.fill_between(t, a.replayed["low"], a.replayed["high"], color="tab:orange", alpha=0.25,
                    lw=0, label=f"{replay_label}: 95% CI of {a.replayed_runs} seeds")
    ax.plot(t, a.replayed["mean"], color="tab:orange", lw=2, ls="--",
            label=f"{replay_label}: mean")
    ax.set_ylabel(f"{a.report_metric}: mean of top {a.top_k}")
    ax.set_title(title, fontsize=10.5)
    ax.legend(loc="lower right", fontsize=8.5, framealpha=0.9)
    ax.grid(alpha=0.3)
    ax.text(0.01, 0.97, f"inside the real range at {a.within_envelope:.0%} of the time\n"
            f"trials finished: real {a.trials_real[0]:.1f} ± {a.trials_real[1]:.1f}, "
            f"replayed {a.trials_replayed[0]:.1f} ± {a.trials_replayed[1]:.1f}",
            transform=ax.transAxes, ha="left", va="top", fontsize=8.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    bottom.plot(t, a.real["finished"], color="tab:blue", lw=1.5, label=real_label)
    bottom.plot(t, a.replayed["finished"], color="tab:orange", lw=1.5, ls="--",
                label=replay_label)
    bottom.set_ylabel("trials\nfinished")
    bottom.set_xlabel("time (s)")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper left", fontsize=8)
    bottom.set_xlim(0, t[-1])
    if note:
        fig.text(0.01, 0.005, note, fontsize=8, color="0.35", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


# ---------------------------------------------------------------------------------------------


def _flat(result: Mapping[str, Any]) -> dict[str, Any]:
    """Ray's ``flatten_dict`` of a result whose only nested value is the (flat) config."""
    flat = {k: v for k, v in result.items() if k != "config"}
    for key, value in (result.get("config") or {}).items():
        if isinstance(value, dict):
            from ray.tune.utils import flatten_dict

            return flatten_dict(dict(result))
        flat[f"config/{key}"] = value
    return flat


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _normal_value(value: Any) -> Any:
    value = plain(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if number == 0 or not math.isfinite(number):
            return number
        return float(f"{number:.10g}")
    if isinstance(value, (list, tuple)):
        return tuple(_normal_value(v) for v in value)
    if isinstance(value, str):
        try:
            return _normal_value(float(value))
        except ValueError:
            return value
    return value


def _describe_old(p: Mapping[str, Any]) -> str:
    if p.get("choices"):
        return f"choice({p['choices']})"
    return f"{p.get('scale')} {p.get('kind')} [{p.get('low')}, {p.get('high')}]"


__all__ = ["MODEL_SEARCHERS", "REFUSED_SCHEDULERS", "Agreement", "Recorded", "ReplayCost",
           "StudyReplay", "agreement", "aligned", "plot_agreement", "time_ratio",
           "Simulation", "Strategy", "Table", "TableSearch", "check_against", "load_table",
           "refuse", "replay", "replay_strategies", "replay_study", "strategy_of"]
