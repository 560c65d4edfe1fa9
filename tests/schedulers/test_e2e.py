"""End-to-end: each scheduler runs a small real experiment (the quickstart MLP on digits) through
`hpotk run --set strategy=<scheduler>/random` on the session's local Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from hpotk.schedulers import SCHEDULERS

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
TINY = ["--set", "budget.concurrent=2", "--set", "budget.max_t=3", "--set", "space.num_layers=1",
        "--quiet"]
# PBT needs a population to copy from and a few perturbation points (at iterations 1, 2, 3) to
# exploit for sure: 4 trials of 4 iterations; 3 of 3 elsewhere.
TRIALS, MAX_T = {"pbt": 4}, {"pbt": 4}

pytestmark = pytest.mark.e2e

OPTIONS = {  # scheduler -> the --set options it runs with (max_t 3: rungs at 1 and 2)
    "fifo": [],
    "asha": ["grace_period=1", "reduction_factor=2"],
    "asha_promotion": ["grace_period=1", "reduction_factor=2"],
    "moasha": ["grace_period=1", "reduction_factor=2"],
    "ahb": ["grace_period=1", "reduction_factor=2", "brackets=2"],
    "hyperband": ["reduction_factor=2"],
    "pbt": ["perturbation_interval=1", "quantile=0.5"],
    "median": ["delay_evaluation=1"],
    "bandit": ["slack_factor=0.05"],
    "truncation": ["truncation_percentage=50"],
}


def test_every_scheduler_has_an_e2e_run():
    assert set(OPTIONS) == set(SCHEDULERS.names())


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_scheduler_runs_an_experiment(hpotk_cli, tmp_path, name):
    trials, max_t = TRIALS.get(name, 3), MAX_T.get(name, 3)
    args = ["run", QUICKSTART, "--set", f"strategy={name}/random", "--set", f"results={name}",
            *TINY, "--set", f"budget.trials={trials}", "--set", f"budget.max_t={max_t}"]
    for option in OPTIONS[name]:
        args += ["--set", f"strategy.scheduler.{option}"]
    if name == "pbt":  # PBT may vary only algorithm params: fix the architecture
        args += ["--set", "space.hidden_size=64"]
    code, out, err = hpotk_cli(*args)
    assert code == 0, out + err
    exp_dir = tmp_path / name / "quickstart"
    table = pd.read_csv(exp_dir / "trials.csv")
    assert len(table) == trials
    assert set(table["status"]) <= {"COMPLETED", "STOPPED"}
    assert (table["iterations"] >= 1).all() and (table["iterations"] <= max_t).all()
    state = json.loads((exp_dir / "hpotk.json").read_text())
    assert state["status"] == "complete"
    if name == "pbt":
        # the runner turned checkpoints on, and PBT used them
        assert list(exp_dir.rglob("checkpoint_*")), "PBT ran without checkpoints"
        assert (exp_dir / "pbt_global.txt").exists(), "no PBT exploit happened"


def test_pbt_refuses_an_architecture_param(hpotk_cli, tmp_path):
    code, out, err = hpotk_cli("run", QUICKSTART, "--set", "strategy=pbt/random", "--set",
                               "budget.trials=4", *TINY)
    assert code == 2
    assert "hidden_size" in err and "architecture" in err


def test_pbt_refuses_a_searcher_ray_cannot_pair_it_with(hpotk_cli):
    code, out, err = hpotk_cli("run", QUICKSTART, "--set", "strategy=pbt/tpe", "--set",
                               "space.hidden_size=64", *TINY)
    assert code == 2
    assert "pbt cannot run behind searcher 'tpe'" in err
