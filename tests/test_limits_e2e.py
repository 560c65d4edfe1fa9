"""Budget limits and failure handling from the experiment file, on the session's local Ray.

The trial is a tiny script run by the `command` trainable: it reports `score` with
hpotk.report, and fails on purpose when asked to, so each limit is exercised for real.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

SCRIPT = textwrap.dedent("""\
    import argparse, sys, time
    from pathlib import Path
    from hpotk import report

    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float)
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--marker", default="")
    args = parser.parse_args()
    if args.mode == "fail":
        sys.exit("failing on purpose")
    if args.mode == "fail-once" and not Path(args.marker).exists():
        Path(args.marker).write_text("failed once")
        sys.exit("failing once on purpose")
    for step in range(args.steps):
        time.sleep(args.sleep)
        report(score=args.x * (step + 1))
    """)


def experiment(tmp_path: Path, *, mode: str = "ok", steps: int = 3, sleep: float = 0.0,
               trials: int = 2, extra: str = "") -> Path:
    (tmp_path / "trial.py").write_text(SCRIPT)
    marker = tmp_path / "failed-once"
    text = textwrap.dedent(f"""\
        name: limits
        trainable:
          command: ["{{python}}", trial.py, --mode, {mode}, --steps, "{steps}",
                    --sleep, "{sleep}", --marker, "{marker}"]
          metrics: [{{name: score}}]
        space: {{x: {{type: continuous, min_value: 0.1, max_value: 1.0, scaling: linear}}}}
        metric: {{name: score, mode: max}}
        strategy: fifo/random
        budget: {{trials: {trials}, concurrent: 1, max_t: {steps}}}
        results: out
        """) + extra
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    return path


def trials(tmp_path: Path) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "out" / "limits" / "trials.csv")


def test_trial_time_limit_stops_and_marks_the_trial(hpotk_cli, tmp_path):
    path = experiment(tmp_path, steps=20, sleep=0.5, trials=1)
    code, out, err = hpotk_cli("run", path, "--set", "budget.trial_time_s=2", "--quiet")
    assert code == 0, out + err
    row = trials(tmp_path).iloc[0]
    assert row["status"] == "TIMEOUT"
    assert 1 <= row["iterations"] < 20


def test_experiment_time_budget_ends_the_run_complete(hpotk_cli, tmp_path):
    path = experiment(tmp_path, steps=4, sleep=0.5, trials=30)
    code, out, err = hpotk_cli("run", path, "--set", "budget.time_s=6", "--quiet")
    assert code == 0, out + err
    assert 1 <= len(trials(tmp_path)) < 30
    state = json.loads((tmp_path / "out" / "limits" / "hpotk.json").read_text())
    assert state["status"] == "complete"  # out of time is an end, not an interruption


def test_failed_trials_are_marked_and_fail_fast_stops_the_experiment(hpotk_cli, tmp_path):
    path = experiment(tmp_path, mode="fail", trials=4)
    code, out, err = hpotk_cli("run", path, "--set", "fail_fast=true", "--quiet")
    table = trials(tmp_path)
    assert len(table) < 4  # no new trial started after the first error
    errors = table.loc[table["status"] == "ERROR", "error"]
    assert len(errors) >= 1 and errors.str.contains("failing on purpose").all()
    assert code == 1 and "fail_fast" in err and "failing on purpose" in err
    state = json.loads((tmp_path / "out" / "limits" / "hpotk.json").read_text())
    assert state["status"] == "failed"

    # the stopped experiment is kept: the same command refuses, --new starts afresh
    code, out, err = hpotk_cli("run", path, "--set", "fail_fast=true", "--quiet")
    assert code == 2 and "fail_fast" in err and "--new" in err
    path.write_text(path.read_text().replace("--mode, fail,", "--mode, ok,"))
    code, out, err = hpotk_cli("run", path, "--set", "fail_fast=true", "--new", "--quiet")
    assert code == 0, out + err


def test_max_failures_retries_a_failed_trial(hpotk_cli, tmp_path):
    path = experiment(tmp_path, mode="fail-once", trials=1)
    code, out, err = hpotk_cli("run", path, "--set", "max_failures=1", "--quiet")
    assert code == 0, out + err
    assert (tmp_path / "failed-once").exists()  # the first attempt did fail
    row = trials(tmp_path).iloc[0]
    assert row["status"] == "COMPLETED" and row["iterations"] == 3


def test_concurrency_limit_is_respected(hpotk_cli, tmp_path):
    path = experiment(tmp_path, steps=3, sleep=0.4, trials=4)
    code, out, err = hpotk_cli("run", path, "--set", "budget.concurrent=1", "--quiet")
    assert code == 0, out + err
    spans = []
    for trial_dir in (tmp_path / "out" / "limits").glob("*/result.json"):
        results = [json.loads(line) for line in trial_dir.read_text().splitlines()]
        end = results[-1]["timestamp"]
        spans.append((end - results[-1]["time_total_s"], end))
    spans.sort()
    assert len(spans) == 4
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.5  # one trial at a time (timestamps are whole seconds)
