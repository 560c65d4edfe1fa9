"""No silent stall: say what the run waits for, and end it as failed after ``budget.stall_s``
(imports Ray: import this lazily).

Tune can wait forever with nothing to show for it: a class without ``reset_config`` whose actor
Ray tried to reuse (the trial stays PENDING after "Could not re-use actor" and never starts),
trials that ask for more resources than the cluster has, a paused bracket nobody resumes.
`StallWatch` (a callback) notices that no trial has trained for a while although trials are
waiting, prints once what they wait for, and at ``stall_s`` asks `RunStopper` to end the
experiment; the runner then records the run as failed with that reason.

A trial counts as training while it is RUNNING (its actor has started; a trial whose setup is
still loading data is PENDING, so ``stall_s`` must exceed the longest setup). A trial that hangs
while RUNNING is `hpotk._watchdog`'s (``budget.trial_time_s``), not this module's.
"""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path
from typing import Any

from ray.tune import Callback, Stopper

WARN_AFTER_S = 60.0  # the first "waiting for ..." line, or half of stall_s if that is shorter
#: what the watch uses of Ray 2.60's TuneController (tests/canary pins each)
CONTROLLER_PARTS = ("get_trials", "is_finished", "_search_alg.set_finished")


class RunStopper(Stopper):
    """Tune's stop rule for hpotk: a trial stops at ``max_t`` iterations (and at
    ``trial_time_s`` seconds); the whole experiment stops once `reason` is set (a stall)."""

    def __init__(self, max_t: int, trial_time_s: float | None = None):
        self.max_t = max_t
        self.trial_time_s = trial_time_s
        self.reason: str | None = None
        self.failure: str | None = None  # another reason to end the run (hpotk._stall.MetricCheck)

    def __call__(self, trial_id: str, result: dict) -> bool:
        if result.get("training_iteration", 0) >= self.max_t:
            return True
        return bool(self.trial_time_s) and result.get("time_total_s", 0) >= self.trial_time_s

    def stop_all(self) -> bool:
        return self.reason is not None or self.failure is not None


class MetricCheck(Callback):
    """Ends the run, with the key to fix, when a trial's first result lacks an objective or a
    constrained metric: without it Ray raised a traceback (one objective) or, with several
    objectives (Tune's single metric unset), every trial would have run to the end with the
    front or the constraint silently empty.

    Args:
        stopper: the run's `RunStopper`; its ``failure`` is set.
        wanted: (key path, metric name) pairs, e.g. ``("metric[1].name", "epoch_s")``.
    """

    def __init__(self, stopper: RunStopper, wanted: list[tuple[str, str]]):
        self.stopper = stopper
        self.wanted = list(wanted)
        self._seen: set[str] = set()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if trial.trial_id in self._seen:
            return
        self._seen.add(trial.trial_id)
        missing = [(path, name) for path, name in self.wanted if name not in result]
        if not missing or self.stopper.failure is not None:
            return
        from ray.tune import result as tune_result

        auto = set(tune_result.AUTO_RESULT_KEYS) | {"done", "config", "trial_id"}
        reported = sorted(k for k, v in result.items() if k not in auto and not k.startswith(
            "config/") and isinstance(v, (int, float)))
        path, name = missing[0]
        self.stopper.failure = (f"{path}: trial {trial.trial_id} reported no {name!r}; it "
                                f"reported {', '.join(reported) or 'no numeric metric'}: fix "
                                f"the name, or report {name!r} from the trainable")


