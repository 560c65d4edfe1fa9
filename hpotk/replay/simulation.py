"""The simulator: Ray Tune's TuneController played for one scheduler on a simulated clock.

The scheduler objects are the very ones `hpotk run` gives Ray Tune (`build_scheduler`, through
`hpotk.schedulers.plan`), called where Ray 2.60's TuneController calls them:

- ``on_trial_add`` when the searcher creates a trial; ``choose_trial_to_run`` to fill a free
  worker; ``on_trial_result`` per result, except the one that reaches ``max_t`` (Ray's stopper
  ends that trial without asking the scheduler); ``on_trial_complete`` for a running trial that
  stops, ``on_trial_remove`` for a paused or pending one;
- the scheduler's callbacks: ``get_trials``, ``get_live_trials``, ``stop_trial``,
  ``pause_trial``.

**The clock.** Time 0 is the start of the experiment. The first trials start when the table's
first trial did (Ray's own start-up, as recorded), each worker when the recording's did (on a
loaded machine the second comes up seconds after the first), and the time budget counts from
the first (Ray's counts from the Tuner's start, a moment earlier). A trial started at ``t``
reports iteration ``i`` at ``t + setup + sum(seconds of iterations 1..i)``. A trial's setup is
the recorded time from its worker becoming free to its first result, less its first iteration:
Ray's latency in starting it, the actor, the trainable's setup. An iteration's seconds are the recorded seconds
between the trial's consecutive results, which include Ray's per-result overhead
(``time_this_iter_s`` alone leaves it out; it is used where the gap cannot be read).

**Pausing** (synchronous hyperband) is simulated as Syne Tune does: when the scheduler pauses a
trial, the trial's results after the pause are dropped; when it resumes, it continues from the
iteration it was paused at (hpotk checkpoints at every pause), pays its setup again, and the
resume records the time offset: the recorded seconds of the iterations it does not redo.

**Searchers.** On the table, the searcher is `TableSearch` (the recorded configs). On a
surrogate (`hpotk.replay.surrogate`) it is `SurrogateSearch`: the strategy's own searcher,
asked for a trial whenever Ray's controller would ask it (while fewer than the search's
concurrency limit are live), told every result (``on_trial_result``) and every trial's end
(``on_trial_complete``, with its last result), as Ray's ``SearchGenerator`` tells it; a searcher
that answers None (it waits for results) is asked again after the next event. **The searcher's
time** is charged to the clock: what its ``suggest``, ``on_trial_result`` and
``on_trial_complete`` take, measured as they run in the replay, delays the trial it was
deciding for and every event after it, as Tune's driver does (a Gaussian process refitted on
hundreds of results takes a good part of a second, and on the quickstart a real asha/bo run
finished 133 trials in 75 s where a replay without this charge finished 357). Measured here,
the replay of a model-based searcher depends a little on this machine's speed. A study's
``charge_searcher: false`` leaves it out, for a table whose clock stands for another scale
(the NERSC study: a training of seconds here stands for hours on the guide's GPUs).

**Checkpoints** cost ``strategy.checkpoint_s`` each: after every ``checkpoint_every``-th
iteration of a trial that goes on, and when a paused trial is restored.

`replay` runs one strategy with one seed; `Simulation.to_results` makes the run an in-memory
`hpotk.results.Results` (``freshness.source == "replay"``).
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

from hpotk.errors import HpotkError
from hpotk.replay.search import Strategy, TableSearch, refuse
from hpotk.replay.table import Recorded, Table


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
    ``concurrent`` workers: the searcher creates a trial while fewer than ``live_limit`` trials
    are live (Ray's BasicVariantGenerator with ``max_concurrent``, as `hpotk run` builds it; a
    paused trial is live): ``concurrent``, or the whole population under a scheduler that
    holds one (synchronous hyperband: `hpotk.schedulers.population`, whose members join paused
    and which itself keeps ``concurrent`` of them training). A free worker runs
    ``choose_trial_to_run``'s pick.
    """

    def __init__(self, table: Table, scheduler: Any, search: Any, *, concurrent: int,
                 max_t: int, time_s: float | None = None, seed: int = 0,
                 live_limit: int | None = None, checkpoint_every: int = 0,
                 checkpoint_s: float = 0.0, charge_searcher: bool = True):
        from ray.tune.experiment import Trial

        self._Trial = Trial
        self.table, self.scheduler, self.search = table, scheduler, search
        self.concurrent, self.max_t, self.seed = concurrent, min(max_t, table.max_t), seed
        self.live_limit = live_limit or concurrent
        self.checkpoint_every, self.checkpoint_s = int(checkpoint_every), float(checkpoint_s)
        self.checkpoints = 0
        self._hears = hasattr(search, "on_result")  # a searcher that learns (SurrogateSearch)
        self.think_s = 0.0  # the searcher's measured time, charged to the clock (`_think`)
        self.charge_searcher = charge_searcher
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
        if self._hears:
            self.search.on_complete(trial.trial_id, _flat(trial.last_result)
                                    if trial.last_result else None)
            self._think()
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
            at = max(at, self.now)  # the driver was busy with the searcher until now
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
        if self.deadline is not None:
            self.now = min(self.now, self.deadline)  # a last charge may pass the budget
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

    # what Tune's controller offers schedulers under this name (hpotk.schedulers.population)
    _set_trial_status = _set_status

    def _live(self) -> int:
        return self._live_n

    def _running(self) -> int:
        return self._running_n

    def _fill(self) -> None:
        while True:
            while self._live() < self.live_limit and not self.search.exhausted:
                recorded = self.search.next(f"r{len(self.trials):05d}")
                self._think()
                if recorded is None:  # the searcher waits for results (or has none left)
                    break
                self._add(recorded)
            if self.search.exhausted and self.exhausted_s is None:
                self.exhausted_s = self.now
            if self._running() >= min(self.concurrent, self._ready_n):
                return
            trial = self.scheduler.choose_trial_to_run(self)
            if trial is None:
                return
            self._start(self.runs[trial.trial_id])

    def _think(self) -> None:
        """Charge the searcher's time since the last charge to the clock: Tune's driver asks
        its searcher between a result and the trial's next step (and before starting a trial),
        and the workers wait meanwhile. Measured as the searcher runs in this replay (a GP's
        fit on hundreds of results takes a good part of a second); random search costs 0."""
        spent = getattr(self.search, "think_s", 0.0)
        if spent > self.think_s:
            if self.charge_searcher:
                self.now += spent - self.think_s
            self.think_s = spent

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
        restore = 0.0
        if trial.status == self._Trial.PAUSED and run.started_s is not None:
            offset = sum(run.recorded.iter_s[:run.done])
            run.resumes.append({"time_s": self.now, "iteration": run.done, "offset_s": offset})
            restore = self.checkpoint_s if run.done else 0.0
        elif run.started_s is None:
            run.started_s = self.now
        self._set_status(trial, self._Trial.RUNNING)
        self._schedule(run, self.now + run.recorded.setup_s + restore)

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
        if self._hears:
            self.search.on_result(trial.trial_id, _flat(result))
            self._think()
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
                cost = 0.0
                if self.checkpoint_every and iteration % self.checkpoint_every == 0:
                    cost = self.checkpoint_s
                    self.checkpoints += 1
                self._schedule(run, self.now + cost)
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
                       "surrogate": bool(self._hears), "checkpoints": self.checkpoints,
                       "searcher_s": self.think_s,
                       "checkpoint_s": self.checkpoint_s,
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
    ctx = schedulers.SchedulerContext(
        space=space, metric=table.metric, mode=table.mode,
        max_t=min(strategy.max_t or table.max_t, table.max_t),
        trials=strategy.trials or len(table.trials), seed=seed, searcher=strategy.searcher,
        concurrent=strategy.concurrent)
    return schedulers.plan(strategy.scheduler, ctx, dict(strategy.scheduler_options)).scheduler


