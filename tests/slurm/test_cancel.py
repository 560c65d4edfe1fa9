"""`hpotk cancel DIR` and the head's bookkeeping of an elastic run's jobs (slurm_jobs.jsonl), with
fake Slurm commands on PATH that log what they were asked. The real ones: tests/slurm/test_elastic.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpotk import layout, slurm
from hpotk.cli import main
from hpotk.errors import HpotkError


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """squeue answers from ``squeue.txt`` (``ID STATE`` lines); scancel logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "scancel.log"
    (bin_dir / "squeue").write_text(f"#!/bin/bash\ncat {tmp_path}/squeue.txt 2>/dev/null\n")
    (bin_dir / "scancel").write_text(f'#!/bin/bash\necho "$@" >> {log}\n')
    for tool in ("squeue", "scancel"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return tmp_path


def test_cancel_ends_the_head_and_every_worker_job_still_queued(fake_slurm, tmp_path, capsys):
    exp = tmp_path / "results" / "x"
    slurm.record(exp, {"job": "501", "role": "head"})
    slurm.record(exp, {"job": "502", "role": "workers", "count": 3, "head": "501"})
    slurm.record(exp, {"job": "503", "role": "worker", "array": "502", "node": "n2"})
    slurm.record(exp, {"job": "490", "role": "head"})  # an earlier submission, long gone
    (tmp_path / "squeue.txt").write_text("501 RUNNING\n502_0 RUNNING\n502_[1-2] PENDING\n")
    assert main(["cancel", str(exp)]) == 0
    assert (tmp_path / "scancel.log").read_text().split() == ["501", "502"]
    out = capsys.readouterr().out
    assert "cancelled job 501 (head, RUNNING)" in out
    assert "cancelled job 502 (workers, PENDING,RUNNING)" in out


def test_cancel_with_nothing_left_says_so_and_cancels_nothing(fake_slurm, tmp_path, capsys):
    exp = tmp_path / "x"
    slurm.record(exp, {"job": "501", "role": "head"})
    assert main(["cancel", str(exp)]) == 0
    assert not (tmp_path / "scancel.log").exists()
    assert "no Slurm job of" in capsys.readouterr().out


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d, "no slurm_jobs.jsonl"),
    (lambda d: d / "missing", "is not a directory"),
])
def test_cancel_of_a_directory_without_jobs_is_a_clear_error(tmp_path, make, message, capsys):
    assert main(["cancel", str(make(tmp_path))]) != 0
    assert message in capsys.readouterr().err


def test_the_head_records_itself_and_its_workers_find_the_experiment(tmp_path, monkeypatch):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\ntrainable: mlp-digits\nspace:\n  lr: {type: continuous, "
                          "min_value: 0.001, max_value: 0.1}\nmetric: {name: val_acc, mode: max}\n"
                          "strategy: fifo/random\nbudget: {trials: 2, max_t: 2}\n")
    job_dir = tmp_path / ".hpotk-jobs" / "501"
    job_dir.mkdir(parents=True)
    monkeypatch.setenv("SLURM_JOB_ID", "501")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    directory = slurm.record_job("head", job_dir, str(experiment),
                                 [f"--set=results={tmp_path / 'out'}"])
    assert directory == tmp_path / "out" / "x"
    monkeypatch.setenv("SLURM_JOB_ID", "503")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "502")
    assert slurm.record_job("worker", job_dir, node="n2") == directory
    jobs = slurm.recorded_jobs(directory)
    assert [(j["role"], j["job"]) for j in jobs] == [("head", "501"), ("worker", "503")]
    assert jobs[0]["start"] == 2 and jobs[1]["array"] == "502" and jobs[1]["head"] == "501"


def test_at_the_end_the_head_cancels_its_queued_workers(fake_slurm, tmp_path):
    exp = tmp_path / "out" / "x"
    job_dir = tmp_path / "jobdir"
    job_dir.mkdir()
    layout.atomic_write(job_dir / slurm.EXPERIMENT_DIR_FILE, str(exp))
    slurm.record(exp, {"job": "501", "role": "head"})
    slurm.record(exp, {"job": "502", "role": "workers", "count": 2})
    slurm.record(exp, {"job": "503", "role": "worker", "array": "502"})
    assert slurm.end_workers(job_dir) == ["502"]
    # only those not started: running ones see the head's `ended` file and leave, exit 0
    assert (tmp_path / "scancel.log").read_text().split() == ["--state=PENDING", "502"]
    assert slurm.end_workers(tmp_path) == []  # not an elastic head's directory: nothing


def test_record_job_for_a_head_needs_the_experiment(tmp_path):
    with pytest.raises(HpotkError, match="give the experiment file"):
        slurm.record_job("head", tmp_path)