class StallWatch(Callback):
    """Watches for a run in which trials wait and none trains (see the module docstring).

    It watches from a thread of its own, once a second: Tune's loop can itself be what waits
    (it blocks in its searcher for up to 600 s at a time, calling no callback, when the searcher
    has nothing to suggest, as after a refused actor reuse that Ray never reported to it). To end
    such a run it marks the searcher finished, which releases that wait, and the stopper ends
    the experiment at the next step. The controller is found on the call stack of ``setup``
    (Ray 2.60 gives callbacks no handle on it); without it, the watch still ends a stall that
    Tune's loop keeps stepping through, and says once that it cannot do more.

    Args:
        stopper: the run's `RunStopper`, told the reason when the run must end.
        stall_s: seconds without a training trial before the run ends.
        verbose: 0 prints nothing (the runner reports the reason at the end).
    """

    def __init__(self, stopper: RunStopper, stall_s: float, verbose: int = 1):
        self.stopper = stopper
        self.stall_s = float(stall_s)
        self.warn_s = min(WARN_AFTER_S, self.stall_s / 2)
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.last_active = time.monotonic()
        self.warned = False
        self._controller: Any = None
        self._trials: list = []
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles callbacks with the run config
        return {"stopper": self.stopper, "stall_s": self.stall_s, "warn_s": self.warn_s,
                "verbose": self.verbose}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def setup(self, **info: Any) -> None:
        from hpotk._ray_fixes import reach_controller

        self._active()
        self._controller = reach_controller(
            "stall-watch", CONTROLLER_PARTS, "a run that stalls inside Tune's wait for a "
            "suggestion is not ended by budget.stall_s (only stalls Tune keeps stepping through "
            "are)", "hpotk/_stall.py")
        self._thread = threading.Thread(target=self._watch, name="hpotk-stall-watch",
                                        daemon=True)
        self._thread.start()

    def _active(self, *args: Any, **info: Any) -> None:
        self.last_active = time.monotonic()
        self.warned = False

    on_trial_start = on_trial_result = on_trial_complete = on_trial_error = _active

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        # no scan for a RUNNING trial here: the watch thread makes it every second (`check`);
        # at every loop step it cost O(trials) a step, O(trials^2) a run (cProfile: 3.8 % of
        # the driver at 3,000 trials)
        self._trials = trials

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(1.0):
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - a watch must never kill the run
                warnings.warn(f"hpotk's stall watch stopped: {exc!r}", RuntimeWarning,
                              stacklevel=1)
                return

    def check(self) -> None:
        """One look: warn once after ``warn_s`` idle, end the run after ``stall_s``."""
        if self.stopper.reason is not None:
            return
        controller = self._controller() if self._controller is not None else None
        trials = list(controller.get_trials()) if controller is not None else list(self._trials)
        if any(t.status == "RUNNING" for t in trials):
            self._active()
            return
        idle = time.monotonic() - self.last_active
        if idle < self.warn_s or (controller is not None and controller.is_finished()):
            return
        waiting = [t for t in trials if t.status in ("PENDING", "PAUSED")]
        why = waiting_for(waiting, trials)
        if idle >= self.stall_s:
            self.stopper.reason = (f"no trial trained for {idle:.0f} s (budget.stall_s is "
                                   f"{self.stall_s:g}): {why}")
            if self.verbose:
                print(f"[hpotk] ending the run: {self.stopper.reason}", flush=True)
            if controller is not None:
                controller._search_alg.set_finished()  # releases Tune's wait for a suggestion
        elif not self.warned:
            self.warned = True
            if self.verbose:
                print(f"[hpotk] no trial has trained for {idle:.0f} s: {why}. The run ends as "
                      f"failed after {self.stall_s:g} s of this (budget.stall_s)", flush=True)


def waiting_for(waiting: list, trials: list | None = None) -> str:
    """What the run is waiting for, as far as the driver can tell."""
    refused = [t for t in (trials or waiting) if "reset_config" in _error_text(t)]
    if refused:
        return (f"Ray refused to reuse an actor for trial {refused[0].trial_id} (its Trainable "
                f"class has no reset_config that returns True) and stopped waiting for neither "
                f"that trial nor the searcher; set reuse_actors: auto or false, or implement "
                f"reset_config")
    if not waiting:
        return ("the searcher, which suggests no further trial although none is running (Tune "
                "waits for it)")
    short = _short_of_resources(waiting)
    if short:
        return short
    paused = [t for t in waiting if t.status == "PAUSED"]
    if paused and len(paused) == len(waiting):
        return (f"{len(paused)} paused trial(s) that the scheduler does not resume (a paused "
                f"bracket or population)")
    return ("trials whose actors have not started (a trainable's setup, such as loading data, "
            "counts as waiting)")


def _error_text(trial: Any) -> str:
    path = getattr(trial, "error_file", None)
    if not path:
        return ""
    try:
        return Path(path).read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def _short_of_resources(waiting: list) -> str | None:
    """Which resource a waiting trial needs beyond the cluster's total, or beyond what is free."""
    try:
        import ray

        total, free = ray.cluster_resources(), ray.available_resources()
    except Exception:  # noqa: BLE001 - no cluster to ask: say nothing about resources
        return None
    for trial in waiting:
        try:
            need = trial.placement_group_factory.required_resources
        except AttributeError:
            continue
        for key, amount in need.items():
            if amount > total.get(key, 0):
                return (f"trial {trial.trial_id} needs {amount:g} {key} and the cluster has "
                        f"{total.get(key, 0):g} in all: lower resources.{key.lower()} or add "
                        f"nodes")
        for key, amount in need.items():
            if amount > free.get(key, 0):
                return (f"resources: trial {trial.trial_id} needs {amount:g} {key}, "
                        f"{free.get(key, 0):g} free of {total.get(key, 0):g}")
    return None
