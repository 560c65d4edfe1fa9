"""A population that exists from the start and trains on a fixed number of slots.

PBT and synchronous HyperBand need all their trials alive at once: PBT exploits across the whole
population, a HyperBand bracket waits at each rung until every member has arrived. Promotion-type
ASHA (`hpotk.schedulers.promotion`) leaves trials paused at rungs, possibly to the end, and still
needs new ones to start. The NERSC Ray
Tune guide relies on Ray's answer: "workers can also be time-multiplexed if the number of workers
exceeds the resource size": members pause (at a perturbation point, at a rung) and others train
on the freed resources.

A searcher-side limit (``ConcurrencyLimiter``, ``BasicVariantGenerator(max_concurrent=...)``)
cannot give that: it counts a paused trial as live, so with ``trials: 8, concurrent: 2`` only two
members ever exist at a time and PBT becomes a relay of populations of two. Ray 2.60 has no
per-experiment resource pool to cap training by resources instead (a node's custom resources
are fixed when it starts, and the experiment runs on whatever cluster it is given), so hpotk caps
it in the scheduler, the one component Tune asks before resuming a paused trial:

- every new member joins the population paused (``on_trial_add``), so Tune's controller, which
  starts any PENDING trial its resources allow, leaves it alone;
- ``choose_trial_to_run`` hands Tune a paused member only while fewer than ``slots`` trials
  train (RUNNING, or PENDING: being started); the wrapped scheduler's own choice comes first
  (PBT's least-trained member, HyperBand's promoted trials), then members that never ran, in
  the order they were created.

``slots`` is ``budget.concurrent``; None (a scheduler unpickled from an older release) leaves
the wrapped scheduler as it was.
"""

from __future__ import annotations

from typing import Any

from hpotk.schedulers import SchedulerContext


class Population:
    """Mixin for a Ray ``TrialScheduler``: the whole population exists, ``slots`` train."""

    slots: int | None = None  # class default: schedulers pickled before this existed

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)  # type: ignore[misc]
        from ray.tune.experiment import Trial

        if self.slots and trial.status == Trial.PENDING:
            _pause(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        inner = super().choose_trial_to_run(tune_controller)  # type: ignore[misc]
        if not self.slots:
            return inner
        from ray.tune.experiment import Trial

        trials = tune_controller.get_trials()
        if not self.slot_free(trials):
            return None
        if inner is not None and inner.status == Trial.PAUSED:
            return inner
        for trial in trials:  # members that never ran (HyperBand resumes only promoted ones)
            if trial.status == Trial.PAUSED and not has_trained(trial):
                return trial
        return None

    def slot_free(self, trials: list[Any]) -> bool:
        """Whether fewer than ``slots`` of ``trials`` train (RUNNING, or PENDING: being
        started); always, without slots."""
        if not self.slots:
            return True
        from ray.tune.experiment import Trial

        training = sum(1 for t in trials if t.status in (Trial.RUNNING, Trial.PENDING))
        return training < self.slots


def _pause(tune_controller: Any, trial: Any) -> None:
    """Make a PENDING trial wait for a slot, paused. A new trial is not filed under its status
    yet (Tune calls ``on_trial_add`` first): its own status is set. A trial Tune re-queued
    after a failure (``max_failures``) is filed as PENDING already: the controller moves it."""
    from ray.tune.experiment import Trial

    try:
        tune_controller._set_trial_status(trial, Trial.PAUSED)
    except (AssertionError, KeyError):  # not filed yet: Ray checks before it changes anything
        trial.set_status(Trial.PAUSED)


def has_trained(trial: Any) -> bool:
    """Whether the trial reported a result already (a paused one then waits to be resumed)."""
    # run_metadata.last_result, not Trial.last_result (which fills in defaults for a new trial)
    return bool(trial.run_metadata.last_result.get("training_iteration"))


def wants_population(ctx: SchedulerContext) -> bool:
    """Whether the population is larger than the slots (else there is nothing to multiplex)."""
    return bool(ctx.concurrent) and ctx.trials > int(ctx.concurrent or 0)


def describe(ctx: SchedulerContext, pause_at: str) -> str:
    """`hpotk plan`'s line: how the population shares its slots."""
    if not wants_population(ctx):
        return f"a population of {ctx.trials}, all training at once"
    return (f"a population of {ctx.trials}, {ctx.concurrent} training at a time; members pause "
            f"at {pause_at} and the others train in their place")
