"""hpotk.summary at scale: the per-trial loop reads each of hpotk's logs once, not once per
trial (speed itself is measured by benchmarks/, never asserted here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hpotk import experiment, summary


@dataclass
class FakeResult:
    """What `summary.summarise` reads of a ray.tune.Result."""

    path: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    error: Any = None
    metrics_dataframe: Any = None
    best_checkpoints: list = field(default_factory=list)
    checkpoint: Any = None


class FakeGrid(list):
    class _Analysis:
        trials: list = []

    _experiment_analysis = _Analysis()


def _experiment(tmp_path: Path) -> experiment.Experiment:
    return experiment.load({
        "name": "scale", "trainable": "benchmarks._trivial:train",
        "space": {"x": {"type": "continuous", "min_value": 0.0, "max_value": 1.0}},
        "metric": {"name": "loss", "mode": "min"}, "strategy": "fifo/random",
        "budget": {"trials": 50, "concurrent": 2, "max_t": 3, "trial_time_s": 60},
        "results": str(tmp_path)})


def _grid(exp: experiment.Experiment, n: int) -> FakeGrid:
    grid = FakeGrid()
    for i in range(n):
        trial_id = f"abcde_{i:05d}"
        done = i != 7  # trial 7 hung: no last result with done
        grid.append(FakeResult(
            path=str(exp.results_dir / trial_id), config={"x": i / n},
            metrics={"trial_id": trial_id, "loss": i / n, "done": done,
                     "training_iteration": 3 if done else 1, "time_total_s": 0.1}))
    return grid


def test_watchdog_log_is_read_once_for_all_trials(tmp_path, monkeypatch):
    exp = _experiment(tmp_path)
    exp.results_dir.mkdir(parents=True)
    (exp.results_dir / "watchdog.jsonl").write_text(
        json.dumps({"trial_id": "abcde_00007", "reason": "no result for 60 s"}) + "\n"
        + '{"trial_id": "abcde_000')  # a line cut off by a kill
    reads = []
    real = summary._watchdog_kills
    monkeypatch.setattr(summary, "_watchdog_kills",
                        lambda directory: reads.append(directory) or real(directory))
    grid = _grid(exp, 50)
    rows = summary.summarise(exp, grid)
    assert len(rows) == 50
    assert reads == [exp.results_dir]  # once, not once per trial
    hung = [r for r in rows if r["status"] == "TIMEOUT"]
    assert [r["trial_id"] for r in hung] == ["abcde_00007"]
    assert hung[0]["note"] == "no result for 60 s"
    assert {r["status"] for r in rows if r["trial_id"] != "abcde_00007"} == {"COMPLETED"}


@pytest.mark.parametrize("with_log", [False, True])
def test_no_watchdog_log_no_timeouts(tmp_path, with_log):
    exp = _experiment(tmp_path)
    exp.results_dir.mkdir(parents=True)
    if with_log:
        (exp.results_dir / "watchdog.jsonl").write_text("")
    rows = summary.summarise(exp, _grid(exp, 10))
    assert [r["status"] for r in rows].count("UNFINISHED") == 1
    assert all(r["note"] == "" for r in rows)
