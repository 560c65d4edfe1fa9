"""The state of a results directory (``hpotk.json``): what `hpotk run` finds there decides
whether it starts, resumes, shows or refuses, and what it records while it runs."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk.errors import HpotkError
from hpotk.experiment import Experiment

STATE_FILE = layout.STATE


def read_state(results_dir: Path) -> dict[str, Any] | None:
    return layout.read_json_object(Path(results_dir) / STATE_FILE)


def write_state(results_dir: Path, **fields: Any) -> dict[str, Any]:
    """Update ``hpotk.json`` with ``fields`` (atomically: a reader never sees half a file)."""
    state = read_state(results_dir) or {}
    state.update(fields)
    layout.write_json(Path(results_dir) / STATE_FILE, state)
    return state


@dataclass
class Decision:
    """What to do with an experiment's results directory.

    Attributes:
        exp: the experiment to run (renamed ``<name>-<timestamp>`` for ``--new``).
        action: "start" (a fresh directory), "resume" (an interrupted run) or "show" (complete,
            and ``exist_ok`` asked to report it).
        state: the state found (``{}`` for a fresh directory).
    """

    exp: Experiment
    action: str
    state: dict[str, Any]


def decide(exp: Experiment, *, new: bool = False, exist_ok: bool = False) -> Decision:
    """Start, resume, show or refuse (HpotkError saying why and what to do).

    To start or resume, this process takes the directory's `hpotk.lock.RunLock` (refused with
    `hpotk.lock.LockHeld`, naming the other run, while a live run holds it; `record_end`
    releases it), then decides again, since the run that held it may have finished meanwhile.
    """
    decision = _decide(exp, new=new, exist_ok=exist_ok)
    if decision.action not in ("start", "resume"):
        return decision
    held = hold(decision.exp.results_dir)
    decision = _decide(decision.exp, exist_ok=exist_ok)
    if decision.action not in ("start", "resume"):
        release(decision.exp.results_dir, held)
    return decision


_HELD: dict[Path, Any] = {}  # results dir -> the RunLock this process holds on it


def hold(results_dir: Path) -> Any:
    """Lock ``results_dir`` for this process (`hpotk.lock.LockHeld` if a live run has it)."""
    from hpotk.lock import RunLock

    key = Path(results_dir).resolve()
    if key in _HELD and _HELD[key].held:
        return _HELD[key]
    lock = RunLock(key)
    lock.acquire()
    _HELD[key] = lock
    if len(_HELD) == 1:
        import atexit

        atexit.register(_release_all)
    return lock


def release(results_dir: Path, lock: Any = None) -> None:
    """Let go of this process's lock on ``results_dir`` (if it holds one)."""
    lock = _HELD.pop(Path(results_dir).resolve(), None) or lock
    if lock is not None:
        lock.release()


def _release_all() -> None:
    for key in list(_HELD):
        release(key)


def _decide(exp: Experiment, *, new: bool = False, exist_ok: bool = False) -> Decision:
    from hpotk.lock import LOCK_FILE

    results_dir = exp.results_dir
    state = read_state(results_dir)
    # `hpotk submit` records its Slurm jobs there before the experiment starts
    if not (results_dir.exists() and any(not p.name.startswith((LOCK_FILE, layout.SLURM_JOBS))
                                         for p in results_dir.iterdir())):
        return Decision(exp, "start", {})
    if state is None:
        raise HpotkError(
            f"{results_dir} exists but holds no hpotk experiment; choose another name "
            f"(--set name=...) or results directory (--set results=...)"
        )
    status = state.get("status")
    if status == "failed" and not new:
        why = state.get("reason") or "it was stopped at a trial error (fail_fast)"
        raise HpotkError(
            f"experiment {exp.name!r} in {results_dir} failed: {why} (see its trials.csv); "
            f"after fixing the cause, run it again under a new name with --new"
        )
    if status in ("complete", "failed"):
        if new:
            return _decide(_new_name(exp))
        if exist_ok:
            return Decision(exp, "show", state)
        raise HpotkError(
            f"experiment {exp.name!r} is already complete in {results_dir}; see it with "
            f"`hpotk best {results_dir}`, or run it again under a new name with --new"
        )
    return Decision(exp, "resume", state)


def _new_name(exp: Experiment) -> Experiment:
    """``exp`` as ``<name>-<timestamp>``, its directory made here: ``mkdir`` is atomic, so two
    ``--new`` runs in the same second get ``...-<timestamp>`` and ``...-<timestamp>-2``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    exp.results_dir.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        name = f"{exp.name}-{stamp}" + (f"-{n}" if n > 1 else "")
        renamed = exp.model_copy(update={"name": name})
        try:
            renamed.results_dir.mkdir()
        except FileExistsError:
            continue
        return renamed
    raise HpotkError(f"no free name {exp.name}-{stamp}-N in {exp.results_dir.parent}")


def record_start(results_dir: Path, exp: Experiment, **fields: Any) -> dict[str, Any]:
    """Mark the directory running; the first start time is kept across resumes, and each run
    (host, pid, start) is listed."""
    state = read_state(results_dir) or {}
    now = time.time()
    runs = list(state.get("runs", []))
    runs.append({"host": socket.gethostname(), "pid": os.getpid(), "started": now})
    return write_state(results_dir, status="running", name=exp.name, source=exp.source,
                       started=state.get("started", now), run_started=now, runs=runs,
                       metric=exp.metric.name, mode=exp.metric.mode,
                       strategy=exp.strategy.label, **fields)


def record_end(results_dir: Path, status: str, **fields: Any) -> dict[str, Any]:
    """Mark the run's end: status complete / interrupted / failed."""
    state = read_state(results_dir) or {}
    runs = list(state.get("runs", []))
    now = time.time()
    if runs:
        runs[-1] = {**runs[-1], "finished": now, "status": status}
    state = write_state(results_dir, status=status, finished=now, runs=runs, **fields)
    release(results_dir)
    return state
