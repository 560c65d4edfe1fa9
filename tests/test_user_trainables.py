"""The user's own Ray Tune code as the trainable, through `hpotk run` and through the Python API.

Every experiment here lives in its own directory with its module file (``train.py``, which
imports a sibling ``helper.py``) next to it; the tests run from another directory, with no
PYTHONPATH, on the session's shared Ray, whose workers were started before the module existed.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

import hpotk

pytestmark = pytest.mark.e2e

HELPER = textwrap.dedent('''
    def loss_at(lr, step):
        return lr * 10.0 / (step + 1)
''')

TRAIN = textwrap.dedent('''
    """A user's Ray Tune code, as written for Ray."""
    import json
    import os
    import tempfile

    from ray import tune

    from helper import loss_at


    def train(config):
        """Function trainable: reports and checkpoints every step, resumes from a checkpoint."""
        step, restored = 0, 0
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                with open(os.path.join(d, "state.json")) as f:
                    step = json.load(f)["step"]
            restored = 1
        while True:
            step += 1
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "state.json"), "w") as f:
                    json.dump({"step": step}, f)
                tune.report({"loss": loss_at(config["lr"], step), "restored": restored},
                            checkpoint=tune.Checkpoint.from_directory(d))


    class Plain(tune.Trainable):
        """A Trainable whose setup takes only the config."""

        def setup(self, config):
            self.lr, self.steps = config["lr"], 0

        def step(self):
            import helper  # imported on the worker, from the module's directory

            self.steps += 1
            return {"loss": helper.loss_at(self.lr, self.steps)}


    class WithContext(tune.Trainable):
        """A Trainable that asks for hpotk's context."""

        def setup(self, config, context=None):
            self.lr, self.context, self.steps = config["lr"], context, 0

        def step(self):
            self.steps += 1
            return {"loss": loss_at(self.lr, self.steps), "context_seed": self.context.seed,
                    "data_size": self.context.data["size"]}


    def broken(config):
        raise ValueError("a bug in the user's code")
