"""A trainable whose trials wait at iteration 2 for the test's gate file, and the experiment file
that runs it: trials are still running when a test takes a node away, whatever the machine's
speed, and every trial takes a fraction of a second once the gate is open.

The gate opens for every trial when the file exists and is empty (``gate.touch()``), or for the
trials whose ids it lists (``gate.write_text(trial_id)``): one trial completes, the rest wait."""

from __future__ import annotations

import textwrap
from pathlib import Path

GATED = """\
import json, os, time
from ray import tune

GATE = {gate!r}


def _open(trial_id):
    try:
        with open(GATE) as f:
            allowed = f.read().split()
    except FileNotFoundError:
        return False
    return not allowed or trial_id in allowed


class Gated(tune.Trainable):
    \"\"\"Reports iteration 1, then waits for the test's gate file before going on.\"\"\"

    def setup(self, config):
        self.x, self.i = config["x"], 0

    def step(self):
        self.i += 1
        while self.i >= 2 and not _open(self.trial_id):
            time.sleep(0.1)
        time.sleep(0.1)
        return {{"loss": self.x / self.i}}

    def save_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "state.json"), "w") as f:
            json.dump({{"i": self.i}}, f)

    def load_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "state.json")) as f:
            self.i = json.load(f)["i"]
"""


def gated_experiment(tmp_path: Path, results: Path, name: str, trials: int, max_t: int, *,
                     concurrent: int, extra: str = "") -> tuple[Path, Path]:
    """The experiment file (fifo/random, one CPU a trial, a checkpoint every iteration, no actor
    reuse; ``extra``: more YAML lines) next to ``gated.py``, and the gate file."""
    gate = tmp_path / "gate"
    (tmp_path / "gated.py").write_text(GATED.format(gate=str(gate)))
    experiment = tmp_path / f"{name}.yaml"
    experiment.write_text(textwrap.dedent(f"""\
        name: {name}
        trainable: gated.py:Gated
        space:
          x: {{type: continuous, min_value: 0.0, max_value: 1.0}}
        metric: {{name: loss, mode: min}}
        strategy: fifo/random
        budget: {{trials: {trials}, concurrent: {concurrent}, max_t: {max_t}}}
        resources: {{cpu: 1}}
        checkpoint: {{every: 1}}
        reuse_actors: false
        results: {results}
        """) + textwrap.dedent(extra))
    return experiment, gate


def open_for(gate: Path, *trial_ids: str) -> None:
    """Open the gate for ``trial_ids`` only, or with none for every trial (atomically: a trial
    never sees a half-written list, nor an empty file that would open it for all). Not
    ``gate.touch()`` once it lists ids: that leaves the list."""
    part = gate.with_suffix(".part")
    part.write_text("".join(f"{t}\n" for t in trial_ids))
    part.replace(gate)
