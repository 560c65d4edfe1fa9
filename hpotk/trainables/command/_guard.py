"""Run one command and take its process group down if hpotk's process disappears.

Started by `hpotk.trainables.command.process` as ``python -I _guard.py PARENT_PID GRACE_S -- ARGV...``
in a new session, so the guard, the command and everything the command starts share one process
group. The guard waits for the command and exits with its status (re-raising the signal that
killed it, so the trainable sees the same status as without the guard). If the process that
started it goes away without stopping the trial (a Ray worker killed hard), the guard sends
SIGTERM to the group, then SIGKILL after the grace period, so no process of the trial survives.

Standard library only: it runs before, and independently of, anything hpotk or the script imports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5


def _stop_group(grace_s: float) -> None:
    os.killpg(0, signal.SIGTERM)
    time.sleep(grace_s)
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    parent, grace_s, separator, *command = argv
    if separator != "--" or not command:
        print("usage: _guard.py PARENT_PID GRACE_S -- COMMAND...", file=sys.stderr)
        return 2
    parent_pid = int(parent)
    # A Python-level handler (not SIG_IGN) is reset to the default in the command on exec:
    # the command still gets SIGTERM from hpotk; the guard outlives it to watch the group.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: None)
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        print(f"hpotk: cannot start {command[0]!r}: {exc}", file=sys.stderr, flush=True)
        return 127
    while True:
        try:
            status = child.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            if os.getppid() != parent_pid:
                _stop_group(float(grace_s))
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
