"""A trial that hangs with no output still ends at ``budget.trial_time_s`` (imports Ray: import
this lazily).

Tune checks a trial's stop criteria (``time_total_s``) only when the trial reports a result, so a
trial stuck in a deadlock, a dead file system or a wait that never returns would hold its slot
forever. `HangWatchdog` looks at the running trials at every step of Tune's loop; one that has
run longer than ``trial_time_s`` plus a grace period (`grace_s`) since its (re)start is stopped
by killing its actor, which Tune sees as a trial failure (retried under ``max_failures``, like
any other). Each kill is appended to ``results/<name>/watchdog.jsonl``, so ``trials.csv`` marks
the trial TIMEOUT with the cause.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ray.tune import Callback

from hpotk import layout

WATCHDOG_LOG = layout.WATCHDOG_LOG


def grace_s(trial_time_s: float) -> float:
    """How long past ``trial_time_s`` a silent trial may run: long enough for one more result."""
    return max(5.0, 0.2 * trial_time_s)


class HangWatchdog(Callback):
    """Kills the actor of a trial that has run past ``trial_time_s`` without Tune stopping it.

    Args:
        trial_time_s: the experiment's ``budget.trial_time_s``.
        log_path: ``watchdog.jsonl`` of the results directory.
    """

    def __init__(self, trial_time_s: float, log_path: str):
        self.limit = trial_time_s + grace_s(trial_time_s)
        self.trial_time_s = trial_time_s
        self.log_path = log_path
        self.started: dict[str, float] = {}
        self.killed: set[tuple[str, float]] = set()
        # the trials started and not ended: each step looks at these, not at every trial of
        # the experiment (thousands, under asha)
        self.live: dict[str, Any] = {}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.monotonic()
        self.live[trial.trial_id] = trial

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started.pop(trial.trial_id, None)  # its restart is a new on_trial_start
        self.live.pop(trial.trial_id, None)

    def _ended(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started.pop(trial.trial_id, None)
        self.live.pop(trial.trial_id, None)

    on_trial_complete = on_trial_error = _ended

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        for trial in list(self.live.values()):
            start = self.started.get(trial.trial_id)
            if trial.status != "RUNNING" or start is None or now - start < self.limit:
                continue
            if (trial.trial_id, start) in self.killed:
                continue
            actor = getattr(getattr(trial, "temporary_state", None), "ray_actor", None)
            if actor is None:
                continue
            self.killed.add((trial.trial_id, start))
            last = trial.last_result or {}
            reason = (f"hung: no result for {now - start:.0f} s since its start "
                      f"(trial_time_s={self.trial_time_s:g}, last iteration "
                      f"{last.get('training_iteration', 0)}); its actor was killed")
            with open(self.log_path, "a") as f:
                f.write(json.dumps({"trial_id": trial.trial_id, "time": time.time(),
                                    "reason": reason}) + "\n")
            import ray

            ray.kill(actor, no_restart=True)
