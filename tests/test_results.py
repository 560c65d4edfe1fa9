"""`hpotk.results.load` on hand-made directories: complete, interrupted, running, killed, and
directories without hpotk's live logs (Ray's per-trial files)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pandas as pd
import pytest

from hpotk import results
from hpotk.errors import HpotkError

STARTED = 1_700_000_000.0


def _state(directory, status, pid=None, **more):
    runs = [{"host": socket.gethostname(), "pid": pid or os.getpid(), "started": STARTED}]
    (directory / "hpotk.json").write_text(json.dumps({
        "status": status, "name": directory.name, "started": STARTED, "runs": runs,
        "metric": "loss", "mode": "min", "strategy": "asha/random",
        "budget": {"trials": 3, "concurrent": 2, "max_t": 3},
        "params": {"lr": {"kind": "float", "scale": "log", "low": 1e-4, "high": 1e-1,
                          "choices": None, "role": "algorithm"}}, **more}))
    (directory / "experiment.json").write_text(json.dumps({
        "name": directory.name, "metric": {"name": "loss", "mode": "min"},
        "strategy": {"scheduler": {"name": "asha", "grace_period": 1},
                     "searcher": {"name": "random"}}, "seed": 0}))


def _log(directory, lines):
    with open(directory / "history.jsonl", "a") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


def _result(trial, it, t, loss, lr):
    return {"event": "result", "trial_id": trial, "time": STARTED + t, "training_iteration": it,
            "loss": loss, "time_this_iter_s": 1.0, "time_total_s": float(it),
            "hostname": "node1", "config": {"lr": lr}}


def _running_dir(tmp_path, pid=None):
    d = tmp_path / "exp"
    d.mkdir()
    _state(d, "running", pid=pid)
    _log(d, [{"event": "start", "trial_id": "a", "time": STARTED + 1, "config": {"lr": 0.01}},
             {"event": "start", "trial_id": "b", "time": STARTED + 1.5, "config": {"lr": 0.001}},
             _result("a", 1, 2, 0.9, 0.01), _result("b", 1, 2.5, 0.95, 0.001),
             _result("a", 2, 3, 0.5, 0.01), _result("a", 3, 4, 0.4, 0.01),
             _result("b", 2, 4.5, 0.97, 0.001)])
    (d / "finished.jsonl").write_text(json.dumps(
        {"trial_id": "a", "status": "TERMINATED", "iterations": 3, "time": STARTED + 4}) + "\n")
    with open(d / "history.jsonl", "a") as f:
        f.write('{"event": "result", "trial_id": "b", "ti')  # a line cut off by a kill
    return d


def test_running_experiment_is_read_from_the_live_logs(tmp_path):
    d = _running_dir(tmp_path)
    res = results.load(d)
    assert res.status == "running"
    assert res.freshness.source == "live"
    assert res.freshness.as_of == pytest.approx(STARTED + 4.5)
    assert "live logs" in res.freshness.describe()
    trials = res.trials.set_index("trial_id")
    assert trials.loc["a", "status"] == "COMPLETED" and trials.loc["b", "status"] == "RUNNING"
    assert trials.loc["a", "best_loss"] == 0.4 and trials.loc["b", "best_loss"] == 0.95
    assert trials.loc["a", "config/lr"] == 0.01 and trials.loc["a", "iterations"] == 3
    assert trials.loc["a", "start_s"] == pytest.approx(1.0)
    assert trials.loc["a", "end_s"] == pytest.approx(4.0)
    assert len(res.history) == 5  # the cut-off line is skipped
    assert list(res.history["time_s"]) == pytest.approx([2, 2.5, 3, 4, 4.5])
    assert res.history["config/lr"].tolist() == [0.01, 0.001, 0.01, 0.01, 0.001]
    assert res.best()["trial_id"] == "a"
    assert res.param_names == ["lr"] and res.params["lr"]["scale"] == "log"
    assert res.meta["nodes"] == ["node1"] and res.meta["scheduler"]["name"] == "asha"


def test_running_state_left_by_a_dead_process_reads_as_interrupted(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    d = _running_dir(tmp_path, pid=int(dead.stdout))
    res = results.load(d)
    assert res.status == "interrupted"
    assert res.trials.set_index("trial_id").loc["b", "status"] == "UNFINISHED"


def test_finished_run_is_read_from_its_summary(tmp_path):
    d = _running_dir(tmp_path)
    _state(d, "interrupted", finished=STARTED + 5)
    pd.DataFrame([
        {"trial_id": "a", "status": "COMPLETED", "config/lr": 0.01, "loss": 0.4,
         "best_loss": 0.4, "iterations": 3, "time_s": 3.0, "node": "node1", "error": ""},
        {"trial_id": "b", "status": "UNFINISHED", "config/lr": 0.001, "loss": 0.97,
         "best_loss": 0.95, "iterations": 2, "time_s": 2.0, "node": "node1", "error": ""},
    ]).to_csv(d / "trials.csv", index=False)
    results.read_history_log(d).to_csv(d / "history.csv", index=False)
    res = results.load(d)
    assert res.status == "interrupted" and res.freshness.source == "summary"
    assert res.freshness.as_of == STARTED + 5
    assert list(res.trials["trial_id"]) == ["a", "b"]
    assert len(res.history) == 5 and res.trials["start_s"].tolist() == pytest.approx([1, 1.5])
    assert res.top(1)["trial_id"].tolist() == ["a"]


def test_directory_without_hpotk_logs_falls_back_to_ray_files(tmp_path):
    d = tmp_path / "old"
    d.mkdir()
    _state(d, "complete")
    trial = d / "t1"
    trial.mkdir()
    lines = [{"training_iteration": i, "loss": 1.0 / i, "timestamp": STARTED + 10 + i,
              "time_total_s": float(i), "time_this_iter_s": 1.0, "trial_id": "t1",
              "hostname": "h", "config": {"lr": 0.1}} for i in (1, 2)]
    (trial / "result.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    res = results.load(d)
    assert res.freshness.source == "ray"
    assert res.history["iteration"].tolist() == [1, 2]
    assert res.history["time_s"].tolist() == pytest.approx([11, 12])
    assert res.trials.set_index("trial_id").loc["t1", "best_loss"] == 0.5


def test_not_a_results_directory(tmp_path):
    with pytest.raises(HpotkError, match="no such directory"):
        results.load(tmp_path / "nope")
    with pytest.raises(HpotkError, match="holds no hpotk experiment"):
        results.load(tmp_path)


def test_the_slurm_node_name_is_the_node_where_the_log_knows_it(tmp_path):
    # Slurm nodes sharing a host share its hostname: the log's slurm_node names them
    d = tmp_path / "exp"
    d.mkdir()
    _state(d, "running")
    _log(d, [dict(_result("a", 1, 2, 0.9, 0.01), slurm_node="n1"),
             dict(_result("b", 1, 2.5, 0.8, 0.01), slurm_node="n2"),
             _result("c", 1, 3, 0.7, 0.01)])
    res = results.load(d)
    assert res.history.set_index("trial_id")["node"].to_dict() == {
        "a": "n1", "b": "n2", "c": "node1"}
    assert res.trials.set_index("trial_id")["node"].to_dict() == {
        "a": "n1", "b": "n2", "c": "node1"}
    assert res.meta["nodes"] == ["n1", "n2", "node1"]


def test_a_trial_tune_stopped_while_paused_is_stopped_not_unfinished():
    # synchronous hyperband stops a rung's losers while they wait paused, without another
    # result (no done): finished.jsonl's line says they ended. Measured: 9 trials, concurrent
    # 9, max_t 9, reduction_factor 3: the 2 such trials read UNFINISHED, and the run exited 1
    # "interrupted".
    from types import SimpleNamespace

    from hpotk import summary

    exp = SimpleNamespace(budget=SimpleNamespace(trial_time_s=None, max_t=9))
    trial = SimpleNamespace(status="TERMINATED")
    result = SimpleNamespace(error=None)
    last = {"training_iteration": 3}
    assert summary._status(exp, trial, result, last, 3, 0.3, logged_end=True) == "STOPPED"
    # without that line (an interrupt, or the time budget, cut it off): unfinished
    assert summary._status(exp, trial, result, last, 3, 0.3) == "UNFINISHED"
    assert summary._status(exp, trial, result, {**last, "done": True}, 9, 0.9) == "COMPLETED"


def test_many_interleaved_trials_each_keep_their_own_last_result_and_best(tmp_path):
    # the live trials table groups the history once (not a mask per trial); 300 trials whose
    # results interleave, each ending on a different iteration, with its best not its last
    d = tmp_path / "exp"
    d.mkdir()
    _state(d, "running")
    n = 300
    lines = [{"event": "start", "trial_id": f"t{i:03d}", "time": STARTED + i / 100,
              "config": {"lr": 1e-4 * (i + 1)}} for i in range(n)]
    for it in (1, 2, 3):
        lines += [_result(f"t{i:03d}", it, 10 * it + i / 100, i + (0.5 if it == 2 else it),
                          1e-4 * (i + 1)) for i in range(n) if it <= 1 + i % 3]
    _log(d, lines)
    (d / "finished.jsonl").write_text("".join(json.dumps(
        {"trial_id": f"t{i:03d}", "status": "TERMINATED", "iterations": 1 + i % 3}) + "\n"
        for i in range(n) if i % 3 == 2))
    trials = results.load(d).trials.set_index("trial_id")
    assert len(trials) == n
    for i in (0, 1, 2, 151, 299):
        row = trials.loc[f"t{i:03d}"]
        last_it = 1 + i % 3
        assert row["iterations"] == last_it
        assert row["loss"] == i + (0.5 if last_it == 2 else last_it)
        assert row["best_loss"] == i + (0.5 if last_it >= 2 else 1)
        assert row["config/lr"] == pytest.approx(1e-4 * (i + 1))
        assert row["status"] == ("COMPLETED" if last_it == 3 else "RUNNING")


def test_a_resumed_run_killed_later_reads_its_newer_live_logs_over_the_summary(tmp_path):
    # the first run ended (trials.csv, history.csv: trial a only); the resume ran trial b and
    # was killed: its live logs are newer than the summary, and are read over it
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    d = _running_dir(tmp_path, pid=int(dead.stdout))
    pd.DataFrame([{"trial_id": "a", "status": "COMPLETED", "config/lr": 0.01, "loss": 0.4,
                   "best_loss": 0.4, "iterations": 3, "time_s": 3.0, "node": "node1",
                   "error": "", "retries": 0}]).to_csv(d / "trials.csv", index=False)
    results.read_history_log(d)[lambda h: h["trial_id"] == "a"].to_csv(d / "history.csv",
                                                                      index=False)
    old = STARTED + 100
    os.utime(d / "trials.csv", (old, old))
    os.utime(d / "history.csv", (old, old))
    for log in ("history.jsonl", "finished.jsonl"):
        os.utime(d / log, (old + 60, old + 60))
    res = results.load(d)
    assert res.status == "interrupted" and res.freshness.source == "live"
    trials = res.trials.set_index("trial_id")
    assert sorted(trials.index) == ["a", "b"] and len(res.history) == 5
    assert trials.loc["a", "status"] == "COMPLETED" and trials.loc["a", "retries"] == 0
    assert trials.loc["b", "status"] == "UNFINISHED"
    # the summary written when that run ended is newer than its logs: it is read
    os.utime(d / "trials.csv", (old + 120, old + 120))
    os.utime(d / "history.csv", (old + 120, old + 120))
    assert results.load(d).freshness.source == "summary"


def test_summary_columns_read_as_numbers_take_the_live_logs_text(tmp_path):
    # trials.csv's empty columns read back as floats (NaN); the live table's "" goes into them
    d = _running_dir(tmp_path)
    _state(d, "interrupted")
    pd.DataFrame([{"trial_id": "a", "status": "UNFINISHED", "loss": 0.5, "best_loss": 0.5,
                   "iterations": 1, "node": "", "error": ""}]).to_csv(d / "trials.csv",
                                                                      index=False)
    assert pd.read_csv(d / "trials.csv")["error"].dtype == float
    trials = results.load(d).trials.set_index("trial_id")
    assert trials.loc["a", "status"] == "COMPLETED" and trials.loc["a", "best_loss"] == 0.4
    assert trials.loc["a", "node"] == "node1" and trials.loc["b", "status"] == "UNFINISHED"


def test_nodes_joining_and_leaving_read_as_spans(tmp_path):
    # the head there from the start; worker w1 joins, leaves at its wall time and its next job
    # joins again; the driver is resumed on a fresh Ray (new ids): no change for the head
    d = _running_dir(tmp_path)
    lines = [("join", 1, "head", "h1", True), ("join", 10, "w1", "a", False),
             ("leave", 20, "w1", "a", False), ("join", 30, "w1", "b", False),
             ("leave", 40, "head", "h1", True), ("leave", 40, "w1", "b", True),
             ("join", 40, "head", "h2", True), ("join", 50, "w1", "c", False)]
    with open(d / "nodes.jsonl", "w") as f:
        for event, t, node, node_id, initial in lines:
            f.write(json.dumps({"event": event, "time": STARTED + t, "node": node,
                                "node_id": node_id, "node_ip": "10.0.0.1", "cpus": 2.0,
                                "gpus": 0.0, **({"initial": True} if initial else {})}) + "\n")
        f.write('{"event": "join", "ti')  # cut off by a kill
    res = results.load(d)
    assert len(res.nodes) == 8 and res.nodes["time_s"].tolist()[:2] == [1.0, 10.0]
    spans = res.node_spans()
    assert spans.to_dict("records") == [
        {"node": "head", "join_s": 1.0, "leave_s": pytest.approx(float("nan"), nan_ok=True),
         "at_start": True, "changed": False},
        {"node": "w1", "join_s": 10.0, "leave_s": 20.0, "at_start": False, "changed": True},
        {"node": "w1", "join_s": 30.0, "leave_s": 40.0, "at_start": False, "changed": True},
        {"node": "w1", "join_s": 50.0, "leave_s": pytest.approx(float("nan"), nan_ok=True),
         "at_start": False, "changed": True}]


def test_a_run_without_a_node_log_has_no_nodes(tmp_path):
    res = results.load(_running_dir(tmp_path))
    assert res.nodes.empty and "node" in res.nodes.columns and res.node_spans().empty
