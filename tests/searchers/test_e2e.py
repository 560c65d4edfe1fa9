"""End-to-end: each searcher runs a small real experiment (the quickstart MLP on digits) through
`hpotk run --set strategy=fifo/<searcher>` on the session's local Ray."""

from __future__ import annotations

import glob
import pickle
from pathlib import Path

import pandas as pd
import pytest

from hpotk.searchers import SEARCHERS

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
TINY = ["--set", "budget.concurrent=2", "--set", "budget.max_t=2", "--quiet"]

pytestmark = pytest.mark.e2e

# searcher -> (trials, extra --set arguments)
RUNS = {
    "random": (3, []),
    "sobol": (3, []),
    "tpe": (3, ["strategy.searcher.n_initial_points=2"]),
    "anneal": (3, ["strategy.searcher.shrink_coef=0.2"]),
    # 2 Sobol points, then the GP suggests (with a trial in flight: kriging believer)
    "bo": (4, ["strategy.searcher.n_initial_points=2", "strategy.searcher.acq=ucb-ei"]),
    # a grid needs discrete params only: fix the continuous ones, 4 hidden sizes remain
    "grid": (4, ["space.lr=0.003", "space.dropout=0.1", "space.num_layers=1",
                 "space.batch_size=64"]),
    # Optuna's samplers: past their start-up trials (or first generation) they suggest
    "optuna_tpe": (3, ["strategy.searcher.n_startup_trials=2"]),
    "nsga2": (4, ["strategy.searcher.population_size=2"]),
    "optuna_gp": (3, ["strategy.searcher.n_startup_trials=2"]),
}


def test_every_searcher_has_an_e2e_run():
    assert set(RUNS) == set(SEARCHERS.names())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_searcher_runs_an_experiment(hpotk_cli, tmp_path, name):
    trials, extra = RUNS[name]
    args = ["run", QUICKSTART, "--set", f"strategy=fifo/{name}", "--set", f"results={name}",
            "--set", f"budget.trials={trials}", *TINY]
    for item in extra:
        args += ["--set", item]
    code, out, err = hpotk_cli(*args)
    assert code == 0, out + err
    exp_dir = tmp_path / name / "quickstart"
    table = pd.read_csv(exp_dir / "trials.csv")
    assert len(table) == trials
    assert set(table["status"]) <= {"COMPLETED", "STOPPED", "TERMINATED"}
    assert table["config/lr"].between(0.0003, 0.03).all()
    assert set(table["config/hidden_size"]) <= {32, 64, 128, 256}
    assert set(table["config/num_layers"]) <= {1, 2, 3}
    if name == "grid":
        assert sorted(table["config/hidden_size"]) == [32, 64, 128, 256]
    # an hpotk searcher's state, as Tune checkpointed it, saw every trial finish
    states = glob.glob(str(exp_dir / "searcher-state-*.pkl"))
    if name not in ("random", "grid"):
        assert states, "Tune saved no searcher state"
        with open(max(states), "rb") as f:
            state = pickle.load(f)
        assert state["n_observed"] == trials and not state["pending"]
        if name == "bo":
            assert state["n_model"] >= 1, "the GP never suggested"
            assert len(state["observations"]) == trials


def test_bo_resumes_an_interrupted_experiment_with_its_observations(hpotk_cli, tmp_path):
    """Tune's own save/restore of the searcher (tuner.pkl + searcher-state): the resumed bo
    keeps what it learnt before the interrupt and goes on suggesting from the GP."""
    import json

    from tests.helpers import interrupt_after

    max_t, trials = 6, 6
    args = ["run", QUICKSTART, "--set", "strategy=fifo/bo", "--set", f"budget.trials={trials}",
            "--set", "budget.concurrent=1", "--set", f"budget.max_t={max_t}",
            "--set", "strategy.searcher.n_initial_points=2", "--set", "space.batch_size=8",
            "--set", "results=res", "--quiet"]
    exp_dir = tmp_path / "res" / "quickstart"
    with interrupt_after(exp_dir, max_t, 3) as sent:
        code, out, err = hpotk_cli(*args)
    assert sent.is_set(), "the experiment finished before it could be interrupted"
    assert code == 1, out + err
    with open(max(glob.glob(str(exp_dir / "searcher-state-*.pkl"))), "rb") as f:
        before = pickle.load(f)
    assert len(before["observations"]) >= 2

    code, out, err = hpotk_cli(*args)  # the same command resumes
    assert code == 0, out + err
    assert len(pd.read_csv(exp_dir / "trials.csv")) == trials
    assert json.loads((exp_dir / "hpotk.json").read_text())["status"] == "complete"
    with open(max(glob.glob(str(exp_dir / "searcher-state-*.pkl"))), "rb") as f:
        after = pickle.load(f)
    assert after["observations"][:len(before["observations"])] == before["observations"]
    assert len(after["observations"]) == trials and after["n_model"] >= 1
