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

import inspect
import warnings
from typing import Any

_installed = False
_warned: set[str] = set()  # the keys `warn_once` has warned about in this process

#: where the tests that pin the Ray internals used here live
CANARIES = "tests/canary/test_canary_ray.py"


def warn_once(key: str, message: str) -> None:
    """Say once per process (a ``RuntimeWarning``, on stderr) that a fix or hook of hpotk
    could not be applied and which feature is lost; ``key`` names the fix or hook."""
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(f"[hpotk] {message}", RuntimeWarning, stacklevel=3)


def _cannot_install(fix: str, lost: str, why: str) -> None:
    warn_once(f"fix:{fix}", f"cannot install the fix for {fix} ({why}; a Ray other than "
                            f"2.60?): {lost}. See {CANARIES} and hpotk/_ray_fixes.py")


def _method(owner: type, name: str, parameters: tuple[str, ...], fix: str, lost: str) -> Any:
    """``owner.name`` if it takes exactly ``parameters``; else None, having warned once."""
    method = getattr(owner, name, None)
    if method is None:
        _cannot_install(fix, lost, f"{owner.__name__}.{name} is gone")
        return None
    found = tuple(inspect.signature(method).parameters)
    if found != parameters:
        _cannot_install(fix, lost, f"{owner.__name__}.{name} takes {found}, not {parameters}")
        return None
    return method


WORKER_LOST = ("OutOfMemoryError", "WorkerCrashedError", "NodeDiedError")


def _worker_lost_errors() -> tuple[type, ...]:
    from ray import exceptions

    missing = [n for n in WORKER_LOST if not hasattr(exceptions, n)]
    if missing:
        _cannot_install("a worker lost to the OOM killer or a dead node",
                        f"a trial whose worker dies of {', '.join(missing)} may end the "
                        f"experiment", f"ray.exceptions has no {', '.join(missing)}")
    return tuple(getattr(exceptions, n) for n in WORKER_LOST if hasattr(exceptions, n))


def install() -> None:
    """Install the fixes (idempotent). A fix whose Ray method is gone or takes other arguments
    is not installed, and `warn_once` says which feature is lost."""
    global _installed
    if _installed:
        return
    _installed = True
    _install_worker_lost_fix()
    _install_restore_fix()


def _install_worker_lost_fix() -> None:
    try:
        from ray.air.execution._internal.actor_manager import RayActorManager
    except ImportError as exc:
        _cannot_install("a worker lost to the OOM killer or a dead node",
                        "a trial the OOM killer stops ends the whole experiment", str(exc))
        return
    from ray.exceptions import RayActorError, RayTaskError

    original = _method(RayActorManager, "_actor_task_failed",
                       ("self", "tracked_actor_task", "exception"),
                       "a worker lost to the OOM killer or a dead node",
                       "a trial the OOM killer stops ends the whole experiment")
    if original is None:
        return
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


def _install_restore_fix() -> None:
    from ray.tune.execution.tune_controller import TuneController

    original_restore = _method(TuneController, "_schedule_trial_restore", ("self", "trial"),
                               "a checkpoint deleted after Tune's last state save",
                               "a resume after a killed driver may fail restoring a trial "
                               "from a checkpoint Tune has deleted")
    if original_restore is None:
        return

    def _schedule_trial_restore(self: Any, trial: Any) -> bool:
        if not point_at_a_checkpoint_that_exists(trial):
            return False  # no checkpoint left: the trial starts again from its start
        return original_restore(self, trial)

    _schedule_trial_restore.__wrapped__ = original_restore  # type: ignore[attr-defined]
    TuneController._schedule_trial_restore = _schedule_trial_restore


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
        manager = trial.run_metadata.checkpoint_manager
        if not hasattr(manager, "_latest_checkpoint_result"):
            _cannot_install("a checkpoint deleted after Tune's last state save",
                            f"trial {trial.trial_id} fails restoring its deleted checkpoint "
                            f"instead of starting again",
                            "the trial's checkpoint manager has no _latest_checkpoint_result")
            return False
        manager._latest_checkpoint_result = None
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
    watch and trial journal need one (callers warn once where it is None)."""
    import weakref

    try:
        from ray.tune.execution.tune_controller import TuneController
    except ImportError:
        return None
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


def missing_parts(obj: Any, paths: tuple[str, ...]) -> list[str]:
    """The dotted attribute paths (``"_checkpoint_manager._last_save_time"``) ``obj`` lacks."""
    missing = []
    for path in paths:
        node, *names = [obj, *path.split(".")]
        for i, name in enumerate(names):
            # a property is looked up on the class, not evaluated (the staging path asks Ray)
            if not (hasattr(type(node), name) or name in getattr(node, "__dict__", {})):
                missing.append(path)
                break
            if i < len(names) - 1:
                node = getattr(node, name)
    return missing


def reach_controller(key: str, parts: tuple[str, ...], lost: str, where: str) -> Any:
    """`find_controller`, checked to have ``parts``: its weak reference, or None after warning
    once (under ``key``) that ``lost`` — the feature that goes without it — see ``where``."""
    ref = find_controller()
    controller = ref() if ref is not None else None
    missing = list(parts) if controller is None else missing_parts(controller, parts)
    if not missing:
        return ref
    found = ("Tune's controller is not on the call stack of Callback.setup" if controller is None
             else f"Tune's controller has no {', '.join(missing)}")
    warn_once(key, f"cannot reach Tune's controller ({found}; a Ray other than 2.60?): {lost}. "
                   f"See {CANARIES} and {where}")
    return None
