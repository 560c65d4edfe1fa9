"""hpotk's Slurm scripts on a real Slurm (slurm/testing/cluster.sh: two nodes, each a network
namespace with its own address and hostname). Few and small: every job starts a 2-node Ray."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.slurm.jobs import (
    REPO,
    job_info,
    job_output,
    ray_processes_of_job,
    release_if_requeued,
    sbatch,
    wait_for,
    wait_job,
)

pytestmark = pytest.mark.slurm

SUBMIT = REPO / "slurm" / "submit.sbatch"
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
PYTHON = REPO / ".venv" / "bin" / "python"


def small(results: Path, name: str, trials: int, max_t: int) -> list[str]:
    """`hpotk run` arguments: the quickstart, shrunk; FIFO so every trial runs max_t steps; no
    actor reuse so the two concurrent trials sit on the two 1-CPU nodes."""
    return [f"--set=results={results}", f"--set=name={name}", f"--set=budget.trials={trials}",
            "--set=budget.concurrent=2", f"--set=budget.max_t={max_t}",
            "--set=strategy=fifo/random", "--set=reuse_actors=false", "--quiet"]


def trials_csv(results: Path, name: str) -> list[dict[str, str]]:
    with open(results / name / "trials.csv") as f:
        return list(csv.DictReader(f))


def assert_completed(info: dict[str, str], cwd: Path, job_id: int) -> None:
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (
        f"job {job_id}: {info.get('JobState')} {info.get('ExitCode')}\n"
        + job_output(cwd, job_id)[-5000:])


def assert_no_ray_left(job_id: int) -> None:
    # teardown runs before the job ends; give the last process a moment to be reaped
    left = ray_processes_of_job(job_id)
    for _ in range(20):
        if not left:
            break
        time.sleep(0.5)
        left = ray_processes_of_job(job_id)
    assert not left, f"Ray processes of job {job_id} survived it:\n" + "\n".join(left)


def completed_trials(experiment_dir: Path) -> list[str]:
    """Trial ids in hpotk's live log of finished trials (written the moment a trial ends;
    Tune copies result.json into the results directory only every so often)."""
    log = experiment_dir / "finished.jsonl"
    if not log.exists():
        return []
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]
    return [e["trial_id"] for e in entries if e["status"] == "TERMINATED"]


def test_usr1_stops_requeues_and_resumes_to_the_full_budget(slurm_nodes, job_env, tmp_path):
    """A 2-node job (trials on both nodes, named by their Slurm names) that Slurm signals near
    its time limit: it stops, requeues itself and resumes to the full budget."""
    results, name, trials, max_t = tmp_path / "results", "requeued", 4, 8
    # small batches: each trial takes seconds, so USR1 lands while trials remain
    job = sbatch(str(SUBMIT), str(QUICKSTART), *small(results, name, trials, max_t),
                 "--set=space.batch_size=8", cwd=tmp_path)
    # wait for the first completed trial, then signal as Slurm does near the time limit
    before = wait_for(lambda: completed_trials(results / name), 300, "a completed trial")
    subprocess.run(["scancel", "--signal=USR1", "--batch", str(job)], check=True)
    assert len(before) < trials, "every trial finished before USR1; nothing to resume"

    info = wait_job(job, tmp_path)
    assert_completed(info, tmp_path, job)
    output = job_output(tmp_path, job)
    assert int(info["Restarts"]) == 1, output[-4000:]
    assert "requeueing job" in output and "resuming interrupted experiment" in output
    # both starts ran on both nodes, each after every node had joined
    assert output.count("all 2 node(s) joined the Ray cluster") == 2, output[-4000:]
    state = json.loads((results / name / "hpotk.json").read_text())
    assert state["ray_nodes"] == 2  # what Ray reported to the driver
    rows = trials_csv(results, name)
    assert {row["node_ip"] for row in rows} == set(slurm_nodes.values())
    # the Slurm node names, also where the nodes share one host and its hostname
    assert {row["node"] for row in rows} == set(slurm_nodes)
    assert len(rows) == trials
    assert len({row["trial_id"] for row in rows}) == trials
    assert {row["status"] for row in rows} == {"COMPLETED"}
    assert all(int(row["iterations"]) == max_t for row in rows)
    # a trial completed before USR1 was not run again: it finished once, with max_t results
    finished = completed_trials(results / name)
    for trial in before:
        assert finished.count(trial) == 1, f"completed trial {trial} was run again"
        lines = (results / name / trial / "result.json").read_text().splitlines()
        assert len(lines) == max_t, f"completed trial {trial} was run again after the requeue"
    assert_no_ray_left(job)
    assert not (tmp_path / ".hpotk-jobs" / str(job) / "ray_token").exists()


def auth_probe(address: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Ask the cluster's GCS for its keys as a client with the given auth environment."""
    code = ("import sys\nfrom ray._raylet import GcsClient\n"
            "try:\n    GcsClient(address=sys.argv[1]).internal_kv_keys(b'', None, timeout=10)\n"
            "except Exception as exc:\n    print('REFUSED', type(exc).__name__, exc)\n"
            "    sys.exit(3)\nprint('ACCEPTED')\n")
    base = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    return subprocess.Popen([str(PYTHON), "-c", code, address], env={**base, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_jobs_on_the_same_nodes_are_isolated(slurm_nodes, job_env, tmp_path, monkeypatch,
                                                  capsys):
    from hpotk import slurm

    results = tmp_path / "results"
    job_a = sbatch(str(SUBMIT), str(QUICKSTART), *small(results, "job-a", 2, 8), cwd=tmp_path)
    # job B through `hpotk submit`'s rendered script (sbatch reads it on stdin)
    monkeypatch.chdir(tmp_path)
    # one CPU per node (not the default, every CPU), so that both jobs fit on the two nodes
    assert slurm.submit(str(QUICKSTART), nodes=2, gpus_per_node=0, time="00:20:00",
                        extra_args=small(results, "job-b", 2, 3), cpus_per_task=1) == 0
    job_b = int(capsys.readouterr().out.split()[-1])
    dirs = {job: tmp_path / ".hpotk-jobs" / str(job) for job in (job_a, job_b)}

    def both_running() -> bool:
        for job in (job_a, job_b):
            release_if_requeued(job, job_info(job))
        return all((d / "head.ready").exists() for d in dirs.values())

    wait_for(both_running, 300, "both clusters to start")
    address_a = (dirs[job_a] / "head.ready").read_text()
    address_b = (dirs[job_b] / "head.ready").read_text()
    assert address_a.split(":")[1] != address_b.split(":")[1]  # separate port blocks
    token_a = (dirs[job_a] / "ray_token").read_text()
    token_b = (dirs[job_b] / "ray_token").read_text()
    assert token_a != token_b
    assert (dirs[job_a] / "ray_token").stat().st_mode & 0o777 == 0o600
    probes = {
        "job B's token": auth_probe(address_a, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token_b}),
        "no token": auth_probe(address_a, {"RAY_AUTH_MODE": "disabled"}),
        "job A's token": auth_probe(address_a, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token_a}),
    }
    outputs = {what: probe.communicate(timeout=120)[0] for what, probe in probes.items()}
    assert "ACCEPTED" in outputs["job A's token"], outputs  # the cluster was up and reachable
    for what in ("job B's token", "no token"):
        assert "REFUSED AuthenticationError" in outputs[what], (what, outputs[what])

    for job, name in ((job_a, "job-a"), (job_b, "job-b")):
        info = wait_job(job, tmp_path)
        assert_completed(info, tmp_path, job)
        rows = trials_csv(results, name)
        assert len(rows) == 2 and {row["status"] for row in rows} == {"COMPLETED"}
        assert_no_ray_left(job)


