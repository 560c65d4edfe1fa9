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
    _installed = True
