"""`hpotk status` and `hpotk report --watch` on hand-made results directories: the driver's
status line and its age, the fallback without status.json, a driver gone silent, the refresh
tag while watching and none in the final page, Ctrl+C, and one-line refusals."""

from __future__ import annotations

import json
import time

import pytest

from hpotk.reporting import live
from tests.reporting.make import make, write_dir

LINE = "trials 3 done, 2 running, 5 pending of 10 | best val_loss 0.42 (min) | 1m05s elapsed"


def _running(tmp_path, status_age_s: float | None = 2.0):
    """A running experiment (its driver on another host, as on a compute node) whose driver
    wrote status.json ``status_age_s`` seconds ago (None: never)."""
    d = write_dir(make(5, running=1), tmp_path / "made", status="running")
    state = json.loads((d / "hpotk.json").read_text())
    state["run_started"] = time.time() - 7200
    (d / "hpotk.json").write_text(json.dumps(state))
    if status_age_s is not None:
        _status(d, time.time() - status_age_s)
    return d


def _status(d, when: float) -> None:
    (d / "status.json").write_text(json.dumps({"line": LINE, "time": when, "phase": "running",
                                               "counts": {"done": 3, "running": 2}}))


def _finish(d, status: str = "complete") -> None:
    state = json.loads((d / "hpotk.json").read_text())
    state["status"] = status
    (d / "hpotk.json").write_text(json.dumps(state))


def test_status_of_a_running_experiment_is_the_drivers_line_and_its_age(tmp_path):
    d = _running(tmp_path, status_age_s=3)
    text = live.status_text(d)
    assert text.startswith("made-5: running | " + LINE)
    assert text.endswith("s ago)") and "(as of " in text


def test_status_without_status_json_counts_the_trials_from_the_results(tmp_path):
    d = write_dir(make(6, errors=1), tmp_path / "old")
    text = live.status_text(d)
    assert text.startswith("made-6: complete | trials 6 of 6: ")
    assert "1 error" in text and "best val_loss" in text and "no status.json" in text