''')


def experiment_dir(root: Path) -> Path:
    """A directory holding the user's modules (not the current directory, not on sys.path)."""
    directory = root / "project"
    directory.mkdir()
    (directory / "train.py").write_text(TRAIN)
    (directory / "helper.py").write_text(HELPER)
    return directory


def experiment(trainable: str, strategy: object = "asha/random", trials: int = 2,
               max_t: int = 2) -> dict:
    return {
        "name": "mine", "trainable": trainable, "data": {"size": 7},
        "space": {"lr": {"type": "continuous", "min_value": 1e-3, "max_value": 1e-1,
                         "scaling": "log"}},
        "metric": {"name": "loss", "mode": "min"}, "strategy": strategy, "seed": 11,
        "budget": {"trials": trials, "concurrent": 2, "max_t": max_t},
        "resources": {"cpu": 1}, "results": "results",
    }


# synchronous PBT: both trials meet at iteration 2, so the worse one exploits the better one
# whatever the load (asynchronous PBT exploits only if the other trial has got there already)
PBT = {"scheduler": {"name": "pbt", "perturbation_interval": 2, "quantile": 0.5,
                     "resample_probability": 0.0, "synch": True}, "searcher": "random"}
CASES = {
    "function-asha": ("train.py:train", "asha/random", 2, 2),
    "function-pbt": ("train.py:train", PBT, 2, 4),
    "plain-class": ("train.py:Plain", "fifo/random", 1, 2),
    "context-class": ("train:WithContext", "fifo/random", 1, 2),
}


def check_outcome(case: str, trials: pd.DataFrame, results_dir: Path) -> None:
    _, _, n_trials, max_t = CASES[case]
    assert len(trials) == n_trials
    # asha may stop the worse trial at its first rung; every other trial runs to max_t
    allowed = {"COMPLETED", "STOPPED"} if case == "function-asha" else {"COMPLETED"}
    if case == "function-pbt":
        # Known Ray 2.60 race, not hpotk's: under synchronous PBT a function trainable that was
        # just exploited sometimes ends one iteration short (its result at max_t - 1 arrives and
        # Tune terminates it without a `done`). Measured with this very experiment: 1 run in 8
        # at hpotk 39f72cc, 1 in 8 with reuse_actors false, 4 in 15 today on a loaded machine.
        # Such a trial must be the exploited one, and end exactly one iteration short.
        short = trials[trials["status"] == "STOPPED"]
        assert (short["iterations"] == max_t - 1).all() and (short["restored"] == 1).all(), \
            trials[["status", "iterations", "restored"]]
        allowed = {"COMPLETED", "STOPPED"}
    assert set(trials["status"]) <= allowed, trials[["status", "error"]]
    assert (trials["status"] == "COMPLETED").any()
    assert (trials.loc[trials["status"] == "COMPLETED", "iterations"] == max_t).all()
    assert trials["loss"].notna().all()
    if case.startswith("function"):
        assert (trials["checkpoint"].astype(str).str.len() > 0).all()  # it reported checkpoints
    if case == "function-pbt":  # the worse trial took the better one's checkpoint and went on
        assert trials["restored"].max() == 1
    if case == "context-class":
        assert (trials["context_seed"] == 11).all() and (trials["data_size"] == 7).all()
    best = json.loads((results_dir / "best.json").read_text())
    assert best["value"] == trials["best_loss"].min()


@pytest.mark.parametrize("case", sorted(CASES))
def test_hpotk_run(case, hpotk_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    trainable, strategy, trials, max_t = CASES[case]
    directory = experiment_dir(tmp_path)
    path = directory / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment(trainable, strategy, trials, max_t)))
    code, out, err = hpotk_cli("run", path, "--quiet")
    assert code == 0, out + err
    results_dir = tmp_path / "results" / "mine"
    check_outcome(case, pd.read_csv(results_dir / "trials.csv"), results_dir)
    # the experiment as saved names a module file by its absolute path (resume, retrain.yaml)
    saved = json.loads((results_dir / "experiment.json").read_text())
    if ".py:" in trainable:
        assert saved["trainable"] == f"{directory / 'train.py'}:{trainable.split(':')[1]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_python_api(case, ray_local, tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.chdir(tmp_path)
    trainable, strategy, trials, max_t = CASES[case]
    directory = experiment_dir(tmp_path)
    path = directory / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment(trainable, strategy, trials, max_t)))
    exp = hpotk.load(path, overrides=["seed=11"])
    outcome = hpotk.run(exp, verbose=0)
    assert outcome.status == "complete", outcome.error
    check_outcome(case, outcome.trials, outcome.results_dir)
    assert len(hpotk.results.load(outcome.results_dir).trials) == trials
    shown = hpotk.run(exp, exist_ok=True)  # complete already: shown, its table read back
    assert shown.status == "complete" and len(shown.trials) == trials


def test_every_trial_errored_is_failed_with_the_first_error(hpotk_cli, tmp_path):
    directory = experiment_dir(tmp_path)
    path = directory / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment("train.py:broken", "fifo/random", 1, 2)))
    code, out, err = hpotk_cli("run", path, "--quiet")
    assert code == 1
    assert "every trial errored" in err and "a bug in the user's code" in err, err
    state = json.loads((tmp_path / "results" / "mine" / "hpotk.json").read_text())
    assert state["status"] == "failed"
    # run again (after a fix): refused with what happened, not "already complete"
    code, out, err = hpotk_cli("run", path, "--quiet")
    assert code == 2 and "failed: every trial errored" in err and "--new" in err, err


def test_tuner_is_the_configured_ray_tuner(ray_local, tmp_path, monkeypatch):
    from ray import tune

    monkeypatch.chdir(tmp_path)
    directory = experiment_dir(tmp_path)
    doc = experiment(str(directory / "train.py") + ":train", "fifo/random", 1, 2)
    doc["results"] = str(directory / "results")
    tuner = hpotk.tuner(hpotk.load(doc))
    assert isinstance(tuner, tune.Tuner)
    grid = tuner.fit()
    assert grid.num_errors == 0 and len(grid) == 1
    assert grid[0].metrics["training_iteration"] == 2  # hpotk's budget.max_t stops it
