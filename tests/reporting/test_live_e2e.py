"""A real experiment watched from outside, as from a login node: `hpotk status` while it runs,
`hpotk report --watch 1` in a process of its own rewriting the page (refresh tag) while it
runs, then stopping by itself with a final page when it ends; the driver's node log.

The trials wait at their last iteration for a gate file the test creates, so the experiment
runs as long as the test needs, whatever the machine's speed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
REFRESH = '<meta http-equiv="refresh" content="1">'


def _wait(what: str, done, *procs: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.time() + timeout_s
    while not done():
        for proc in procs:
            assert proc.poll() is None, f"{proc.args[3]} ended early ({what}): " \
                                        f"{proc.stderr.read()[-3000:]}"
        assert time.time() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.1)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_status_and_report_watch_follow_a_running_experiment(ray_local, tmp_path, capsys):
    from hpotk.cli import main

    gate = tmp_path / "gate"
    (tmp_path / "gated.py").write_text(textwrap.dedent(f"""\
        import os, time
        from ray import tune

        def train(config):
            for step in range(1, 4):
                while step == 3 and not os.path.exists({str(gate)!r}):
                    time.sleep(0.05)
                tune.report({{"loss": config["x"] * step}})
        """))
    exp_file = tmp_path / "watched.yaml"
    exp_file.write_text(textwrap.dedent(f"""\
        name: watched
        trainable: {tmp_path / "gated.py"}:train
        space:
          x: {{type: continuous, min_value: 0.0, max_value: 1.0}}
        metric: {{name: loss, mode: min}}
        strategy: fifo/random
        budget: {{trials: 2, concurrent: 2, max_t: 3}}
        results: {tmp_path / "out"}
        """))
    exp_dir = tmp_path / "out" / "watched"
    index = exp_dir / "report" / "index.html"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    address = ray_local.get_runtime_context().gcs_address
    driver = subprocess.Popen([sys.executable, "-m", "hpotk.cli", "run", str(exp_file),
                               "--address", address, "--quiet"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watcher = None
    try:
        _wait("the driver's first status.json", (exp_dir / "status.json").exists, driver)
        assert main(["status", str(exp_dir)]) == 0
        out = capsys.readouterr().out
        assert out.startswith("watched: running | trials ") and "s ago)" in out

        watcher = subprocess.Popen([sys.executable, "-m", "hpotk.cli", "report", str(exp_dir),
                                    "--watch", "1"], env=env, cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait("a page with the refresh tag", lambda: REFRESH in _read(index), driver, watcher)
        first = _read(index)
        _wait("the page rewritten, both trials at their gate",
              lambda: _read(index) not in ("", first) and "2 of 2" in _read(index),
              driver, watcher)
        again = _read(index)
        assert REFRESH in again and 'id="still-running"' in again

        gate.touch()  # the trials end, and so does the experiment
        assert driver.wait(timeout=300) == 0, driver.stderr.read()[-3000:]
        assert watcher.wait(timeout=300) == 0, watcher.stderr.read()[-3000:]
    finally:
        gate.touch()
        for proc in (driver, watcher):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    said = watcher.stdout.read()
    assert "rewritten every 1 s while watched runs" in said
    assert said.rstrip().endswith("(final: the experiment is complete)")
    final = _read(index)
    assert "http-equiv" not in final and 'id="still-running"' not in final
    assert "2 of 2: 2 completed" in final

    assert main(["status", str(exp_dir)]) == 0
    assert capsys.readouterr().out.startswith(
        "watched: complete | trials 2 done, 0 running, 0 pending of 2 | best loss ")
    status = json.loads((exp_dir / "status.json").read_text())
    assert status["phase"] == "ended" and status["counts"]["done"] == 2
    nodes = [json.loads(line) for line in (exp_dir / "nodes.jsonl").read_text().splitlines()]
    assert [(n["event"], n["node"], n["initial"]) for n in nodes] == [
        ("join", socket.gethostname(), True)]
    assert nodes[0]["cpus"] == 2.0
