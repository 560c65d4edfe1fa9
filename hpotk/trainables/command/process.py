"""One external command per trial: its process group, its output lines, and stopping it for good.

`CommandProcess.start` runs the command under `hpotk.trainables.command._guard` in a new session, so the
command and every process it starts share one process group (pgid = the guard's pid). Two reader
threads split stdout and stderr into lines (``\\n``, ``\\r\\n`` or a bare ``\\r`` as progress bars
print), append each to the trial's log file and put it on a queue; `read` takes the next line with
a timeout, so nothing ever blocks for good. `stop` sends SIGTERM to the group, SIGKILL after the
grace period, and returns once no process of the group is left (zombies aside).

Linux only (process groups, ``/proc``), like the clusters hpotk runs on.
"""

from __future__ import annotations

import collections
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

GUARD = str(Path(__file__).with_name("_guard.py"))
MAX_LINE = 1 << 20  # a "line" longer than 1 MiB is cut there
#: command.log stops growing at this size (``HPOTK_COMMAND_LOG_MAX_MB``, default 256 MB): a
#: script that prints gigabytes cannot fill the disk. Lines past the cap are still scanned for
#: metrics; the last `LOG_TAIL_LINES` of them are appended when the command ends.
LOG_MAX_BYTES = int(float(os.environ.get("HPOTK_COMMAND_LOG_MAX_MB", "256")) * 1e6)
LOG_TAIL_LINES = 200
_TAIL_LINE_CHARS = 4096  # a kept tail line is cut there (bounds the memory the tail holds)
_NEWLINE = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Line:
    """One line of output: ``stream`` is ``"stdout"`` or ``"stderr"``; ``text`` has no newline."""

    stream: str
    text: str


END = Line("", "")  # both streams are closed


class CommandProcess:
    """A running command (see the module docstring). Create it with `start`."""

    def __init__(self, popen: subprocess.Popen, log_path: Path, grace_s: float,
                 tail_lines: int = 20, log_max_bytes: int | None = None):
        self.popen = popen
        self.pgid = popen.pid
        self.log_path = log_path
        self.grace_s = grace_s
        self.started = time.monotonic()
        self.exited_at: float | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._queue: queue.Queue[Line] = queue.Queue()
        self._log = open(log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.log_max_bytes = LOG_MAX_BYTES if log_max_bytes is None else log_max_bytes
        self._log_bytes = self._log.tell()  # a restarted trial appends: count what is there
        self.dropped_lines = 0  # lines past the cap (not in command.log but the kept tail)
        self.dropped_bytes = 0
        self._dropped_tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self._lock = threading.Lock()
        self._open_streams = 2
        self._readers = [
            threading.Thread(target=self._pump, args=(popen.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._pump, args=(popen.stderr, "stderr"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @classmethod
    def start(cls, argv: list[str], cwd: str, env: dict[str, str], log_path: Path,
              grace_s: float) -> CommandProcess:
        """Start ``argv`` (an argument list, never a shell string) in its own process group.

        Raises:
            OSError: the guard itself could not start (the command's own start errors come back
                as exit status 127 with the reason on stderr).
        """
        popen = subprocess.Popen(
            [sys.executable, "-I", GUARD, str(os.getpid()), str(grace_s), "--", *argv],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
        )
        return cls(popen, log_path, grace_s)

    # -- output ----------------------------------------------------------------------------------
    def _pump(self, pipe, stream: str) -> None:
        pending = b""
        try:
            while True:
                chunk = pipe.read1(65536)
                if not chunk:
                    break
                pending += chunk
                # a trailing \r may be the first half of \r\n: keep it for the next chunk
                held = b"\r" if pending.endswith(b"\r") else b""
                parts = _NEWLINE.split(pending[:len(pending) - len(held)])
                pending = parts.pop()
                if len(pending) > MAX_LINE:
                    parts.append(pending)
                    pending = b""
                pending += held
                for raw in parts:
                    self._emit(stream, raw.decode("utf-8", "replace"))
        finally:
            pending = pending.rstrip(b"\r")
            if pending:
                self._emit(stream, pending.decode("utf-8", "replace"))
            pipe.close()
            with self._lock:
                self._open_streams -= 1
                closed = self._open_streams == 0
            if closed:
                self._queue.put(END)

    def _emit(self, stream: str, text: str) -> None:
        with self._lock:
            if not self._log.closed:
                size = len(text.encode("utf-8", "replace")) + 1
                if self._log_bytes + size <= self.log_max_bytes:
                    self._log.write(text + "\n")
                    self._log.flush()
                    self._log_bytes += size
                else:
                    self.dropped_lines += 1
                    self.dropped_bytes += size
                    self._dropped_tail.append(text[:_TAIL_LINE_CHARS])
            if stream == "stderr":
                self.stderr_tail.append(text)
        self._queue.put(Line(stream, text))

    def read(self, timeout: float) -> Line | None:
        """The next line, `END` once both streams are closed, or None after ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    # -- state -----------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the command started."""
        return time.monotonic() - self.started

    def poll(self) -> int | None:
        """The command's exit status (negative: killed by that signal), or None while it runs."""
        status = self.popen.poll()
        if status is not None and self.exited_at is None:
            self.exited_at = time.monotonic()
        return status

    def members(self) -> list[int]:
        """Pids of the live (non-zombie) processes of the command's process group."""
        self.poll()  # reap the guard, so it does not count as a zombie member
        return group_members(self.pgid)

    # -- stopping --------------------------------------------------------------------------------
    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to every process of the group (nothing if none is left)."""
        try:
            os.killpg(self.pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM the group, SIGKILL after ``grace_s`` (default: the start's), close the log.

        Returns when no live process of the group is left, or after 10 s more if one refuses to
        die (a process in uninterruptible sleep); safe to call more than once.
        """
        grace_s = self.grace_s if grace_s is None else grace_s
        if self.members():
            self.signal_group(signal.SIGCONT)  # a paused group cannot act on SIGTERM
            self.signal_group(signal.SIGTERM)
            _wait_until(lambda: not self.members(), grace_s)
        if self.members():
            self.signal_group(signal.SIGKILL)
            _wait_until(lambda: not self.members(), 10.0)
        try:
            self.popen.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        self.poll()
        for reader in self._readers:
            reader.join(timeout=1.0)
        with self._lock:
            self._write_dropped()
            self._log.close()

    def _write_dropped(self) -> None:
        """Say in the log what the cap left out, then the last lines it left out."""
        if self._log.closed or not self.dropped_lines:
            return
        kept = len(self._dropped_tail)
        self._log.write(f"# hpotk: command.log reached its cap of {self.log_max_bytes / 1e6:g} MB"
                        f" (HPOTK_COMMAND_LOG_MAX_MB): {self.dropped_lines} lines "
                        f"({self.dropped_bytes / 1e6:.1f} MB) were not written; the last "
                        f"{kept} of them follow\n")
        self._log.write("".join(line + "\n" for line in self._dropped_tail))
        self._dropped_tail.clear()
        self._log.flush()


def _wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes whose process group is ``pgid`` (from ``/proc``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            pids.append(int(entry))
    return pids
