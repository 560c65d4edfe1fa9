"""Nodes lost mid-experiment, each in one 2-node job on the local test Slurm.

- A worker node (its raylet killed): Ray marks its trial failed, Tune retries it on the
  remaining node from its last checkpoint (max_failures), the experiment completes, no
  completed trial is lost or run again, and trials.csv says which were retried and why.
- The head node (the driver and the head's Ray killed at once, with no chance to save): the job
  fails; a requeue (what Slurm does with ``--requeue`` when a node fails) resumes the experiment
  and completes it, with no completed trial lost or run again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.slurm.gated import gated_experiment, open_for
from tests.slurm.jobs import (
    FINAL_STATES,
    job_info,
    job_output,
    ray_processes_of_job,
    sbatch,
    wait_for,
    wait_job,
)
from tests.slurm.test_e2e import (
    SUBMIT,
    assert_completed,
    completed_trials,
    trials_csv,
)

pytestmark = pytest.mark.slurm


def results_on(history, node_ip: str) -> list[dict]:
    if not history.exists():
        return []
    lines = [json.loads(line) for line in history.read_text().splitlines() if line.endswith("}")]
    return [e for e in lines if e.get("event") == "result" and e.get("node_ip") == node_ip]


def raylet_of(job: int, node: str) -> int | None:
    for line in ray_processes_of_job(job):
        pid, _, cmd = line.partition(": ")
        if "raylet" in cmd.split()[0] and f"/hpotk-{job}-{node}" in cmd:
            return int(pid)
    return None


def test_a_lost_worker_node_is_survived_by_retries_from_checkpoints(slurm_nodes, job_env,
                                                                     tmp_path):
    # gated trials (tests/slurm/gated.py): the worker's trial is still running when its raylet
    # is killed, whatever the machine's speed, and the run takes seconds once the gate opens
    results, name, trials, max_t = tmp_path / "results", "node-loss", 4, 4
    head, worker = sorted(slurm_nodes)[0], sorted(slurm_nodes)[1]
    experiment, gate = gated_experiment(tmp_path, results, name, trials, max_t, concurrent=2,
                                        extra="max_failures: 2\n")
    job = sbatch(str(SUBMIT), str(experiment), "--quiet", cwd=tmp_path)
    history = results / name / "history.jsonl"

    def worker_reported() -> bool:  # iteration 1, and its checkpoint to go back to
        if job_info(job).get("JobState") in FINAL_STATES:
            pytest.fail(f"job {job} ended early:\n{job_output(tmp_path, job)[-4000:]}")
        return len(results_on(history, slurm_nodes[worker])) >= 1

    wait_for(worker_reported, 360, "a result from a trial on the worker node")
    lost = results_on(history, slurm_nodes[worker])[0]["trial_id"]
    raylet = wait_for(lambda: raylet_of(job, worker), 30, "the worker's raylet")
    time.sleep(1)  # its checkpoint of iteration 1 is written after the result
    os.kill(raylet, signal.SIGKILL)

    def recovering() -> dict | None:  # Tune has seen the trial fail and will retry it
        if not history.exists():
            return None
        return next((e for e in map(json.loads, history.read_text().splitlines())
                     if e.get("event") == "recover" and e["trial_id"] == lost), None)

    lost_at = wait_for(recovering, 120, "Tune to retry the worker's trial")["time"]
    gate.touch()  # only now: the killed trial's process cannot report iteration 2 any more

    info = wait_job(job, tmp_path, timeout=600)
    assert_completed(info, tmp_path, job)
    rows = trials_csv(results, name)
    assert len(rows) == trials and {r["status"] for r in rows} == {"COMPLETED"}, rows
    assert all(int(r["iterations"]) == max_t for r in rows)
    retried = [r for r in rows if int(r["retries"]) >= 1]
    assert [r["trial_id"] for r in retried] == [lost], \
        f"{retried}\n{job_output(tmp_path, job)[-4000:]}"
    for row in retried:
        assert row["retried_because"], row  # why: the actor / node died
        assert row["node"] == head, row  # it finished on the node that was left
    assert {r["node"] for r in rows} <= set(slurm_nodes)  # Slurm's names for the nodes
    events = [json.loads(line) for line in history.read_text().splitlines()]
    # it went on from its checkpoint at iteration 1, not from scratch
    seen = [e["training_iteration"] for e in events
            if e.get("event") == "result" and e["trial_id"] == lost]
    assert seen == list(range(1, max_t + 1)), seen
    # after the loss, every result came from the head node
    late = [e for e in events if e.get("event") == "result" and e["time"] > lost_at]
    assert late and all(e["node_ip"] == slurm_nodes[head] for e in late), late
    # no trial completed twice
    finished = completed_trials(results / name)
    assert sorted(finished) == sorted(set(finished)), "a completed trial ran twice"


def driver_of(name: str) -> int | None:
    """The pid of the job's driver: the `hpotk run ... --address` of experiment ``name``."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "--address" in words and f"--set=name={name}" in words and "run" in words:
            return int(cmdline.parent.name)
    return None