def replay(table: Table, strategy: Strategy, seed: int = 0,
           order: Sequence[str] | None = None, surrogate: Any = None) -> Simulation:
    """Replay ``strategy`` on ``table`` once, with ``seed`` (Ray's schedulers draw from Python's
    and NumPy's global generators, seeded here as the harness of Ray's tests does).

    ``order``: recorded trial ids to try, in this order, instead of the searcher's draw.
    ``surrogate``: a `hpotk.replay.surrogate.Surrogate` of the table: the strategy's searcher
    proposes and the surrogate answers (`SurrogateSearch`) instead of drawing recorded configs.
    """
    import numpy as np

    from hpotk.replay.search import SurrogateSearch

    refuse(strategy, surrogate=surrogate is not None)
    random.seed(seed)
    np.random.seed(seed)
    from hpotk import schedulers

    scheduler = build_scheduler(table, strategy, seed)
    if surrogate is not None:
        if order is not None:
            raise HpotkError("order names recorded trials; a surrogate replay proposes its own")
        search: Any = SurrogateSearch(surrogate, strategy, seed)
        planned = strategy.trials or 1000
    else:
        search = TableSearch(table, strategy, seed, order=order)
        planned = strategy.trials or len(table.trials)
    population = schedulers.holds_population(strategy.scheduler)  # as hpotk.plan decides
    sim = Simulation(table, scheduler, search, concurrent=strategy.concurrent,
                     max_t=strategy.max_t or table.max_t, time_s=strategy.time_s, seed=seed,
                     live_limit=planned if population else None,
                     checkpoint_every=strategy.checkpoint_every,
                     checkpoint_s=strategy.checkpoint_s,
                     charge_searcher=strategy.charge_searcher)
    return sim.run()


def _flat(result: Mapping[str, Any]) -> dict[str, Any]:
    """Ray's ``flatten_dict`` of a result whose only nested value is the (flat) config."""
    flat = {k: v for k, v in result.items() if k != "config"}
    for key, value in (result.get("config") or {}).items():
        if isinstance(value, dict):
            from ray.tune.utils import flatten_dict

            return flatten_dict(dict(result))
        flat[f"config/{key}"] = value
    return flat
