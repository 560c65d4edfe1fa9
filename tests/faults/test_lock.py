"""hpotk.lock: one run per results directory, stale locks taken over safely, with and without
a working flock."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpotk import lock as lock_module
from hpotk.lock import LOCK_FILE, LockHeld, RunLock, directory_in_use, read_holder

HOLD = """
import sys, time
from hpotk.lock import RunLock
lock = RunLock(sys.argv[1]); lock.acquire(); print("held", flush=True); time.sleep(60)
"""


@pytest.fixture
def no_flock(monkeypatch):
    """A file system where flock does not work (as on some NFS mounts): heartbeats decide."""
    import fcntl

    def refuse(fd, op):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(fcntl, "flock", refuse)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(directory: Path, **fields) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    holder = {"host": socket.gethostname(), "pid": dead_pid(), "started": 1.7e9,
              "token": "old", **fields}
    path.write_text(json.dumps(holder))
    return path


def test_the_lock_file_names_its_holder_and_goes_on_release(tmp_path):
    with RunLock(tmp_path) as held:
        holder = read_holder(tmp_path / LOCK_FILE)
        assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
        assert abs(holder["started"] - time.time()) < 60 and holder["token"] == held.token
    assert not (tmp_path / LOCK_FILE).exists()


@pytest.mark.parametrize("flock", ["flock", "no flock"])
def test_a_second_run_is_refused_naming_the_first(tmp_path, flock, monkeypatch):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        if flock == "no flock":
            import fcntl

            monkeypatch.setattr(fcntl, "flock", lambda fd, op: (_ for _ in ()).throw(OSError(95)))
        with pytest.raises(LockHeld) as info:
            RunLock(tmp_path).acquire()
        message = str(info.value)
        assert f"pid {holder.pid}" in message and socket.gethostname() in message
        assert time.strftime("%Y-%m-%d") in message  # when it started
        assert directory_in_use(tmp_path)["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    # kill -9 left the file behind: the next run takes it over
    assert (tmp_path / LOCK_FILE).exists()
    with RunLock(tmp_path) as taken:
        assert read_holder(tmp_path / LOCK_FILE)["token"] == taken.token


@pytest.mark.parametrize("flock", ["flock", "no flock"])
def test_a_dead_pid_on_this_host_is_stale(tmp_path, flock, request):
    if flock == "no flock":
        request.getfixturevalue("no_flock")
    write_lock(tmp_path)
    assert directory_in_use(tmp_path) is None
    with RunLock(tmp_path) as taken:
        assert read_holder(tmp_path / LOCK_FILE)["token"] == taken.token


def test_a_recycled_pid_is_not_the_holder(tmp_path, no_flock):
    # a live pid, but not the process that wrote the lock (its start time differs)
    write_lock(tmp_path, pid=os.getppid(), proc_start="1")
    with RunLock(tmp_path):
        pass


def test_another_host_is_alive_while_its_heartbeat_is_fresh(tmp_path, no_flock):
    path = write_lock(tmp_path, host="node-elsewhere", pid=12345)
    with pytest.raises(LockHeld, match="host node-elsewhere, pid 12345"):
        RunLock(tmp_path).acquire()
    old = time.time() - lock_module.STALE_S - 5
    os.utime(path, (old, old))  # no heartbeat for longer than STALE_S: the holder is gone
    with RunLock(tmp_path) as taken:
        assert read_holder(path)["token"] == taken.token


def test_an_unreadable_old_lock_is_stale(tmp_path, no_flock):
    path = tmp_path / LOCK_FILE
    path.write_text("")  # died between creating and writing it
    old = time.time() - 60
    os.utime(path, (old, old))
    with RunLock(tmp_path):
        assert read_holder(path)["pid"] == os.getpid()


def test_the_heartbeat_notices_a_takeover(tmp_path):
    held = RunLock(tmp_path)
    held.acquire()
    try:
        (tmp_path / LOCK_FILE).write_text(json.dumps({"token": "someone-else"}))
        held.heartbeat()
        assert held.lost
    finally:
        held.release()
    assert read_holder(tmp_path / LOCK_FILE) == {"token": "someone-else"}  # not ours: kept


def _contend(directory: str, barrier, results, flock: bool) -> None:
    if not flock:
        import fcntl

        fcntl.flock = lambda fd, op: (_ for _ in ()).throw(OSError(95, "no flock"))
    barrier.wait()
    try:
        lock = RunLock(Path(directory))
        lock.acquire()
    except LockHeld:
        results.put("refused")
        return
    results.put("won")
    time.sleep(1.5)  # hold it while the others look
    lock.release()


@pytest.mark.parametrize("flock", [True, False], ids=["flock", "no flock"])
def test_racing_takeovers_of_one_stale_lock_leave_one_winner(tmp_path, flock):
    write_lock(tmp_path)
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(str(tmp_path), barrier, results, flock))
             for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["refused"] * 5 + ["won"]
