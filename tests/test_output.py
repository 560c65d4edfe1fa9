"""What `hpotk run` prints, default and ``--quiet``, with a trainable that checkpoints every
iteration (Ray logs a line per checkpoint of every trial, and advice about num_to_keep)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

TRAIN = textwrap.dedent('''
    from ray import tune


    class Ckpt(tune.Trainable):
        def setup(self, config):
            self.lr, self.score = config["lr"], 0.0

        def step(self):
            self.score += self.lr
            return {"score": self.score}

        def save_checkpoint(self, checkpoint_dir):
            return {"score": self.score}

        def load_checkpoint(self, checkpoint):
            self.score = checkpoint["score"]
''')

RAY_NOISE = ("Checkpoint successfully created", "Restored on", "num_to_keep", "Token authentication",
             "tune_controller.py", "experiment_state.py", "WARNING", "INFO", "Trials did not")


def _run(tmp_path: Path, *flags: str) -> list[str]:
    (tmp_path / "ckpt.py").write_text(TRAIN)
    doc = {"name": "out", "trainable": "ckpt:Ckpt", "metric": {"name": "score", "mode": "max"},
           "space": {"lr": {"type": "continuous", "min_value": 0.1, "max_value": 1.0}},
           "budget": {"trials": 4, "concurrent": 2, "max_t": 4},
           "checkpoint": {"every": 1, "keep": 1}, "results": str(tmp_path / "results")}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(doc))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "hpotk.cli", "run", "exp.yaml", *flags],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def test_the_default_shows_hpotks_lines_and_none_of_rays(tmp_path):
    lines = _run(tmp_path)
    noise = [line for line in lines if any(n in line for n in RAY_NOISE)]
    assert not noise, "\n".join(lines)
    assert lines[0].startswith("[hpotk] out: fifo/random, 4 trials (2 at a time)")
    assert any(line.startswith("[hpotk] trials 4 done") for line in lines)
    assert any(line.startswith("[hpotk] best trial") for line in lines)


def test_quiet_prints_only_the_final_summary(tmp_path):
    lines = _run(tmp_path, "--quiet")
    summary = ("[hpotk] best trial", "    lr = ", "[hpotk] retrain it:", "[hpotk] results:")
    assert all(line.startswith(summary) for line in lines), "\n".join(lines)
    assert lines[0].startswith("[hpotk] best trial")
