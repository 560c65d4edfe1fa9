"""ASHA, promotion type (Li et al., MLSys 2020, Algorithm 2; Syne Tune's ``type="promotion"``).

Ray's ASHA (`hpotk.schedulers.asha`) is the *stopping* type: a trial reaching a rung goes on at
once or is stopped for good. Here a trial reaching rung k (``grace_period *
reduction_factor**k`` iterations, below ``max_t``) is *paused*, with a checkpoint. When a worker
frees, it promotes the best paused trial among the top ``1/reduction_factor`` (``floor(n/eta)``
of the ``n`` results recorded at the rung) not yet promoted, from the highest rung that has
one; only if no rung has one does a new trial start. A promoted trial resumes from its
checkpoint and trains to the next rung (or to ``max_t``, where it completes). A late trial can
still take a promotion from an early one, which stopping-type ASHA cannot give back.

Where a trial that just reached a rung is itself the one the freed worker would promote, it
goes on without the pause (the same decision, without a checkpoint and a restart).

Every trial exists from the start and ``budget.concurrent`` of them train
(`hpotk.schedulers.population`): paused trials count as live, so a searcher-side limit of
``concurrent`` would stop new trials as soon as that many wait at rungs. The cost: the searcher
proposes every config up front, so a model-based searcher (tpe, bo) learns nothing from the
results; pair it with random (or grid, sobol) search.

The end: once no trial trains, none is left to start and no paused trial is promotable, nothing
can change any more (only new results at a rung make a trial promotable); the trials still
paused are stopped, and the experiment completes.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from hpotk.schedulers import SchedulerContext
from hpotk.schedulers._saved import SavesItsAttributes
from hpotk.schedulers.asha import rungs, settings
from hpotk.schedulers.population import Population, has_trained, wants_population
from hpotk.schedulers.population import describe as describe_population

POPULATION = True  # every trial exists from the start (hpotk.schedulers.population)
OPTIONS = {"grace_period": int, "reduction_factor": (int, float), "max_t": int}


class PromotionASHA(SavesItsAttributes, Population, FIFOScheduler):
    """Promotion-type ASHA as a Ray ``TrialScheduler``: pause at rungs, promote on a free slot.

    Its state is keyed by trial id, so a pickled copy (or `save`/`restore`) carries on with the
    controller's trials.

    Args:
        time_attr: the result key that counts progress (``training_iteration``).
        grace_period: iterations of the first rung.
        reduction_factor: eta: rung k is at ``grace_period * eta**k``; the top ``1/eta`` of a
            rung is promoted.
        max_t: iterations at which a trial completes.
        trials: how many trials the searcher may have alive (a new one is proposed only while
            fewer are): when that many wait and nothing trains, the end has come even if the
            searcher is not finished.
    """

    _supports_buffered_results = False  # a trial must stop at the rung, not some results later

    def __init__(self, *, time_attr: str = "training_iteration", grace_period: int = 1,
                 reduction_factor: float = 3, max_t: int = 81, trials: int | None = None):
        super().__init__()
        self._time_attr, self._eta, self._max_t = time_attr, reduction_factor, max_t
        self._trials = trials
        self._mode: str | None = None
        self._levels = levels(grace_period, reduction_factor, max_t)
        # per rung: (sort key, arrival, trial id), best first; and trial id -> value
        self._ranked: list[list[tuple[tuple[int, float], int, str]]] = [[] for _ in self._levels]
        self._values: list[dict[str, float]] = [{} for _ in self._levels]
        self._waiting: dict[str, int] = {}  # trial id -> the rung it waits at, not promoted yet
        self._arrivals = 0

    # --- Ray's TrialScheduler ------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        if not self._metric or self._mode not in ("min", "max"):
            raise ValueError(
                f"{type(self).__name__} needs a metric and a mode ('min' or 'max') before trials "
                f"are added, got metric={self._metric!r}, mode={self._mode!r}: pass them to "
                f"tune.TuneConfig (or set_search_properties)")
        self._recover(trial)
        super().on_trial_add(tune_controller, trial)  # Population: a new member waits, paused

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        t = result.get(self._time_attr)
        if t is None:
            return TrialScheduler.CONTINUE
        if t >= self._max_t:
            return TrialScheduler.STOP
        if not self._record(trial.trial_id, t, result.get(self._metric)):
            return TrialScheduler.CONTINUE
        if self._next(tune_controller.get_trials(), arriving=trial) is trial:
            del self._waiting[trial.trial_id]  # promoted in place: its own worker is the free one
            return TrialScheduler.CONTINUE
        return TrialScheduler.PAUSE  # Tune checkpoints it and frees its worker

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        trials = tune_controller.get_trials()
        if not self.slot_free(trials):
            return None
        chosen = self._next(trials)
        if chosen is not None:
            # promoted now; until Tune starts it, it is "interrupted" and chosen first again
            self._waiting.pop(chosen.trial_id, None)
            return chosen
        for trial in trials:  # no promotion: a new trial
            if trial.status == Trial.PENDING and not self.slots:
                return trial
            if trial.status == Trial.PAUSED and not has_trained(trial):
                return trial
        if self._finished(tune_controller, trials):
            for trial in [t for t in trials if t.status == Trial.PAUSED]:
                tune_controller.stop_trial(trial)
        return None

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._waiting.pop(trial.trial_id, None)  # it keeps its records (and its place in a top)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._waiting.pop(trial.trial_id, None)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._waiting.pop(trial.trial_id, None)

    def debug_string(self) -> str:
        counts = ", ".join(f"{level}: {len(v)}" for level, v in zip(self._levels, self._values,
                                                                    strict=True))
        return (f"Using promotion-type ASHA: reduction_factor {self._eta}, max_t {self._max_t}, "
                f"trials recorded at each rung ({counts}), {len(self._waiting)} waiting.")

    # --- the rungs -----------------------------------------------------------------------------

    def _record(self, trial_id: str, t: float, value: Any) -> bool:
        """Record the trial at every rung it reached for the first time; it then waits at the
        highest of them (those below it it passed, as if promoted). False if none."""
        new = [k for k, level in enumerate(self._levels)
               if level <= t and trial_id not in self._values[k]]
        if not new:
            return False
        value = float(value) if isinstance(value, (int, float)) else math.nan
        finite = math.isfinite(value)
        key = (0, value if self._mode == "min" else -value) if finite else (1, 0.0)
        for k in new:
            self._arrivals += 1
            bisect.insort(self._ranked[k], (key, self._arrivals, trial_id))
            self._values[k][trial_id] = value
        self._waiting[trial_id] = new[-1]
        return True

    def _next(self, trials: list[Any], arriving: Any = None) -> Any:
        """What a free worker takes, short of a new trial: a trial interrupted on its way (its
        promotion handed to Tune, or re-queued after a failure), else the promotion. ``arriving``
        (running, just recorded at a rung) counts as paused there."""
        for trial in trials:
            if (trial is not arriving and trial.status == Trial.PAUSED
                    and trial.trial_id not in self._waiting and has_trained(trial)):
                return trial
        for k in reversed(range(len(self._levels))):
            top = math.floor(len(self._ranked[k]) / self._eta + 1e-9)
            for (kind, _), _, trial_id in self._ranked[k][:top]:
                if kind or self._waiting.get(trial_id) != k:
                    continue  # not finite, or promoted already
                if arriving is not None and trial_id == arriving.trial_id:
                    return arriving
                trial = next((t for t in trials if t.trial_id == trial_id), None)
                if trial is not None and trial.status == Trial.PAUSED:
                    return trial
        return None

    def _finished(self, tune_controller: Any, trials: list[Any]) -> bool:
        """Nothing trains, nothing is left to start: no paused trial can become promotable."""
        if any(t.status in (Trial.RUNNING, Trial.PENDING) for t in trials):
            return False
        search = getattr(tune_controller, "search_alg", None)
        if search is None or search.is_finished():
            return True
        live = sum(1 for t in trials if t.status not in (Trial.TERMINATED, Trial.ERROR))
        return bool(self._trials) and live >= self._trials  # the searcher waits for a free place

    def _recover(self, trial: Any) -> None:
        """A trial that trained before this scheduler met it (an experiment resumed from Tune's
        saved state) takes its place at the rungs its last result reached."""
        last = trial.run_metadata.last_result or {}
        t = last.get(self._time_attr)
        if trial.status in (Trial.TERMINATED, Trial.ERROR) or not t or t >= self._max_t:
            return
        if self._record(trial.trial_id, t, last.get(self._metric)):
            if self._levels[self._waiting[trial.trial_id]] != t:
                del self._waiting[trial.trial_id]  # past the rung: it had been promoted


def levels(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The rungs' iterations below max_t, ascending: asha's milestones, each acting at the first
    iteration >= it (two that round to the same iteration are one rung)."""
    return sorted({level for level in rungs(grace_period, reduction_factor, max_t)
                   if level < max_t})


