"""Watching a running experiment from its results directory, on a login node: `hpotk status`
(the driver's one-line progress) and `hpotk report --watch` (the report, rewritten while it
runs).

Both read `hpotk.results.live_status`: ``hpotk.json``'s status (a driver that is gone reads as
interrupted) and ``status.json``, which the driver rewrites every few seconds. A driver killed
without a chance to say so (``kill -9``, a node that died) may leave ``running`` behind; a
watcher also stops when the driver has written no status for `silent_bound` seconds.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from hpotk import results
from hpotk.errors import HpotkError

#: `hpotk report --watch`'s default seconds between two rewrites
REPORT_EVERY_S = 60.0
#: `hpotk status --watch`'s default seconds between two lines
STATUS_EVERY_S = 10.0
#: the least time without a word from the driver after which a watcher gives up on it
SILENT_MIN_S = 600.0


def silent_bound(every_s: float) -> float:
    """Seconds without a status from the driver after which a watcher that looks every
    ``every_s`` seconds stops (the driver writes one every 5 s)."""
    return max(SILENT_MIN_S, 5 * every_s)


def check_every(every_s: float, option: str = "--watch") -> float:
    """``every_s``, or HpotkError if it is no positive number of seconds."""
    if not (isinstance(every_s, (int, float)) and math.isfinite(every_s) and every_s > 0):
        raise HpotkError(f"{option} {every_s:g}: give the seconds between two looks, a number "
                         f"above 0 (e.g. {option} 30)")
    return float(every_s)


def ended(live: results.LiveStatus, every_s: float) -> str | None:
    """Why watching should stop (the experiment ended, or its driver went silent); None while
    it runs."""
    if live.status != "running":
        return f"the experiment is {live.status}"
    silent = live.silent_s()
    bound = silent_bound(every_s)
    if silent is not None and silent > bound:
        return (f"its driver has written no status for {_ago(silent)} (status.json; more than "
                f"{_ago(bound)}): it was probably killed without a chance to record it, or it "
                f"hangs; its state still says running")
    return None


def status_text(path: str | Path) -> str:
    """`hpotk status`'s line: the experiment, its state, and the driver's last progress line
    with its age (or, without one, the trials counted from the results)."""
    live = results.live_status(path)
    return _text(live)


def _text(live: results.LiveStatus) -> str:
    head = f"{live.name}: {live.status}"
    if live.line is not None and live.written_at is not None:
        stamp = time.strftime("%H:%M:%S", time.localtime(live.written_at))
        return f"{head} | {live.line} (as of {stamp}, {_ago(live.age_s or 0.0)} ago)"
    return f"{head} | {_from_results(live.path)} (no status.json: read from its results)"


def _from_results(path: Path) -> str:
    """The trials of a run without ``status.json`` (an older hpotk, or a driver that has not
    written it yet), counted by status, and the best so far."""
    from hpotk.reporting import common

    res = results.load(path)
    total = (res.meta.get("budget") or {}).get("trials") or res.meta.get("expected_trials")
    counts = res.trials["status"].astype(str).value_counts() if len(res.trials) else {}
    by_status = ", ".join(f"{n} {common.status_label(s)}" for s, n in counts.items())
    best = res.best()
    value = common.format_value(best[f"best_{res.metric}"]) if best else "-"
    return (f"trials {len(res.trials)} of {total or '?'}" + (f": {by_status}" if by_status
                                                              else "")
            + f" | best {res.metric} {value} ({res.mode})")


def watch_status(path: str | Path, every_s: float = STATUS_EVERY_S, *,
                 out: TextIO | None = None, sleep: Callable[[float], Any] = time.sleep) -> int:
    """Print `status_text` every ``every_s`` seconds until the experiment ends (in place on a
    terminal, a line each time elsewhere). Ctrl+C stops it; returns 0."""
    every_s = check_every(every_s)
    out = out or sys.stdout
    tty = hasattr(out, "isatty") and out.isatty()
    try:
        while True:
            live = results.live_status(path)
            why = ended(live, every_s)
            line = _text(live)
            if why is not None:
                out.write(("\r\033[K" if tty else "") + line + "\n")
                if live.status == "running":
                    out.write(f"[hpotk] stopped watching: {why}\n")
                out.flush()
                return 0
            out.write(("\r\033[K" + line) if tty else line + "\n")
            out.flush()
            sleep(every_s)
    except KeyboardInterrupt:
        out.write(("\n" if tty else "") + "[hpotk] stopped watching (Ctrl+C)\n")
        out.flush()
        return 0


def watch_report(path: str | Path, out_dir: str | Path | None = None,
                 every_s: float = REPORT_EVERY_S, *, say: Callable[[str], Any] = print,
                 sleep: Callable[[float], Any] = time.sleep,
                 on_first: Callable[[Any], Any] | None = None) -> Any:
    """Rewrite the report of the running experiment ``path`` every ``every_s`` seconds until it
    ends, then write it once more without the page's refresh tag (`page.write`: every file is
    replaced whole, so a browser never reads half a page). Ctrl+C stops it, leaving the last
    page. Returns the last `ReportFiles`.

    Raises:
        HpotkError: ``path`` is no experiment's directory (a study's included: watch one of its
            runs), or ``every_s`` no positive number.
    """
    from hpotk.reporting import _check_libraries, page, study

    every_s = check_every(every_s)
    _check_libraries()
    directory = Path(path).expanduser()
    if (directory / study.STUDY_FILE).exists():
        raise HpotkError(f"{directory} is a study: --watch follows one experiment; give one "
                         f"of its runs' directories (hpotk plan STUDY lists them)")
    target = Path(out_dir).expanduser() if out_dir is not None else directory / "report"
    live = results.live_status(directory)  # no experiment there: one line, before any work
    files = None
    try:
        while True:
            why = ended(live, every_s)
            started = time.monotonic()
            res = results.load(directory)
            if why is None and res.status == "running":
                files = page.write(res, target, refresh_s=every_s)
                if on_first is not None:
                    on_first(files)
                    on_first = None
                say(f"[hpotk] report: {files.index} ({res.freshness.describe()}); rewritten "
                    f"every {every_s:g} s while {live.name} runs (Ctrl+C stops)")
                sleep(max(0.0, every_s - (time.monotonic() - started)))
                live = results.live_status(directory)
                continue
            why = why or f"the experiment is {res.status}"
            note = None
            if res.status == "running":  # the driver went silent: the page says so
                note = f"hpotk report --watch stopped: {why}."
            files = page.write(res, target, note=note)
            say(f"[hpotk] report: {files.index} (final: {why})")
            return files
    except KeyboardInterrupt:
        say("[hpotk] stopped watching (Ctrl+C)"
            + (f"; the page as last written: {files.index}" if files else ""))
        return files


def _ago(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"
