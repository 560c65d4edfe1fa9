"""Elastic runs on the local test Slurm (two nodes): a one-node head job, and worker jobs that join
its Ray cluster when Slurm starts them (`hpotk submit --elastic`, slurm/worker.sbatch).

Two jobs' worth each, kept small: every job starts a Ray node on this 2-core machine.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from hpotk import results as hpotk_results
from hpotk import slurm
from tests.slurm import jobs
from tests.slurm.gated import gated_experiment
from tests.slurm.jobs import (
    FINAL_STATES,
    job_info,
    job_output,
    release_if_requeued,
    wait_for,
    wait_job,
)
from tests.slurm.test_e2e import (
    assert_completed,
    assert_no_ray_left,
    auth_probe,
    completed_trials,
    trials_csv,
)

pytestmark = pytest.mark.slurm


def elastic_scripts(tmp_path: Path, results: Path, name: str, trials: int,
                    max_t: int) -> tuple[Path, Path]:
    """The head's rendered script (a file) and the gate file that lets its trials go past
    iteration 1. Each trial takes one CPU: two on the head's node, two on a worker's."""
    experiment, gate = gated_experiment(tmp_path, results, name, trials, max_t, concurrent=4)
    head = tmp_path / "head.sbatch"
    head.write_text(slurm.render_script(str(experiment), nodes=1, gpus_per_node=0,
                                        time="00:20:00", extra_args=[], elastic=True,
                                        name=name))
    return head, gate


_submitted: list[int] = []


def sbatch(*args: str, cwd: Path) -> int:
    job = jobs.sbatch(*args, cwd=cwd)
    _submitted.append(job)
    return job


@pytest.fixture(autouse=True)
def _cancel_leftovers():
    """A failed test leaves no job holding a node for the tests after it."""
    yield
    if _submitted:
        subprocess.run(["scancel", *map(str, _submitted)], capture_output=True)
        _submitted.clear()


def submit_worker(tmp_path: Path, head_job: int, *options: str) -> int:
    script = tmp_path / f"worker-{head_job}-{time.monotonic_ns()}.sbatch"
    script.write_text(slurm.render_worker_script(str(head_job), count=1, time="00:15:00"))
    return sbatch(*options, str(script), cwd=tmp_path)


def starts(history: Path) -> list[dict]:
    if not history.exists():
        return []
    lines = [json.loads(line) for line in history.read_text().splitlines() if line.endswith("}")]
    return [e for e in lines if e.get("event") in ("start", "result")]


def first_on(history: Path, node: str, event: str = "start") -> dict | None:
    return next((e for e in starts(history)
                 if e["event"] == event and e.get("slurm_node") == node), None)


def node_of(job: int) -> str:
    return wait_for(lambda: job_info(job).get("NodeList") not in (None, "", "(null)")
                    and job_info(job)["NodeList"], 120, f"job {job} to get a node")


def slurm_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").timestamp()


def alive(job: int, cwd: Path) -> None:
    if job_info(job).get("JobState") in FINAL_STATES:
        pytest.fail(f"job {job} ended early:\n{job_output(cwd, job)[-4000:]}")


def test_an_elastic_run_grows_onto_a_worker_job_and_survives_its_cancel(slurm_nodes, job_env,
                                                                         tmp_path):
    results, trials, max_t, name = tmp_path / "results", 6, 4, "elastic"
    head_script, gate = elastic_scripts(tmp_path, results, name, trials, max_t)
    history = results / name / "history.jsonl"
    head = sbatch(str(head_script), cwd=tmp_path)
    head_node = node_of(head)
    worker_node = next(n for n in slurm_nodes if n != head_node)
    # held until the head has started trials (its node alone, at first)
    worker = submit_worker(tmp_path, head, "--hold")

    def head_started_trials() -> bool:
        alive(head, tmp_path)
        return bool(first_on(history, head_node))

    wait_for(head_started_trials, 300, "the head to start trials")
    job_dir = tmp_path / ".hpotk-jobs" / str(head)
    assert (job_dir / "head.ready").exists() and (job_dir / "ray_token").exists()
    # another user cannot read the token: the job directory is its owner's alone
    assert job_dir.stat().st_mode & 0o777 == 0o700
    assert (job_dir / "ray_token").stat().st_mode & 0o777 == 0o600
    # a client without the token is refused by the head (with it: accepted)
    address = (job_dir / "head.ready").read_text().strip()
    token = (job_dir / "ray_token").read_text()
    probes = {"no token": auth_probe(address, {"RAY_AUTH_MODE": "disabled"}),
              "the token": auth_probe(address, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})}
    outputs = {what: probe.communicate(timeout=120)[0] for what, probe in probes.items()}
    assert "ACCEPTED" in outputs["the token"], outputs
    assert "REFUSED AuthenticationError" in outputs["no token"], outputs

    # a worker with the wrong token (another job's, say) cannot join: the head refuses it
    fake = tmp_path / "fake-head"
    fake.mkdir(mode=0o700)
    (fake / "head.ready").write_text((job_dir / "head.ready").read_text())
    (fake / "ray_token").write_text("0" * 64)
    (fake / "ray_token").chmod(0o600)
    intruder = submit_worker(tmp_path, head, f"--export=ALL,HPOTK_HEAD_DIR={fake}",
                             f"--nodelist={worker_node}")
    info = wait_job(intruder, tmp_path, timeout=240)
    out = job_output(tmp_path, intruder)
    assert info["JobState"] == "FAILED", out[-3000:]
    assert "refused this worker's token" in out, out[-3000:]
    assert not first_on(history, worker_node), "a trial ran on the intruder's node"

    subprocess.run(["scontrol", "release", str(worker)], check=True)

    def worker_trial_reported() -> dict | None:
        alive(head, tmp_path)
        alive(worker, tmp_path)
        return first_on(history, worker_node, "result")

    wait_for(worker_trial_reported, 300, "a trial on the worker's node to report")
    first = first_on(history, worker_node)
    worker_started = slurm_time(job_info(worker)["StartTime"])
    print(f"\n[elastic] worker job start -> its first trial: {first['time'] - worker_started:.1f} s")
    done_before = completed_trials(results / name)
    # the worker job is cancelled mid-run: its node goes without notice
    subprocess.run(["scancel", str(worker)], check=True)
    assert wait_job(worker, tmp_path, timeout=120)["JobState"] == "CANCELLED"

    # a second worker takes the retried trials, then reaches its wall time (USR1): it drains its
    # node, gives its trials HPOTK_DRAIN_S to end (they cannot: the gate is shut), and leaves
    since = time.time()
    second = submit_worker(tmp_path, head, "--export=ALL,HPOTK_DRAIN_S=3")

    def started_on_second() -> list[str]:
        alive(head, tmp_path)
        alive(second, tmp_path)
        if "joined the head" not in job_output(tmp_path, second):  # its USR1 trap is set
            return []
        return [e["trial_id"] for e in starts(history) if e["event"] == "start"
                and e.get("slurm_node") == worker_node and e["time"] > since]

    drained = wait_for(started_on_second, 300, "a trial to start on the second worker")
    time.sleep(2)  # let its trials restore their checkpoints
    subprocess.run(["scancel", "--signal=USR1", "--batch", str(second)], check=True)
    info = wait_job(second, tmp_path, timeout=120)
    out = job_output(tmp_path, second)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", out[-3000:]
    assert "draining" in out and "to be retried elsewhere" in out, out[-3000:]
    gate.touch()  # now every trial may finish

    info = wait_job(head, tmp_path, timeout=480)
    assert_completed(info, tmp_path, head)
    rows = trials_csv(results, name)
    assert len(rows) == trials and {r["status"] for r in rows} == {"COMPLETED"}, rows
    assert all(int(r["iterations"]) == max_t for r in rows)
    retried = [r for r in rows if int(r["retries"]) >= 1]
    print(f"[elastic] trials retried after the worker's cancel: {len(retried)}")
    assert retried, job_output(tmp_path, head)[-4000:]
    assert all(r["node"] == head_node for r in retried)  # they ended on the node that was left
    for row in retried:  # each went on from its checkpoint at iteration 1, not from scratch
        seen = [e["training_iteration"] for e in starts(history)
                if e["event"] == "result" and e["trial_id"] == row["trial_id"]]
        assert seen == list(range(1, max_t + 1)), (row["trial_id"], seen)
    assert {r["node"] for r in rows} <= {head_node, worker_node}
    ended_on = {r["trial_id"]: r["node"] for r in rows}
    print(f"[elastic] trials drained off the second worker: {len(drained)}")
    assert all(ended_on[t] == head_node for t in drained), (drained, ended_on)
    finished = completed_trials(results / name)
    assert sorted(finished) == sorted(set(finished)), "a completed trial ran twice"
    assert set(done_before) <= set(finished)
    assert "elastic run: a trial whose node goes without notice is retried" in \
        job_output(tmp_path, head)
    # the driver saw the worker nodes come and go: the report's timeline draws these spans
    spans = hpotk_results.load(results / name).node_spans()
    worker_spans = spans[spans["node"] == worker_node]
    assert len(worker_spans) == 2 and worker_spans["changed"].all(), spans
    # the cancelled worker's leave (the drained one's too, if Ray had noticed before the end)
    assert worker_spans["leave_s"].notna().iloc[0], spans
    assert spans[spans["node"] == head_node]["at_start"].all(), spans
    jobs = [json.loads(line) for line in (results / name / "slurm_jobs.jsonl").read_text()
            .splitlines()]
    assert {(e["role"], e["job"]) for e in jobs} >= {("head", str(head)),
                                                     ("worker", str(worker))}
    assert (job_dir / "ended").read_text().strip() == "0"

    # a worker submitted for the finished experiment leaves at once, exit 0
    late = submit_worker(tmp_path, head)
    info = wait_job(late, tmp_path, timeout=120)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", \
        job_output(tmp_path, late)
    assert "has ended; this worker ends" in job_output(tmp_path, late)
    for job in (head, worker, intruder, second, late):
        assert_no_ray_left(job)


def test_an_elastic_head_requeued_at_its_wall_time_is_rejoined_and_completes(
        slurm_nodes, job_env, tmp_path):
    results, trials, max_t, name = tmp_path / "results", 6, 4, "elastic-requeue"
    head_script, gate = elastic_scripts(tmp_path, results, name, trials, max_t)
    history = results / name / "history.jsonl"
    head = sbatch(str(head_script), cwd=tmp_path)
    worker = submit_worker(tmp_path, head)  # --dependency=after:head, in the script
    worker_node = node_of(worker)

    def worker_trial_reported() -> dict | None:
        alive(head, tmp_path)
        alive(worker, tmp_path)
        return first_on(history, worker_node, "result")

    wait_for(worker_trial_reported, 300, "a trial on the worker's node to report")
    done_before = completed_trials(results / name)
    # the head's wall time: Slurm's USR1; it stops, requeues and resumes
    subprocess.run(["scancel", "--signal=USR1", "--batch", str(head)], check=True)

    def head_back() -> bool:
        release_if_requeued(head, job_info(head))
        return "(again, after the head's restart)" in job_output(tmp_path, worker)

    wait_for(head_back, 300, "the worker to rejoin the requeued head")
    gate.touch()
    info = wait_job(head, tmp_path, timeout=480)
    assert_completed(info, tmp_path, head)
    assert int(info["Restarts"]) == 1
    assert "resuming interrupted experiment" in job_output(tmp_path, head)
    # the worker saw the experiment end, and left by itself
    winfo = wait_job(worker, tmp_path, timeout=120)
    out = job_output(tmp_path, worker)
    assert winfo["JobState"] == "COMPLETED" and winfo["ExitCode"] == "0:0", out[-3000:]
    assert "(again, after the head's restart)" in out and "has ended; this worker ends" in out
    rows = trials_csv(results, name)
    assert len(rows) == trials and {r["status"] for r in rows} == {"COMPLETED"}, rows
    assert all(int(r["iterations"]) == max_t for r in rows)
    finished = completed_trials(results / name)
    assert sorted(finished) == sorted(set(finished)), "a completed trial ran twice"
    assert set(done_before) <= set(finished)
    for job in (head, worker):
        assert_no_ray_left(job)