def _settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, Any]:
    return settings(ctx, options, OPTIONS)  # grace_period >= 1, reduction_factor > 1, ...


def build(ctx: SchedulerContext, **options: Any) -> PromotionASHA:
    s = _settings(ctx, options)
    scheduler = PromotionASHA(time_attr=ctx.time_attr, trials=ctx.trials, **s)
    scheduler.slots = ctx.concurrent if wants_population(ctx) else None
    return scheduler


def checkpoint_every(ctx: SchedulerContext, **options: Any) -> int:
    """Paused trials resume where they stopped: a checkpoint at each pause (0: no more)."""
    _settings(ctx, options)
    return 0


def expected_rungs(trials: int, grace_period: int, reduction_factor: float,
                   max_t: int) -> list[dict]:
    """Rungs (and max_t) with the trials that reach each once all ``trials`` have run: every one
    reaches the first rung, ``floor(n / eta)`` of the ``n`` at a rung go on."""
    plan, n = [], trials
    for level in levels(grace_period, reduction_factor, max_t) + [max_t]:
        plan.append({"iterations": level, "expected_trials": n})
        n = math.floor(n / reduction_factor + 1e-9)
    return plan


def trials_to_reach_max_t(grace_period: int, reduction_factor: float, max_t: int) -> int:
    """The fewest trials of which one is promoted all the way to max_t."""
    need = 1
    for _ in levels(grace_period, reduction_factor, max_t):
        need = math.ceil(need * reduction_factor - 1e-9)
    return need


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    g, eta, max_t = s["grace_period"], s["reduction_factor"], s["max_t"]
    info: dict[str, Any] = {
        "rungs": expected_rungs(ctx.trials, g, eta, max_t),
        "summary": f"promotion-type ASHA, reduction_factor {eta}: a trial pauses at each rung; "
                   f"a free worker resumes the best paused trial in the top 1/{eta} of the "
                   f"highest rung that has one, else starts a new trial; max_t={max_t} "
                   f"completes a trial, and those still paused at the end are stopped",
        "population": describe_population(ctx, "each rung until promoted"),
    }
    need = trials_to_reach_max_t(g, eta, max_t)
    if ctx.trials < need:
        info["warnings"] = [
            f"with {ctx.trials} trials no trial reaches max_t={max_t}: one is promoted through "
            f"every rung only from {need} trials (raise budget.trials, or grace_period, or "
            f"lower reduction_factor)"]
    return info