def test_cli_status_and_its_refusals(tmp_path, capsys):
    from hpotk.cli import main

    d = _running(tmp_path)
    assert main(["status", str(d)]) == 0
    assert LINE in capsys.readouterr().out
    assert main(["status", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing is not a results directory" in err
    (tmp_path / "empty").mkdir()
    assert main(["status", str(tmp_path / "empty")]) == 2
    assert "holds no hpotk experiment (no hpotk.json)" in capsys.readouterr().err
    (tmp_path / "queued").mkdir()
    (tmp_path / "queued" / "slurm_jobs.jsonl").write_text('{"job_id": "12"}\n')
    assert main(["status", str(tmp_path / "queued")]) == 2
    assert "submitted to Slurm but has not started yet" in capsys.readouterr().err
    assert main(["status", str(d), "--watch", "-1"]) == 2
    assert "--watch -1: give the seconds" in capsys.readouterr().err


def test_status_watch_reprints_until_the_experiment_ends(tmp_path):
    import io

    d = _running(tmp_path)
    out, naps = io.StringIO(), []

    def sleep(seconds):
        naps.append(seconds)
        if len(naps) == 2:
            _finish(d)

    assert live.watch_status(d, 5, out=out, sleep=sleep) == 0
    lines = out.getvalue().splitlines()
    assert naps == [5, 5] and len(lines) == 3
    assert [line.split(" | ")[0] for line in lines] == ["made-5: running"] * 2 + [
        "made-5: complete"]


def test_status_watch_stops_when_the_driver_went_silent(tmp_path):
    import io

    d = _running(tmp_path, status_age_s=3600)  # killed without a chance to say so
    out = io.StringIO()
    assert live.watch_status(d, 10, out=out, sleep=lambda s: pytest.fail("slept")) == 0
    assert "stopped watching: its driver has written no status for 60 min" in out.getvalue()


def test_status_watch_ctrl_c(tmp_path):
    import io

    def interrupt(seconds):
        raise KeyboardInterrupt

    out = io.StringIO()
    assert live.watch_status(_running(tmp_path), 1, out=out, sleep=interrupt) == 0
    assert out.getvalue().endswith("[hpotk] stopped watching (Ctrl+C)\n")


REFRESH = '<meta http-equiv="refresh" content="30">'


def test_report_watch_rewrites_with_a_refresh_tag_then_writes_a_final_page(tmp_path):
    d = _running(tmp_path)
    index = d / "report" / "index.html"
    pages, said = [], []

    def sleep(seconds):
        pages.append(index.read_text())
        if len(pages) == 2:
            _finish(d)

    files = live.watch_report(d, None, 30, say=said.append, sleep=sleep)
    assert files.index == index and len(pages) == 2
    for text in pages:
        assert REFRESH in text and 'id="still-running"' in text
        assert "rewrites it every 30 s" in text and "hpotk&#x27;s live logs" not in text
    final = index.read_text()
    assert "http-equiv" not in final and 'id="still-running"' not in final
    assert said[-1] == f"[hpotk] report: {index} (final: the experiment is complete)"
    assert "rewritten every 30 s while made-5 runs" in said[0]
    assert not [p.name for p in index.parent.iterdir() if p.name.endswith(".tmp")]


def test_report_watch_stops_when_the_driver_went_silent_and_says_so(tmp_path):
    d = _running(tmp_path, status_age_s=700)
    said = []
    files = live.watch_report(d, tmp_path / "out", 1, say=said.append,
                              sleep=lambda s: pytest.fail("slept"))
    text = files.index.read_text()
    assert "http-equiv" not in text and 'id="watch-note"' in text
    assert "driver has written no status for 11 min" in text
    assert "driver has written no status" in said[-1]


def test_report_watch_waits_out_a_resumed_runs_first_status(tmp_path):
    # status.json of the run before a resume is old, but the run started a minute ago
    d = _running(tmp_path, status_age_s=7200)
    state = json.loads((d / "hpotk.json").read_text())
    state["run_started"] = time.time() - 60
    (d / "hpotk.json").write_text(json.dumps(state))
    naps = []

    def sleep(seconds):
        naps.append(seconds)
        _finish(d, "interrupted")

    said = []
    live.watch_report(d, tmp_path / "out", 60, say=said.append, sleep=sleep)
    assert len(naps) == 1 and said[-1].endswith("(final: the experiment is interrupted)")


def test_report_watch_ctrl_c_leaves_the_last_page(tmp_path):
    def interrupt(seconds):
        raise KeyboardInterrupt

    said = []
    files = live.watch_report(_running(tmp_path), tmp_path / "out", 5, say=said.append,
                              sleep=interrupt)
    assert REFRESH.replace("30", "5") in files.index.read_text()
    assert said[-1] == f"[hpotk] stopped watching (Ctrl+C); the page as last written: " \
                       f"{files.index}"


def test_cli_report_watch_refusals(tmp_path, capsys):
    from hpotk.cli import main

    assert main(["report", str(tmp_path / "nothing"), "--watch"]) == 2
    assert "not a results directory" in capsys.readouterr().err
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "study.json").write_text("{}")
    assert main(["report", str(tmp_path / "study"), "--watch", "5"]) == 2
    assert "is a study: --watch follows one experiment" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing"), "--watch", "0"]) == 2
    assert "--watch 0: give the seconds" in capsys.readouterr().err


def test_cli_report_watch_on_a_finished_experiment_writes_one_final_page(tmp_path, capsys):
    from hpotk.cli import main

    d = write_dir(make(4), tmp_path / "made")
    assert main(["report", str(d), "--watch", "1"]) == 0
    assert "(final: the experiment is complete)" in capsys.readouterr().out
    assert "http-equiv" not in (d / "report" / "index.html").read_text()
