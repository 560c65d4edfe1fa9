"""Fixes for Ray Tune 2.60 behaviour that would cost a user their experiment (imports Ray: import
this lazily). Each is installed once, by `install`, before hpotk starts a Tuner.

**A trial killed by Ray's OOM killer crashes the driver.** When a node runs low on memory,
Ray's memory monitor kills the worker using the most memory, and the pending call on that actor
fails with ``ray.exceptions.OutOfMemoryError``. That class derives from ``RayError`` only, not
from ``RayActorError`` or ``RayTaskError``, and Tune's actor manager
(``RayActorManager._actor_task_failed``) raises ``RuntimeError("Caught unexpected exception")``
for any other class: the whole experiment ends with a traceback, and a resume runs the same
trial into the same kill. The worker process is gone, so the fix handles the error as the
actor's death: Tune marks the trial failed (retried under ``max_failures``, else ERROR, with the
OOM message in its ``error.txt``) and the experiment goes on. ``WorkerCrashedError`` and
``NodeDiedError``, the other ``RayError`` classes that mean the worker is gone, are handled the
same way. ``tests/faults/test_oom_e2e.py`` provokes a real OOM kill.

**A resume after a killed driver restores from a checkpoint Tune has already deleted.** With
``checkpoint.keep`` (``num_to_keep``), Tune deletes a trial's older checkpoint the moment it
registers a newer one, but saves the experiment state only at a later loop step. A driver killed
in between leaves a state that names the deleted checkpoint, and the resumed trial fails with
"Could not recover from checkpoint as it does not exist on storage anymore". The loss of a
head node found it (`tests/slurm/test_node_loss.py`). The fix restores such a trial from the
newest checkpoint left in its directory, which is the one that replaced it, or restarts the
trial from its start if there is none.
"""

from __future__ import annotations

from typing import Any

_installed = False


def _worker_lost_errors() -> tuple[type, ...]:
    from ray import exceptions

    names = ("OutOfMemoryError", "WorkerCrashedError", "NodeDiedError")
    return tuple(getattr(exceptions, n) for n in names if hasattr(exceptions, n))


def install() -> None:
    """Install the fixes (idempotent)."""
    global _installed
    if _installed:
        return
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.exceptions import RayActorError, RayTaskError

    original = RayActorManager._actor_task_failed
    lost = _worker_lost_errors()

    def _actor_task_failed(self: Any, tracked_actor_task: Any, exception: Exception) -> None:
        if isinstance(exception, lost) and not isinstance(exception, (RayActorError,
                                                                      RayTaskError)):
            # what the RayActorError branch does (Tune's handlers accept only that class):
            # the actor is dead, its trial failed, and error.txt names the real cause
            cause = type(exception)
            exception = RayActorError(
                actor_id=getattr(tracked_actor_task._tracked_actor, "actor_id", None),
                error_msg=f"{cause.__module__}.{cause.__name__}: {exception}")
            tracked_actor = tracked_actor_task._tracked_actor
            self._failed_actor_ids.add(tracked_actor.actor_id)
            self._cleanup_actor(tracked_actor=tracked_actor)
            if tracked_actor._on_error:
                tracked_actor._on_error(tracked_actor, exception)
            if tracked_actor_task._on_error:
                tracked_actor_task._on_error(tracked_actor, exception)
            return
        original(self, tracked_actor_task, exception)

    _actor_task_failed.__wrapped__ = original  # type: ignore[attr-defined]
    RayActorManager._actor_task_failed = _actor_task_failed

    from ray.tune.execution.tune_controller import TuneController

    original_restore = TuneController._schedule_trial_restore

    def _schedule_trial_restore(self: Any, trial: Any) -> bool:
        if not point_at_a_checkpoint_that_exists(trial):
            return False  # no checkpoint left: the trial starts again from its start
        return original_restore(self, trial)

    _schedule_trial_restore.__wrapped__ = original_restore  # type: ignore[attr-defined]
    TuneController._schedule_trial_restore = _schedule_trial_restore
    _installed = True


def point_at_a_checkpoint_that_exists(trial: Any) -> bool:
    """Make the trial's latest checkpoint one that exists on local storage. False when the
    trial had one and none is left; True otherwise (also for remote storage, left to Tune)."""
    import os
    import re

    result = getattr(trial, "latest_checkpoint_result", None)
    checkpoint = getattr(result, "checkpoint", None)
    if checkpoint is None:
        return True
    path = str(checkpoint.path)
    filesystem = getattr(checkpoint, "filesystem", None)
    if type(filesystem).__name__ != "LocalFileSystem" or os.path.exists(path):
        return True
    parent, name = os.path.split(path)
    pattern = re.compile(r"checkpoint_(\d+)$")
    here = pattern.match(name)
    kept = sorted((int(m.group(1)), entry) for entry in (
        os.listdir(parent) if os.path.isdir(parent) else []) if (m := pattern.match(entry)))
    newer = [entry for index, entry in kept if here is None or index > int(here.group(1))]
    if not newer:
        print(f"[hpotk] trial {trial.trial_id}: its checkpoint {path} is gone and no newer one "
              f"is left; it starts again", flush=True)
        trial.run_metadata.checkpoint_manager._latest_checkpoint_result = None
        return False
    from ray.tune import Checkpoint

    replacement = os.path.join(parent, newer[-1])
    result.checkpoint = Checkpoint(replacement, filesystem=filesystem)
    print(f"[hpotk] trial {trial.trial_id}: its checkpoint {name} was deleted after Tune last "
          f"saved its state; restoring from {newer[-1]}", flush=True)
    return True


def find_controller() -> Any:
    """A weak reference to the ``TuneController`` whose ``setup`` of its callbacks is on the
    call stack, or None. Ray 2.60 hands callbacks no handle on the controller; hpotk's stall
    watch needs one to read the trials and release Tune's wait for a suggestion."""
    import inspect
    import weakref

    from ray.tune.execution.tune_controller import TuneController

    frame = inspect.currentframe()
    try:
        while frame is not None:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, TuneController):
                return weakref.ref(candidate)
            frame = frame.f_back
    finally:
        del frame
    return None
