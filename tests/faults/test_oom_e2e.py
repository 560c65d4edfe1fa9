"""Ray's OOM killer, provoked for real: a trial that keeps allocating is killed by Ray's memory
monitor, retried under max_failures, killed again, marked ERROR in trials.csv with the OOM error
and a note, and the experiment completes its other trial. Before hpotk._ray_fixes, this kill
ended the whole driver with a traceback (Ray Tune 2.60 raises ``Caught unexpected exception``
for ``OutOfMemoryError``).

The experiment runs in its own `hpotk run` process with its own local Ray, since the kill
threshold (``RAY_memory_usage_threshold``) is read when Ray starts: it is set a few GB above the
memory this machine uses now, so only the allocating trial crosses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
GB = 1024 ** 3
HEADROOM = 3 * GB  # above what is used now: Ray's own processes and the well-behaved trial fit

TRAINABLE = textwrap.dedent("""\
    import time

    from ray import tune


    def train(config):
        held = []
        for step in range(config["steps"]):
            if config["behaviour"] == "hog" and len(held) < config["max_chunks"]:
                held.append(b"\\x01" * (256 * 1024 * 1024))  # written, so it is resident
            time.sleep(0.25 if config["behaviour"] == "hog" else 0.02)
            tune.report({"loss": 1.0 / (step + 1), "held_mb": 256 * len(held)})
    """)


def meminfo() -> tuple[int, int]:
    """This machine's total and available memory in bytes (what Ray's monitor reads)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(fields["MemTotal"].split()[0]) * 1024,
            int(fields["MemAvailable"].split()[0]) * 1024)


def test_a_trial_the_oom_killer_stops_is_marked_and_the_experiment_completes(tmp_path):
    total, available = meminfo()
    if available < 2 * HEADROOM:
        pytest.skip(f"needs {2 * HEADROOM / GB:.0f} GB free to provoke Ray's OOM killer safely")
    threshold = (total - available + HEADROOM) / total
    chunks = int(2 * HEADROOM / (256 * 1024 ** 2))  # the hog stops at twice the headroom
    (tmp_path / "hog.py").write_text(TRAINABLE)
    exp = tmp_path / "oom.yaml"
    exp.write_text(textwrap.dedent(f"""\
        name: oom
        trainable: "hog:train"
        space:
          behaviour: {{type: choice, values: [hog, ok]}}
          steps: 60
          max_chunks: {chunks}
        metric: {{name: loss, mode: min}}
        strategy: fifo/grid
        budget: {{trials: 2, concurrent: 1, max_t: 60}}
        max_failures: 1
        results: {tmp_path / "out"}
        """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env.update(PYTHONPATH=str(REPO), RAY_memory_usage_threshold=f"{threshold:.4f}",
               RAY_memory_monitor_refresh_ms="100")
    proc = subprocess.run([sys.executable, "-m", "hpotk.cli", "run", str(exp), "--quiet"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "Traceback" not in proc.stdout
    trials = pd.read_csv(tmp_path / "out" / "oom" / "trials.csv",
                         keep_default_na=False).set_index("config/behaviour")
    hog, ok = trials.loc["hog"], trials.loc["ok"]
    assert hog["status"] == "ERROR", (hog.to_dict(), proc.stderr[-3000:])
    assert hog["error"].startswith("ray.exceptions.OutOfMemoryError"), hog["error"]
    # retried once under max_failures, and killed again
    assert int(hog["retries"]) == 1
    assert hog["retried_because"].startswith("ray.exceptions.OutOfMemoryError")
    assert "OOM killer" in hog["note"]
    assert int(hog["held_mb"]) < 256 * chunks  # killed before it stopped allocating
    assert ok["status"] == "COMPLETED" and int(ok["iterations"]) == 60
