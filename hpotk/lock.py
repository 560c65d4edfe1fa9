"""One `hpotk run` per results directory: a lock file that names its holder.

``results/<name>/hpotk.lock`` is created with ``O_CREAT | O_EXCL`` (atomic on local file systems
and on NFSv3 and later, where ``flock`` may not work) and holds JSON: host, pid, the process's
start time (so a recycled pid is not mistaken for the holder), when the run started, and a
random token. While the run lives, a thread touches the file every `HEARTBEAT_S` seconds, and
the holder also keeps an ``flock`` on it where the file system supports one (the kernel drops it
the moment the process dies, even on ``kill -9``).

A second run finds the file and asks whether the holder is alive:

- ``flock`` refused -> alive (whatever host it is on);
- the same host -> alive if that pid exists with the same start time;
- another host -> alive if the heartbeat is younger than `STALE_S` seconds (``flock`` alone
  cannot say "dead" there: on some shared file systems it is a no-op).

An alive holder means `LockHeld`, whose message names host, pid and start time. A dead one's lock
is taken over under a second O_EXCL file (``hpotk.lock.takeover``), so two runs that both find
the same stale lock cannot both take it: the one that creates the takeover file re-reads the
lock, checks it is still the stale one it judged, replaces it and removes the takeover file; the
other retries and finds the new, live holder.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from hpotk.errors import HpotkError

LOCK_FILE = "hpotk.lock"
TAKEOVER_SUFFIX = ".takeover"
#: seconds between heartbeats (``HPOTK_LOCK_HEARTBEAT_S``)
HEARTBEAT_S = float(os.environ.get("HPOTK_LOCK_HEARTBEAT_S", "15"))
#: a lock on another host whose heartbeat is older than this is stale (``HPOTK_LOCK_STALE_S``)
STALE_S = float(os.environ.get("HPOTK_LOCK_STALE_S", "120"))
#: an unreadable lock (a process died between creating and writing it) is stale after this
UNREADABLE_GRACE_S = 10.0


class LockHeld(HpotkError):
    """Another live `hpotk run` holds the results directory."""

    def __init__(self, path: Path, holder: dict[str, Any]):
        self.path = path
        self.holder = holder
        started = holder.get("started")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
        super().__init__(
            f"{path.parent} is in use by another hpotk run (host {holder.get('host', '?')}, pid "
            f"{holder.get('pid', '?')}, started {when}); wait for it to end, stop it, or run "
            f"under another name (--set name=...)")


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` runs on this host (and, if ``start`` is given, is that same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    if start is not None:
        now = process_start(pid)
        if now is not None and now != start:
            return False  # the pid was recycled by another process
    return True


def read_holder(path: Path) -> dict[str, Any] | None:
    """The lock file's JSON, or None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _flock_free(path: Path) -> bool | None:
    """True if an exclusive flock on ``path`` could be taken (and was let go at once), False if
    another process holds one, None where the file system has no flock or the file is gone."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    finally:
        os.close(fd)
    return True


def holder_alive(path: Path, holder: dict[str, Any] | None, *, now: float | None = None,
                 stale_s: float | None = None) -> bool:
    """Whether the process that wrote ``holder`` into lock file ``path`` still holds it."""
    now = time.time() if now is None else now
    stale_s = STALE_S if stale_s is None else stale_s
    try:
        age = now - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    if holder is None:  # created but not yet written, or written by a process that died then
        return age < UNREADABLE_GRACE_S
    if _flock_free(path) is False:
        return True
    if holder.get("host") == socket.gethostname():
        pid = holder.get("pid")
        return isinstance(pid, int) and pid_alive(pid, holder.get("proc_start"))
    return age < stale_s


def directory_in_use(results_dir: Path) -> dict[str, Any] | None:
    """The live holder of ``results_dir``'s lock (host, pid, started), or None."""
    path = Path(results_dir) / LOCK_FILE
    holder = read_holder(path)
    if path.exists() and holder_alive(path, holder):
        return holder or {}
    return None