def test_cancelled_job_leaves_no_ray_process(slurm_nodes, job_env, tmp_path):
    results = tmp_path / "results"
    job = sbatch(str(SUBMIT), str(QUICKSTART), *small(results, "cancelled", 4, 20), cwd=tmp_path)
    wait_for(lambda: "running: hpotk run" in job_output(tmp_path, job), 300, "the driver to start")
    assert ray_processes_of_job(job), "the job's Ray is not running"
    subprocess.run(["scancel", str(job)], check=True)
    info = wait_job(job, tmp_path, timeout=120)
    assert info["JobState"] == "CANCELLED"
    assert_no_ray_left(job)


def test_usr1_beyond_the_requeue_cap_ends_the_job(slurm_nodes, job_env, tmp_path, monkeypatch):
    monkeypatch.setenv("HPOTK_MAX_REQUEUES", "0")
    results = tmp_path / "results"
    job = sbatch(str(SUBMIT), str(QUICKSTART), *small(results, "capped", 4, 20), cwd=tmp_path)
    wait_for(lambda: "running: hpotk run" in job_output(tmp_path, job), 300, "the driver to start")
    subprocess.run(["scancel", "--signal=USR1", "--batch", str(job)], check=True)
    info = wait_job(job, tmp_path, timeout=180)
    output = job_output(tmp_path, job)
    assert info["JobState"] == "FAILED" and info["Restarts"] == "0", output[-3000:]
    assert "not requeueing" in output
    # USR1 came as the driver started: it still stopped cleanly, with Tune's state saved
    state = json.loads((results / "capped" / "hpotk.json").read_text())
    assert state["status"] == "interrupted", output[-3000:]
    assert_no_ray_left(job)
