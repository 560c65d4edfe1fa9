"""Tune callbacks the runner adds to every experiment (imports Ray: import this lazily)."""

from __future__ import annotations

import json
import time
from typing import Any

from ray.tune import Callback

FINISHED_LOG = "finished.jsonl"


class FinishedLog(Callback):
    """Appends one JSON line per finished trial to ``results/<name>/finished.jsonl``.

    Tune copies trial results into the results directory only every so often; this log is
    written the moment a trial ends, so a user (or a test) sees finished trials live.
    """

    def __init__(self, path: str):
        self.path = path

    def _write(self, trial: Any, status: str) -> None:
        last = trial.last_result or {}
        line = {"trial_id": trial.trial_id, "status": status,
                "iterations": last.get("training_iteration", 0), "time": time.time()}
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._write(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._write(trial, "ERROR")