def head_ray_of(job: int, node: str) -> list[int]:
    return [int(line.partition(": ")[0]) for line in ray_processes_of_job(job)
            if f"/hpotk-{job}-{node}" in line]


def test_a_lost_head_node_fails_the_job_and_a_requeue_resumes_it(slurm_nodes, job_env,
                                                                 tmp_path):
    # gated trials: one trial is let through to complete, the rest wait at iteration 2, so that
    # the loss comes with a trial completed and others running, whatever the machine's speed
    results, name, trials, max_t = tmp_path / "results", "head-loss", 4, 4
    head = sorted(slurm_nodes)[0]
    experiment, gate = gated_experiment(tmp_path, results, name, trials, max_t, concurrent=2)
    # --set=name: how `driver_of` finds the driver
    job = sbatch(str(SUBMIT), str(experiment), f"--set=name={name}", "--quiet", cwd=tmp_path)
    history = results / name / "history.jsonl"

    def running() -> bool:
        if job_info(job).get("JobState") in FINAL_STATES:
            pytest.fail(f"job {job} ended early:\n{job_output(tmp_path, job)[-4000:]}")
        return history.exists() and '"event": "result"' in history.read_text()

    wait_for(running, 360, "a first result")
    first = next(e["trial_id"] for e in map(json.loads, history.read_text().splitlines())
                 if e.get("event") == "result")
    open_for(gate, first)

    def one_completed() -> list[str]:
        if job_info(job).get("JobState") in FINAL_STATES:
            pytest.fail(f"job {job} ended early:\n{job_output(tmp_path, job)[-4000:]}")
        return completed_trials(results / name)

    wait_for(one_completed, 120, "the first trial to complete")
    driver = wait_for(lambda: driver_of(name), 30, "the driver")
    # the head node goes: its driver and its Ray die at once, with no chance to save
    for pid in [driver, *head_ray_of(job, head)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    before = completed_trials(results / name)
    assert len(before) < trials, "every trial finished before the loss; nothing to resume"

    info = wait_job(job, tmp_path, timeout=300)
    assert info["JobState"] == "FAILED" and info["ExitCode"] != "0:0", info
    assert json.loads((results / name / "hpotk.json").read_text())["status"] == "running"
    # Slurm requeues a job whose node failed when it was submitted with --requeue (as
    # submit.sbatch is): do here what slurmctld does then
    subprocess.run(["scontrol", "requeue", str(job)], check=True)
    open_for(gate)  # every resumed trial goes through
    info = wait_job(job, tmp_path, timeout=420)
    assert_completed(info, tmp_path, job)
    output = job_output(tmp_path, job)
    assert "resuming interrupted experiment" in output, output[-4000:]
    rows = trials_csv(results, name)
    assert len(rows) == trials and {r["status"] for r in rows} == {"COMPLETED"}, rows
    assert all(int(r["iterations"]) == max_t for r in rows)
    finished = completed_trials(results / name)
    for trial in before:
        assert finished.count(trial) == 1, f"completed trial {trial} was run again"
