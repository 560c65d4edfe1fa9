"""The fixture's trainable: a function trainable that checkpoints a tiny JSON state."""

import json
import os
import tempfile
import time

from ray import tune


def train(config):
    w, step = 0.0, 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            with open(os.path.join(directory, "state.json")) as f:
                w, step = json.load(f)
    while True:
        step += 1
        time.sleep(0.2)
        w += config["lr"] * (3.0 - w) * (1.0 + config["momentum"])
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "state.json"), "w") as f:
                json.dump([w, step], f)
            tune.report({"loss": (3.0 - w) ** 2},
                        checkpoint=tune.Checkpoint.from_directory(directory))
