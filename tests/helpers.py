"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def finished_trials(exp_dir: Path, max_t: int) -> list[str]:
    """Trial ids that ran to ``max_t`` iterations, from hpotk's live log of finished trials
    (Tune copies progress.csv into the results directory only every so often)."""
    log = exp_dir / "finished.jsonl"
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return []
    done = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line being written
            continue
        if entry["status"] == "TERMINATED" and entry["iterations"] >= max_t:
            done.append(entry["trial_id"])
    return done


@contextlib.contextmanager
def interrupt_after(exp_dir: Path, max_t: int, n_finished: int, timeout_s: float = 240,
                    before: Callable[[], object] | None = None) -> Iterator[threading.Event]:
    """Send this process SIGINT (Ctrl+C) once ``n_finished`` trials have finished.

    Yields an event that is set when the signal was sent, so a test can check the experiment
    was really interrupted mid-run. ``before`` is called just before the signal (e.g. to read
    the running experiment).
    """
    sent = threading.Event()

    def watch() -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if len(finished_trials(exp_dir, max_t)) >= n_finished:
                if before is not None:
                    before()
                os.kill(os.getpid(), signal.SIGINT)
                sent.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield sent
    finally:
        watcher.join(timeout=5)


def build_trainable(cls: type, config: dict, context: object) -> object:
    """``cls(config)`` with ``context`` (a TrainContext) bound, as ``tune.with_parameters``
    binds it under Ray: a trainable built directly, without a Ray cluster."""
    bound_context = context

    class Bound(cls):
        def setup(self, config, context=None):
            super().setup(config, context=bound_context)

    Bound.__name__ = cls.__name__
    return Bound(config=dict(config))
