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


def test_the_log_gives_values_nodes_and_the_nan_note(tmp_path):
    # values, best and node come from hpotk's history log; Ray's per-trial dataframe is read
    # for the NaN note only where the log shows a value that is not a finite number
    import pandas as pd

    exp = _experiment(tmp_path)
    exp.results_dir.mkdir(parents=True)
    grid = _grid(exp, 4)
    lines = []
    for i, result in enumerate(grid):
        trial_id = result.metrics["trial_id"]
        for it, loss in enumerate([0.5, float("nan") if i == 2 else 0.2, 0.3], start=1):
            lines.append({"event": "result", "trial_id": trial_id, "time": 1.0 + it,
                          "training_iteration": it, "loss": loss, "hostname": f"n{i}",
                          "config": {"x": i / 4}})
    (exp.results_dir / "history.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))

    class Untouchable:  # what a dataframe the summary must not search looks like
        def __contains__(self, key):
            raise AssertionError("searched a trial whose log has only finite values")

    for result in grid:
        result.metrics_dataframe = Untouchable()
    grid[2].metrics_dataframe = pd.DataFrame({"training_iteration": [1, 2, 3],
                                              "loss": [0.5, float("nan"), 0.3]})
    rows = {r["trial_id"]: r for r in summary.summarise(exp, grid)}
    assert rows["abcde_00002"]["note"] == "loss was nan at iteration 2"
    assert rows["abcde_00002"]["best_loss"] == 0.3
    assert rows["abcde_00001"]["best_loss"] == 0.2 and rows["abcde_00001"]["note"] == ""
    assert [rows[f"abcde_0000{i}"]["node"] for i in range(4)] == ["n0", "n1", "n2", "n3"]
