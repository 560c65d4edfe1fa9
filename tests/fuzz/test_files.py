"""Fuzzed experiment files, tiered JSON spaces and Neptune ML files: each `hpotk plan FILE`
exits 0, or exits 2 with one line naming a key path; never a traceback."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hpotk.experiment import Experiment
from tests.fuzz.harness import FUZZ, check_outcome, mutated, write

REPO = Path(__file__).resolve().parents[2]
SCHEMA = {k for k in Experiment.model_fields if k != "source"}
TIERS = {"1-tier-param", "2-tier-param", "3-tier-param", "fixed-param"}

QUICKSTART = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())
COMMAND = yaml.safe_load((REPO / "experiments" / "digits_command.yaml").read_text())
CGCNN_SPACE = json.loads((REPO / "experiments" / "spaces" / "cgcnn.json").read_text())
NEPTUNE = json.loads((REPO / "experiments" / "spaces" / "neptune_rgcn_seed.json").read_text())
STUDY = dict(yaml.safe_load((REPO / "experiments" / "studies" / "quickstart_tts.yaml").read_text()),
             experiment="quickstart.json",  # the workdir's JSON copy (quick to read)
             strategies={"random": "fifo/random",
                         "asha": {"strategy": "asha/random", "set": {"budget.max_t": 9}}},
             baseline="random", seed=3, set={"space.hidden_size": 64}, target=0.9, band="iqr")

VALID_EXPERIMENTS = [
    QUICKSTART,
    COMMAND,
    {"name": "tiered", "trainable": "cgcnn", "data": {"name": "emt-adsorption", "size": 100},
     "space": CGCNN_SPACE, "metric": {"name": "val_mae", "mode": "min"},
     "strategy": {"scheduler": {"name": "bandit", "slack_factor": 0.2}, "searcher": "tpe"},
     "budget": {"trials": 20, "concurrent": 2, "time_s": 60, "trial_time_s": 30, "max_t": 5},
     "checkpoint": {"every": 1, "at_end": True, "keep": 2}, "max_failures": 1,
     "eval_frequency": {"type": "evaluate_every_pct", "value": 0.5},
     "early_stop": {"enabled": True, "window": 2}},
    {"name": "azure", "trainable": "mlp-digits", "metric": {"name": "val_loss"},
     "space": {"lr": {"type": "loguniform", "min_value": -9.2, "max_value": -2.3},
               "hidden_size": "choice(16, 32, 64)", "dropout": "quniform(0, 0.4, 0.1)",
               "num_layers": {"type": "randint", "upper": 3}, "batch_size": 32,
               "weight_decay": {"type": "normal", "mu": 0.0, "sigma": 0.001}},
     "strategy": {"scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
                  "searcher": {"name": "random"}},
     "budget": {"trials": 4, "max_t": 4}},
    {"name": "pbt", "trainable": "mlp-digits", "metric": {"name": "val_acc", "mode": "max"},
     "space": {"lr": {"type": "continuous", "min_value": 0.001, "max_value": 0.1,
                      "scaling": "log"}, "hidden_size": 64},
     "strategy": {"scheduler": {"name": "pbt", "perturbation_interval": 2, "quantile": 0.25},
                  "searcher": "random"}, "budget": {"trials": 4, "max_t": 6}},
]

# A key path may name a key the mutation removed: the seeds' own keys count as well.
SEED_KEYS = {k for doc in [*VALID_EXPERIMENTS, CGCNN_SPACE, NEPTUNE, NEPTUNE["models"][0], STUDY]
             for k in doc}


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="hpotk-fuzz-") as tmp:
        # the command trainable's script, next to the fuzzed files as in experiments/
        (Path(tmp) / "scripts").mkdir()
        (Path(tmp) / "scripts" / "train_digits.py").write_text("print('hello')\n")
        (Path(tmp) / "quickstart.json").write_text(json.dumps(QUICKSTART))  # the study's
        cwd = os.getcwd()
        os.chdir(tmp)  # results/ of a valid plan resolve here, never in the checkout
        yield Path(tmp)
        os.chdir(cwd)


def test_the_seed_documents_are_valid(workdir):
    """The mutations start from documents `hpotk plan` accepts (else they test nothing)."""
    for i, doc in enumerate(VALID_EXPERIMENTS):
        file = write(workdir / f"seed{i}", doc, "json")
        assert check_outcome(["plan", str(file)], SCHEMA) is None, doc
    neptune = write(workdir / "neptune-seed", NEPTUNE, "json")
    assert check_outcome(["plan", str(neptune), "--trials", "12"], SCHEMA) is None
    study = write(workdir / "study-seed", STUDY, "yaml")
    assert check_outcome(["plan", str(study)], SCHEMA) is None


@settings(FUZZ, max_examples=600)
@given(doc=st.sampled_from(VALID_EXPERIMENTS).flatmap(mutated),
       fmt=st.sampled_from(["json", "json", "json", "yaml"]))
def test_experiment_files(workdir, doc, fmt):
    file = write(workdir / "exp", doc, fmt)
    roots = SCHEMA | SEED_KEYS | set(doc) | TIERS | {"models"}
    check_outcome(["plan", str(file)], roots, sources=(str(file),))


@settings(FUZZ, max_examples=400)
@given(space=mutated(CGCNN_SPACE) | mutated(NEPTUNE["models"][0]),
       trials=st.sampled_from([1, 12, 60]))
def test_tiered_space_files(workdir, space, trials):
    space_file = write(workdir / "space", space, "json")
    exp = dict(VALID_EXPERIMENTS[2], space="space.json",
               budget={"trials": trials, "concurrent": 1, "max_t": 3})
    file = write(workdir / "exp-tiered", exp, "json")
    roots = SCHEMA | SEED_KEYS | TIERS | {"models"} | (set(space) if isinstance(space, dict) else set())
    check_outcome(["plan", str(file)], roots, sources=(str(file), str(space_file)))


@settings(FUZZ, max_examples=300)
@given(doc=mutated(NEPTUNE), trials=st.sampled_from([None, 5, 30, 100]))
def test_neptune_files(workdir, doc, trials):
    file = write(workdir / "model-HPO-configuration", doc, "json")
    argv = ["plan", str(file)] + (["--trials", str(trials)] if trials else [])
    roots = SCHEMA | SEED_KEYS | TIERS | {"models"} | (set(doc) if isinstance(doc, dict) else set())
    check_outcome(argv, roots, sources=(str(file),))


@settings(FUZZ, max_examples=250)
@given(doc=mutated(STUDY), fmt=st.sampled_from(["json", "yaml"]))
def test_study_files(workdir, doc, fmt):
    """Study files (`hpotk.study`): `hpotk plan STUDY` checks the study and each of its runs."""
    from hpotk.study import StudySpec

    file = write(workdir / "study", doc, fmt)
    roots = SCHEMA | SEED_KEYS | set(StudySpec.model_fields) | set(doc)
    check_outcome(["plan", str(file)], roots,
                  sources=(str(file), str(workdir / "quickstart.json"), "quickstart.json"))
