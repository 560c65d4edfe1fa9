"""End-to-end: several objectives and constraints in a real run of the quickstart model: the
front in trials.csv and best.json, `hpotk best --pick/--trial`, and an infeasible trial that is
never the best."""

from __future__ import annotations

import glob
import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from hpotk import objectives as ob

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "experiments" / "quickstart.yaml"

pytestmark = pytest.mark.e2e


def test_several_objectives_front_best_and_pick(hpotk_cli, tmp_path):
    """One real two-objective run with Optuna's multi-objective TPE: the searcher was told
    both objectives of every trial, trials.csv and best.json hold the front, and hpotk best
    rechooses the member retrain.yaml trains."""
    code, out, err = hpotk_cli(
        "run", QUICKSTART, "--set", "strategy=fifo/optuna_tpe", "--set", "budget.trials=6",
        "--set", "strategy.searcher.n_startup_trials=2", "--set", "budget.concurrent=2",
        "--set", "budget.max_t=2", "--set", "results=out", "--quiet",
        "--set", "metric=[{name: val_acc, mode: max}, {name: val_loss, mode: min}]")
    assert code == 0, out + err
    exp_dir = tmp_path / "out" / "quickstart"
    trials = pd.read_csv(exp_dir / "trials.csv")
    assert len(trials) == 6 and set(trials["status"]) <= {"COMPLETED", "TERMINATED"}
    with open(max(glob.glob(str(exp_dir / "searcher-state-*.pkl"))), "rb") as f:
        state = pickle.load(f)
    study, _ = pickle.loads(state["_optuna"])
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert len(study.trials) == 6 and all(t.state.name == "COMPLETE" for t in study.trials)
    told = sorted((round(t.values[0], 6), round(t.values[1], 6)) for t in study.trials)
    assert told == sorted(zip(trials["val_acc"].round(6), trials["val_loss"].round(6),
                              strict=True))
    best = json.loads((exp_dir / "best.json").read_text())
    # the front is the non-dominated trials by last val_acc (max) and val_loss (min)
    mask = ob.pareto_mask(trials[["val_acc", "val_loss"]].to_numpy(), ["max", "min"])
    assert trials["pareto"].tolist() == mask.tolist() and mask.any()
    assert {f["trial_id"] for f in best["front"]} == set(trials.loc[mask, "trial_id"])
    assert [o["name"] for o in best["objectives"]] == ["val_acc", "val_loss"]
    # by default the front's best val_acc is chosen for retrain.yaml
    front = trials[mask]
    assert best["trial_id"] == front.sort_values(["val_acc", "trial_id"], ascending=[False, True]
                                                 ).iloc[0]["trial_id"]
    assert "Pareto front" in out and best["trial_id"] in out

    # --pick val_loss only: the front's lowest val_loss, and retrain.yaml follows
    code, out, err = hpotk_cli("best", exp_dir, "--pick", "val_loss=1")
    assert code == 0, err
    lowest = front.sort_values("val_loss").iloc[0]
    assert json.loads((exp_dir / "best.json").read_text())["trial_id"] == lowest["trial_id"]
    assert f"Retrain the best trial of 'quickstart' ({lowest['trial_id']})" in (
        exp_dir / "retrain.yaml").read_text()
    # a named trial, and bad picks: one line, exit 2
    other = trials.iloc[0]["trial_id"]
    code, out, err = hpotk_cli("best", exp_dir, "--trial", other)
    assert code == 0 and json.loads((exp_dir / "best.json").read_text())["trial_id"] == other
    for bad, words in (("epoch_s=1", "expected OBJECTIVE=WEIGHT"), ("val_acc=x", "not a number"),
                       ("val_acc=0", "positive weight")):
        code, out, err = hpotk_cli("best", exp_dir, "--pick", bad)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_constraint_makes_trials_infeasible_and_never_best(hpotk_cli, tmp_path):
    # val_loss <= 0.5 after 1 epoch: some quickstart configs meet it, most do not
    code, out, err = hpotk_cli(
        "run", QUICKSTART, "--set", "strategy=fifo/random", "--set", "budget.trials=6",
        "--set", "budget.max_t=1", "--set", "results=out", "--quiet",
        "--set", "constraints=[{name: val_loss, max: 0.5}]")
    assert code == 0, out + err
    exp_dir = tmp_path / "out" / "quickstart"
    trials = pd.read_csv(exp_dir / "trials.csv")
    best = json.loads((exp_dir / "best.json").read_text())
    assert (trials["feasible"] == (trials["val_loss"] <= 0.5)).all()
    assert set(trials.loc[~trials["feasible"], "violates"]) <= {"val_loss <= 0.5"}
    feasible = trials[trials["feasible"]]
    assert 0 < len(feasible) < len(trials)  # seed 0 draws both kinds
    assert best["trial_id"] in set(feasible["trial_id"])
    assert best["value"] == feasible["best_val_acc"].max()
    # the best val_acc of all was infeasible here, or the constraint changed nothing: either
    # way best.json never names an infeasible trial
    assert not trials.set_index("trial_id").loc[best["trial_id"], "violates"] == "val_loss <= 0.5"
    assert best["constraints"] == ["val_loss <= 0.5"]
    assert best["infeasible_trials"] == int((~trials["feasible"]).sum())


def test_a_metric_nobody_reports_ends_the_run_in_one_line(hpotk_cli, tmp_path):
    code, out, err = hpotk_cli(
        "run", QUICKSTART, "--set", "strategy=fifo/random", "--set", "budget.trials=2",
        "--set", "budget.max_t=3", "--set", "results=out", "--quiet",
        "--set", "metric=[{name: val_acc, mode: max}, {name: epoch_sec}]")
    assert code == 2, out + err
    assert "failed: metric[1].name: trial" in err and "reported no 'epoch_sec'" in err
    assert "val_acc, val_loss" in err and "Traceback" not in err + out


@pytest.mark.parametrize("doc, path, name", [
    ({"constraints": [{"name": "peak_mem", "max": 10}]}, "constraints[0].name", "peak_mem"),
    ({"metric": {"name": "val_acc_typo", "mode": "max"}}, "metric.name", "val_acc_typo"),
])
def test_the_metric_check_names_the_key_of_a_metric_nobody_reports(doc, path, name):
    """The run's metric check (what the e2e test above sees end a real run), on one result."""
    from types import SimpleNamespace

    import yaml

    from hpotk._stall import MetricCheck, RunStopper
    from hpotk.experiment import load
    from hpotk.runner import _wanted_metrics

    base = yaml.safe_load(QUICKSTART.read_text())
    exp = load({**base, **doc})
    stopper = RunStopper(max_t=3)
    check = MetricCheck(stopper, _wanted_metrics(exp))
    result = {"val_acc": 0.9, "val_loss": 0.3, "training_iteration": 1, "done": False}
    check.on_trial_result(1, [], SimpleNamespace(trial_id="t1"), result)
    assert stopper.stop_all()
    assert stopper.failure.startswith(f"{path}: trial t1 reported no {name!r}; it reported "
                                      f"val_acc, val_loss: fix the name")
    fine = RunStopper(max_t=3)
    MetricCheck(fine, _wanted_metrics(load(base))).on_trial_result(
        1, [], SimpleNamespace(trial_id="t1"), result)
    assert fine.failure is None and not fine.stop_all()
