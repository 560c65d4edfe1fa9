"""hpotk.state with the lock: a second run of a directory in use is refused naming the first,
`--new` racing with itself never shares a directory, a dead run's directory is resumed."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hpotk import state
from hpotk.experiment import validate
from hpotk.lock import LOCK_FILE, read_holder
from tests.fuzz.harness import run_cli

REPO = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from hpotk import state
state.hold(sys.argv[1]); print("held", flush=True); time.sleep(60)
"""


def experiment(results: Path, name: str = "exp"):
    return validate({"name": name, "trainable": "mlp-digits", "space": {"lr": 0.01},
                     "metric": {"name": "val_acc", "mode": "max"}, "results": str(results)})


def mark(results_dir: Path, status: str, pid: int | None = None) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    runs = [{"host": socket.gethostname(), "pid": pid or os.getpid(), "started": 1.7e9}]
    (results_dir / state.STATE_FILE).write_text(json.dumps({"status": status, "runs": runs}))


@pytest.fixture
def holder(tmp_path):
    """Another live process holding tmp_path/exp, as a running `hpotk run` does."""
    target = tmp_path / "exp"
    mark(target, "running")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_run_is_refused_with_one_line_naming_the_first(tmp_path, holder):
    exp_file = tmp_path / "exp.json"
    exp_file.write_text(json.dumps(experiment(tmp_path).to_dict()))
    code, out, err = run_cli(["run", str(exp_file), "--quiet"])
    assert code == 2, (out, err)
    assert len(err.splitlines()) == 1
    assert f"host {socket.gethostname()}, pid {holder.pid}, started " in err
    assert "in use by another hpotk run" in err


def test_a_run_left_by_a_dead_process_is_resumed_and_locked(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    mark(tmp_path / "exp", "running", pid=proc.pid)
    decision = state.decide(experiment(tmp_path))
    try:
        assert decision.action == "resume"
        assert read_holder(tmp_path / "exp" / LOCK_FILE)["pid"] == os.getpid()
    finally:
        state.release(decision.exp.results_dir)
    assert not (tmp_path / "exp" / LOCK_FILE).exists()


def test_record_end_releases_the_lock(tmp_path):
    decision = state.decide(experiment(tmp_path))
    assert decision.action == "start" and (tmp_path / "exp" / LOCK_FILE).exists()
    state.record_start(decision.exp.results_dir, decision.exp)
    state.record_end(decision.exp.results_dir, "complete")
    assert not (tmp_path / "exp" / LOCK_FILE).exists()
    assert state.read_state(tmp_path / "exp")["status"] == "complete"


def _new_run(results: str, barrier, out) -> None:
    barrier.wait()
    decision = state.decide(experiment(Path(results)), new=True)
    out.put(decision.exp.name)


def test_racing_new_runs_never_share_a_directory(tmp_path):
    mark(tmp_path / "exp", "complete")
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_new_run, args=(str(tmp_path), barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    names = [out.get(timeout=5) for _ in procs]
    assert len(set(names)) == 4, names
    assert all(n.startswith("exp-") for n in names)


def test_a_run_on_another_host_reads_as_interrupted_once_its_heartbeat_is_stale(tmp_path,
                                                                                 monkeypatch):
    import fcntl
    import time

    from hpotk import lock, results

    monkeypatch.setattr(fcntl, "flock", lambda fd, op: (_ for _ in ()).throw(OSError(95)))
    exp_dir = tmp_path / "exp"
    exp_dir.mkdir()
    runs = [{"host": "node-elsewhere", "pid": 4242, "started": 1.7e9}]
    saved = {"status": "running", "runs": runs}
    path = exp_dir / LOCK_FILE
    path.write_text(json.dumps({"host": "node-elsewhere", "pid": 4242, "started": 1.7e9}))
    assert results.effective_status(saved, exp_dir) == "running"  # heartbeat fresh
    old = time.time() - lock.STALE_S - 1
    os.utime(path, (old, old))
    assert results.effective_status(saved, exp_dir) == "interrupted"
