"""A synthetic trainable whose best learning rate changes at known iterations.

The "weights" are one number, the loss. Iteration t (1-based) multiplies it by
``exp(-rate)``, with a rate that is highest when log lr is at the optimum of that iteration and
falls off as a Gaussian in log lr around it. The optimum follows
``MultiStepLR(milestones=MILESTONES, gamma=GAMMA)`` from ``LR0``: 0.1, then 0.02 from iteration
13, then 0.004 from iteration 25. PBT, exploiting the trials that learn fastest, should follow
it; `hpotk schedule` should find these milestones again.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from ray import tune

LR0, GAMMA, MILESTONES = 0.1, 0.2, (12, 24)
WIDTH = 0.8  # sd of the rate's Gaussian, in natural-log units of lr
START = 10.0


def best_lr(iteration: int) -> float:
    """The optimum lr of iteration ``iteration`` (1-based): torch's MultiStepLR closed form."""
    return LR0 * GAMMA ** sum(1 for m in MILESTONES if m <= iteration - 1)


def rate(lr: float, iteration: int) -> float:
    return 0.3 * math.exp(-math.log(lr / best_lr(iteration)) ** 2 / (2 * WIDTH ** 2))


class ShiftingOptimum(tune.Trainable):
    """Reports ``loss`` (min); checkpoints the loss. ``sleep_s`` slows a step down."""

    def setup(self, config: dict) -> None:
        self.loss = START

    def step(self) -> dict:
        if self.config.get("sleep_s"):
            time.sleep(float(self.config["sleep_s"]))
        self.loss *= math.exp(-rate(float(self.config["lr"]), self.iteration + 1))
        return {"loss": self.loss}

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        Path(checkpoint_dir, "state.json").write_text(json.dumps({"loss": self.loss}))

    def load_checkpoint(self, checkpoint: str) -> None:
        self.loss = json.loads(Path(checkpoint, "state.json").read_text())["loss"]

    def reset_config(self, new_config: dict) -> bool:
        self.loss = START
        return True
