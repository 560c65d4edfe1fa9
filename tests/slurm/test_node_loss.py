"""Nodes lost mid-experiment, each in one 2-node job on the local test Slurm.

- A worker node (its raylet killed): Ray marks its trials failed, Tune retries them on the
  remaining node from their last checkpoint (max_failures), the experiment completes, no
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
    QUICKSTART,
    SUBMIT,
    assert_completed,
    completed_trials,
    small,
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
    # max_t 30: a trial on the worker must still be running when its raylet is killed (at 8,
    # on an idle machine, it had finished by then: no trial to retry)
    results, name, trials, max_t = tmp_path / "results", "node-loss", 4, 30
    head, worker = sorted(slurm_nodes)[0], sorted(slurm_nodes)[1]
    job = sbatch(str(SUBMIT), str(QUICKSTART),
                 *small(results, name, trials, max_t), "--set=space.batch_size=8",
                 "--set=max_failures=2", "--set=checkpoint.every=1", cwd=tmp_path)
    history = results / name / "history.jsonl"
    # a trial on the worker has reported twice (so it has a checkpoint to go back to)

    def worker_reported() -> bool:
        if job_info(job).get("JobState") in FINAL_STATES:
            pytest.fail(f"job {job} ended early:\n{job_output(tmp_path, job)[-4000:]}")
        return len(results_on(history, slurm_nodes[worker])) >= 2

    wait_for(worker_reported, 360, "two results from a trial on the worker node")
    raylet = wait_for(lambda: raylet_of(job, worker), 30, "the worker's raylet")
    finished_before = {e["trial_id"] for e in map(json.loads, (
        results / name / "finished.jsonl").read_text().splitlines())} \
        if (results / name / "finished.jsonl").exists() else set()
    os.kill(raylet, signal.SIGKILL)
    lost_at = time.time()

    info = wait_job(job, tmp_path, timeout=600)
    assert_completed(info, tmp_path, job)
    rows = trials_csv(results, name)
    assert len(rows) == trials and {r["status"] for r in rows} == {"COMPLETED"}, rows
    assert all(int(r["iterations"]) == max_t for r in rows)
    retried = [r for r in rows if int(r["retries"]) >= 1]
    assert retried, f"no trial was retried:\n{job_output(tmp_path, job)[-4000:]}"
    for row in retried:
        assert row["retried_because"], row  # why: the actor / node died
        assert row["node"] == head, row  # it finished on the node that was left
    assert {r["node"] for r in rows} <= set(slurm_nodes)  # Slurm's names for the nodes
    # after the loss, every result came from the head node
    late = [e for e in map(json.loads, history.read_text().splitlines())
            if e.get("event") == "result" and e["time"] > lost_at + 60]
    assert all(e["node_ip"] == slurm_nodes[head] for e in late)
    # completed trials were not run again
    finished = [json.loads(line)["trial_id"] for line in
                (results / name / "finished.jsonl").read_text().splitlines()]
    for trial in finished_before:
        assert finished.count(trial) == 1


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
    results, name, trials, max_t = tmp_path / "results", "head-loss", 4, 6
    head = sorted(slurm_nodes)[0]
    job = sbatch(str(SUBMIT), str(QUICKSTART), *small(results, name, trials, max_t),
                 "--set=space.batch_size=8", "--set=checkpoint.every=1", cwd=tmp_path)

    def one_completed() -> list[str]:
        if job_info(job).get("JobState") in FINAL_STATES:
            pytest.fail(f"job {job} ended early:\n{job_output(tmp_path, job)[-4000:]}")
        return completed_trials(results / name)

    wait_for(one_completed, 360, "a completed trial")
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
