"""A synthetic trainable whose best learning rate changes at known iterations.

The "weights" are one number, the loss. Iteration t (1-based) multiplies it by
``exp(-rate)``, with a rate that is highest when log lr is at the optimum of that iteration and
falls off as a Gaussian in log lr around it. The optimum follows
``MultiStepLR(milestones=MILESTONES, gamma=GAMMA)`` from ``LR0``: 0.1, then 0.02 from iteration
13, then 0.004 from iteration 25. PBT, exploiting the trials that learn fastest, should follow
it; `hpotk schedule` should find these milestones again.

`RiseThenFall` is the same problem with a best lr that rises, then falls: a linear warm-up from
0.01 to 0.1 at iteration 9, then x0.87 an iteration (RISE_THEN_FALL), with a narrower Gaussian
(RISE_WIDTH), so that following the rise pays. PBT should raise the lr, then lower it, and
`hpotk schedule` should pick a warm-up or one-cycle fit.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from ray import tune

from hpotk import lr_schedule

LR0, GAMMA, MILESTONES = 0.1, 0.2, (12, 24)
WIDTH = 0.8  # sd of the rate's Gaussian, in natural-log units of lr
START = 10.0


def best_lr(iteration: int) -> float:
    """The optimum lr of iteration ``iteration`` (1-based): torch's MultiStepLR closed form."""
    return LR0 * GAMMA ** sum(1 for m in MILESTONES if m <= iteration - 1)


def rate(lr: float, iteration: int) -> float:
    return 0.3 * math.exp(-math.log(lr / best_lr(iteration)) ** 2 / (2 * WIDTH ** 2))


RISE_THEN_FALL = {"type": "warmup", "warmup_iters": 8, "start_factor": 0.1,
                  "then": {"type": "exponential", "gamma": 0.87}}
RISE_LR0, RISE_WIDTH = 0.1, 0.4


def rise_then_fall_rate(lr: float, iteration: int) -> float:
    best = lr_schedule.lr_at(RISE_THEN_FALL, iteration, RISE_LR0)
    return 0.3 * math.exp(-math.log(lr / best) ** 2 / (2 * RISE_WIDTH ** 2))


class ShiftingOptimum(tune.Trainable):
    """Reports ``loss`` (min); checkpoints the loss. ``sleep_s`` slows a step down."""

    def setup(self, config: dict) -> None:
        self.loss = START

    def step(self) -> dict:
        if self.config.get("sleep_s"):
            time.sleep(float(self.config["sleep_s"]))
        self.loss *= math.exp(-self.rate(float(self.config["lr"]), self.iteration + 1))
        return {"loss": self.loss}

    def rate(self, lr: float, iteration: int) -> float:
        return rate(lr, iteration)

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        Path(checkpoint_dir, "state.json").write_text(json.dumps({"loss": self.loss}))

    def load_checkpoint(self, checkpoint: str) -> None:
        self.loss = json.loads(Path(checkpoint, "state.json").read_text())["loss"]

    def reset_config(self, new_config: dict) -> bool:
        self.loss = START
        return True


class RiseThenFall(ShiftingOptimum):
    """ShiftingOptimum whose best lr rises for 8 iterations, then falls (RISE_THEN_FALL)."""

    def rate(self, lr: float, iteration: int) -> float:
        return rise_then_fall_rate(lr, iteration)