class RunLock:
    """The claim of this process on one results directory (see the module docs).

    Use `acquire` (raises `LockHeld`) and `release`, or ``with RunLock(dir):``.
    """

    def __init__(self, results_dir: Path):
        self.path = Path(results_dir) / LOCK_FILE
        self.token = secrets.token_hex(8)
        self.fd: int | None = None
        self.lost = False  # set by the heartbeat if someone else took the lock over
        self.flocked = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self.fd is not None

    def info(self) -> dict[str, Any]:
        pid = os.getpid()
        return {"host": socket.gethostname(), "pid": pid, "proc_start": process_start(pid),
                "started": time.time(), "token": self.token}

    def acquire(self, attempts: int = 20) -> None:
        """Create the lock, or take over a stale one; `LockHeld` if a live run holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):
            if self._create():
                self._start_heartbeat()
                return
            holder = read_holder(self.path)
            if holder_alive(self.path, holder):
                if holder is None:  # being written right now: look again shortly
                    time.sleep(0.2)
                    continue
                if self._is_mine(holder):  # this process left it (an earlier run in-process)
                    self._adopt(holder)
                    return
                raise LockHeld(self.path, holder)
            self._take_over(holder)
        raise HpotkError(f"could not lock {self.path}: other runs keep taking it over; "
                         f"try again")

    def _is_mine(self, holder: dict[str, Any]) -> bool:
        return (holder.get("host") == socket.gethostname() and holder.get("pid") == os.getpid()
                and holder.get("token") not in _LIVE_TOKENS)

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, (json.dumps(self.info()) + "\n").encode())
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            raise
        self._hold(fd)
        return True

    def _hold(self, fd: int) -> None:
        import fcntl

        self.fd = fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.flocked = True
        except OSError:
            self.flocked = False  # no flock here (or it is emulated oddly): heartbeats decide
        _LIVE_TOKENS.add(self.token)

    def _adopt(self, holder: dict[str, Any]) -> None:
        """Take over a lock this very process left behind (an earlier, unreleased run)."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        if not self._create():
            raise LockHeld(self.path, read_holder(self.path) or holder)
        self._start_heartbeat()

    def _take_over(self, stale: dict[str, Any] | None) -> None:
        """Replace a stale lock, unless another process is doing the same right now."""
        takeover = self.path.with_name(self.path.name + TAKEOVER_SUFFIX)
        try:
            fd = os.open(takeover, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            self._clear_stale_takeover(takeover)
            time.sleep(0.1 + secrets.randbelow(100) / 1000)
            return
        try:
            os.close(fd)
            current = read_holder(self.path)
            # still the lock we judged stale (not one a faster process just created)?
            if (current or {}).get("token") == (stale or {}).get("token") and \
                    not holder_alive(self.path, current):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(takeover)

    @staticmethod
    def _clear_stale_takeover(takeover: Path) -> None:
        """A takeover file older than the grace period was left by a process that died
        mid-takeover: move it aside under a private name, and remove it if it is still old."""
        try:
            if time.time() - os.stat(takeover).st_mtime < UNREADABLE_GRACE_S:
                return
            aside = takeover.with_name(f"{takeover.name}.{secrets.token_hex(4)}")
            os.rename(takeover, aside)
        except FileNotFoundError:
            return
        if time.time() - os.stat(aside).st_mtime < UNREADABLE_GRACE_S:
            with contextlib.suppress(FileExistsError, FileNotFoundError):
                os.link(aside, takeover)  # a fresh one after all: put it back
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="hpotk-lock-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.heartbeat()

    def heartbeat(self) -> None:
        """Touch the lock file (its mtime is the heartbeat), if it is still this run's."""
        holder = read_holder(self.path)
        if (holder or {}).get("token") != self.token:
            self.lost = True
            return
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def release(self) -> None:
        """Remove the lock if it is still this run's; stop the heartbeat."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1)
        if self.fd is None:
            return
        if (read_holder(self.path) or {}).get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        os.close(self.fd)
        self.fd = None
        _LIVE_TOKENS.discard(self.token)


#: tokens of the locks this process holds now (a lock of this pid with another token was left
#: behind by an earlier run in this process, and may be adopted)
_LIVE_TOKENS: set[str] = set()
