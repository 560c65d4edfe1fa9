"""Submitting and watching jobs on the test Slurm, and finding a job's Ray processes."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "slurm" / "testing" / "cluster.sh"
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


def sbatch(*args: str, cwd: Path) -> int:
    """Submit with sbatch from ``cwd``; the job id."""
    proc = subprocess.run(["sbatch", "--parsable", f"--chdir={cwd}",
                           f"--output={cwd}/job-%j.out", "--time=00:20:00", *args],
                          capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(";")[0])


def job_info(job_id: int) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-o", str(job_id)], capture_output=True,
                         text=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def job_output(cwd: Path, job_id: int) -> str:
    path = cwd / f"job-{job_id}.out"
    return path.read_text(errors="replace") if path.exists() else "(no output)"


_requeued_seen: dict[tuple[int, str], float] = {}


def release_if_requeued(job_id: int, info: dict[str, str]) -> None:
    """Slurm holds a requeued job back ~2 minutes (BeginTime); a test need not wait for that,
    but it waits 3 s: slurmd refuses a start whose credential dates from the second the old one
    was revoked in ("Killing non-startable batch job: Job credential revoked")."""
    if info.get("JobState") == "PENDING" and info.get("Reason") == "BeginTime" \
            and int(info.get("Restarts", "0")) > 0:
        key = (job_id, info.get("Restarts", ""))
        first = _requeued_seen.setdefault(key, time.monotonic())
        if time.monotonic() - first >= 3:
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"],
                           check=False)


def wait_job(job_id: int, cwd: Path, timeout: float = 420) -> dict[str, str]:
    """Wait until the job has finished (releasing it after requeues); its final scontrol record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = job_info(job_id)
        if info.get("JobState") in FINAL_STATES:
            return info
        release_if_requeued(job_id, info)
        time.sleep(1)
    subprocess.run(["scancel", str(job_id)], check=False)
    pytest.fail(f"job {job_id} did not finish within {timeout} s:\n{job_output(cwd, job_id)[-4000:]}")


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def ray_processes_of_job(job_id: int) -> list[str]:
    """Command lines of live processes that belong to the job's Ray (its temp dirs)."""
    marker = f"/hpotk-{job_id}-"
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(f"{cmdline.parent.name}: {text[:200]}")
    return found
