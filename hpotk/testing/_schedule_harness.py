"""A stand-in for Ray Tune's TuneController that drives a scheduler over simulated trials.

It calls the scheduler exactly where Ray 2.60's TuneController does: ``on_trial_add`` when a
trial is created, ``choose_trial_to_run`` to fill free slots, ``on_trial_result`` per report
(except the report that hits the stopping criterion ``training_iteration >= max_t``, which Ray
stops without asking the scheduler), ``on_trial_complete`` for a running trial that stops,
``on_trial_remove`` for a paused/pending one, ``on_trial_error`` for one that fails. It serves
what schedulers call back: ``get_trials``, ``get_live_trials``, ``stop_trial``, ``pause_trial``,
``_schedule_trial_save`` (PBT) and ``search_alg``.

A simulated trial's "weights" are its current loss: each iteration multiplies it by
``decay(lr)`` (best at lr=1e-2, no learning at lr=1e-4). It reports ``loss`` (mode min) or
``accuracy = 1 / (1 + loss)`` (mode max). Checkpoints hold the loss, so PBT's exploit really
copies one trial's state into another.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ray.tune import Checkpoint, PlacementGroupFactory
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

DECISIONS = {TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP,
             TrialScheduler.NOOP}
START_LOSS = 10.0


def decay(lr: float) -> float:
    """Per-iteration loss factor: 0.3 at lr=1e-2, 1.0 (no progress) at lr=1e-4 or 1."""
    return min(1.0, 0.3 + 0.35 * abs(math.log10(lr) + 2))


def metric_of(mode: str) -> str:
    return "loss" if mode == "min" else "accuracy"


@dataclass
class SimTrial:
    trial: Trial
    loss: float = START_LOSS
    iteration: int = 0
    nan: bool = False  # reports NaN (a diverged run)
    error_at: int | None = None  # raises at this iteration
    checkpoint_seen: object = None
    decisions: list = field(default_factory=list)


class Harness:
    """Runs ``len(lrs)`` simulated trials under ``scheduler``, ``concurrent`` at a time.

    ``seed`` seeds `random` and NumPy's global generator, which Ray's schedulers draw from
    (AsyncHyperBand assigns brackets at random, PBT picks whom to clone and how to perturb).
    The default 3 puts the suite's bad trial into an AsyncHyperBand bracket shared with others
    (alone in a bracket, ASHA has nothing to compare it with).
    """

    def __init__(self, scheduler: TrialScheduler, lrs: list[float], mode: str, max_t: int,
                 concurrent: int = 2, nan: tuple[int, ...] = (), errors: dict | None = None,
                 seed: int = 3):
        random.seed(seed)
        np.random.seed(seed)
        self.scheduler = scheduler
        self.mode, self.metric, self.max_t = mode, metric_of(mode), max_t
        self.concurrent = concurrent
        self.search_alg = None
        self.dir = Path(tempfile.mkdtemp(prefix="hpotk-sched-"))
        storage = types.SimpleNamespace(experiment_driver_staging_path=str(self.dir),
                                        experiment_dir_name="sim", trial_dir_name=None)
        assert scheduler.set_search_properties(self.metric, mode)
        self.sims: dict[str, SimTrial] = {}
        self.trials: list[Trial] = []
        for i, lr in enumerate(lrs):
            trial = Trial("sim", config={"lr": lr}, trial_id=f"t{i}", stub=True,
                          storage=storage, experiment_tag=str(i),
                          placement_group_factory=PlacementGroupFactory([{"CPU": 1}]))
            trial.create_placement_group_factory()  # as TuneController.add_trial does
            self.sims[trial.trial_id] = SimTrial(trial, nan=i in nan,
                                                 error_at=(errors or {}).get(i))
            self.trials.append(trial)
            scheduler.on_trial_add(self, trial)
        self.results = 0

    # --- what schedulers call -----------------------------------------------------------------

    def get_trials(self) -> list[Trial]:
        return self.trials

    def get_live_trials(self) -> list[Trial]:
        return [t for t in self.trials if t.status != Trial.TERMINATED]

    def stop_trial(self, trial: Trial) -> None:
        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
        else:
            self.scheduler.on_trial_complete(self, trial, dict(trial.last_result))
        trial.set_status(Trial.TERMINATED)

    def pause_trial(self, trial: Trial, should_checkpoint: bool = True) -> None:
        trial.set_status(Trial.PAUSED)

    def _schedule_trial_save(self, trial: Trial, result: dict | None = None) -> Checkpoint:
        sim = self.sims[trial.trial_id]
        path = self.dir / f"ckpt-{trial.trial_id}-{sim.iteration}-{random.random():.9f}"
        path.mkdir()
        (path / "state.json").write_text(json.dumps({"loss": sim.loss,
                                                     "iteration": sim.iteration}))
        return Checkpoint.from_directory(str(path))

    # --- the loop -------------------------------------------------------------------------------

    def running(self) -> list[Trial]:
        return [t for t in self.trials if t.status == Trial.RUNNING]

    def _start(self, trial: Trial) -> None:
        sim = self.sims[trial.trial_id]
        latest = trial.run_metadata.checkpoint_manager._latest_checkpoint_result
        checkpoint = getattr(latest, "checkpoint", None)
        if checkpoint is not None and checkpoint is not sim.checkpoint_seen:  # PBT exploit
            state = json.loads((Path(checkpoint.path) / "state.json").read_text())
            sim.loss, sim.iteration = state["loss"], state["iteration"]
            sim.checkpoint_seen = checkpoint
        trial.set_status(Trial.RUNNING)

    def step(self) -> bool:
        """Fill free slots, then give each running trial one iteration. False when all ended."""
        while len(self.running()) < self.concurrent:
            trial = self.scheduler.choose_trial_to_run(self)
            if trial is None:
                break
            assert trial.status in (Trial.PENDING, Trial.PAUSED), trial.status
            self._start(trial)
        if not self.running():
            return False
        for trial in self.running():
            if trial.status == Trial.RUNNING:  # a scheduler may stop others meanwhile
                self._advance(trial)
        return True

    def _advance(self, trial: Trial) -> None:
        sim = self.sims[trial.trial_id]
        sim.iteration += 1
        if sim.error_at == sim.iteration:
            self.scheduler.on_trial_error(self, trial)
            trial.set_status(Trial.ERROR)
            return
        sim.loss *= decay(trial.config["lr"])
        value = sim.loss if self.mode == "min" else 1.0 / (1.0 + sim.loss)
        result = {self.metric: math.nan if sim.nan else value,
                  "training_iteration": sim.iteration, "trial_id": trial.trial_id}
        self.results += 1
        if sim.iteration >= self.max_t:  # Ray's stopper: no scheduler call
            decision = TrialScheduler.STOP
        else:
            decision = self.scheduler.on_trial_result(self, trial, result)
            assert decision in DECISIONS, decision
            sim.decisions.append((sim.iteration, decision))
        trial.update_last_result(result)
        if decision == TrialScheduler.STOP:
            self.stop_trial(trial)
        elif decision == TrialScheduler.PAUSE:
            trial.set_status(Trial.PAUSED)
        # CONTINUE: keeps running; NOOP: the scheduler set the status itself (PBT exploit)

    def run(self, until_results: int | None = None) -> Harness:
        """Run to the end, or until ``until_results`` results were reported."""
        for _ in range(100_000):
            if until_results is not None and self.results >= until_results:
                return self
            if not self.step():
                return self
        raise AssertionError("the scheduler never lets the experiment finish")

    # --- outcomes -------------------------------------------------------------------------------

    def stopped_early(self) -> set[int]:
        """Indices of trials stopped (not errored) before max_t."""
        return {i for i, t in enumerate(self.trials)
                if t.status == Trial.TERMINATED and self.sims[t.trial_id].iteration < self.max_t}

    def statuses(self) -> list[str]:
        return [t.status for t in self.trials]
