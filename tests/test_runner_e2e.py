"""End-to-end: real experiments of the quickstart model on the session's local Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import finished_trials, interrupt_after

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "experiments" / "quickstart.yaml"

pytestmark = pytest.mark.e2e


def test_run_writes_summary_refuses_complete_and_offers_new(hpotk_cli, tmp_path):
    args = [ "run", QUICKSTART, "--set", "budget.trials=3", "--set", "budget.max_t=2",
             "--set", "results=out", "--quiet"]
    code, out, err = hpotk_cli(*args)
    assert code == 0, out + err
    assert "[hpotk] trials" not in out  # --quiet: no progress
    exp_dir = tmp_path / "out" / "quickstart"
    best = json.loads((exp_dir / "best.json").read_text())
    trials = pd.read_csv(exp_dir / "trials.csv")
    assert len(trials) == 3
    assert set(trials["status"]) <= {"COMPLETED", "STOPPED"}
    assert {"config/lr", "config/hidden_size", "val_acc", "best_val_acc", "iterations", "time_s",
            "node", "status"} <= set(trials.columns)
    assert best["value"] == trials["best_val_acc"].max()
    assert set(best["config"]) == {"lr", "hidden_size", "num_layers", "dropout", "batch_size"}
    assert "best trial" in out and best["trial_id"] in out
    assert json.loads((exp_dir / "hpotk.json").read_text())["status"] == "complete"

    # a complete experiment is never overwritten
    code, out, err = hpotk_cli(*args)
    assert code == 2 and "already complete" in err and "--new" in err
    code, out, err = hpotk_cli(*args, "--exist-ok")
    assert code == 0 and best["trial_id"] in out
    code, out, err = hpotk_cli(*args, "--new")
    assert code == 0, err
    assert len([p for p in (tmp_path / "out").iterdir() if p.name.startswith("quickstart-")]) == 1
    assert json.loads((exp_dir / "best.json").read_text()) == best

    # the retrain file is a valid experiment of one trial with the best config
    code, out, err = hpotk_cli("plan", exp_dir / "retrain.yaml", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["tuned"] == {} and plan["expected_trials"] == 1
    assert {k: v["value"] for k, v in plan["fixed"].items()} == best["config"]

    # hpotk best
    code, out, err = hpotk_cli("best", exp_dir)
    assert code == 0 and best["trial_id"] in out


def test_progress_history_and_tensorboard_hparams(hpotk_cli, tmp_path):
    code, out, err = hpotk_cli("run", QUICKSTART, "--set", "budget.trials=1",
                               "--set", "budget.max_t=2", "--set", "strategy=fifo/random",
                               "--set", "results=tb", "--set", "budget.time_s=600")
    assert code == 0, err
    # the default prints hpotk's compact progress (not Ray's tables); a non-terminal gets lines
    progress = [line for line in out.splitlines() if line.startswith("[hpotk] trials")]
    assert progress, out
    assert "1 done, 0 running, 0 pending of 1 | best val_acc" in progress[-1]
    assert "of the time budget left" in progress[-1]
    assert "Trial status" not in out and "Current time" not in out
    # the run's history, read back through hpotk.results
    from hpotk import results

    res = results.load(tmp_path / "tb" / "quickstart")
    assert res.status == "complete" and res.freshness.source == "summary"
    assert res.history["iteration"].tolist() == [1, 2]
    assert (res.history["time_s"] > 0).all() and res.history["time_s"].is_monotonic_increasing
    assert {"val_acc", "val_loss", "config/lr"} <= set(res.history.columns)
    assert res.trials["status"].tolist() == ["COMPLETED"]
    assert res.trials["start_s"].iloc[0] <= res.trials["end_s"].iloc[0]
    assert "strategy fifo/random" in res.meta["plan"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list((tmp_path / "tb" / "quickstart").rglob("events.out.tfevents.*"))
    assert events
    plugins = set()
    for event_file in events:
        acc = EventAccumulator(str(event_file))
        acc.Reload()
        try:
            plugins |= set(acc.PluginTagToContent("hparams"))
        except KeyError:  # this events file has no HParams summary
            pass
    assert plugins, "no HParams summary in the TensorBoard events"


def test_interrupted_experiment_resumes_keeping_finished_trials(hpotk_cli, tmp_path):
    max_t, trials = 8, 5
    # small batches make each trial take a few seconds, so the interrupt lands mid-experiment
    args = ["run", QUICKSTART, "--set", f"budget.trials={trials}", "--set", "budget.concurrent=1",
            "--set", f"budget.max_t={max_t}", "--set", "strategy=fifo/random",
            "--set", "space.batch_size=8", "--set", "space.hidden_size=256",
            "--set", "results=res", "--quiet"]
    exp_dir = tmp_path / "res" / "quickstart"
    from hpotk import results

    seen_running = []
    with interrupt_after(exp_dir, max_t, 2, before=lambda: seen_running.append(
            results.load(exp_dir))) as sent:
        code, out, err = hpotk_cli(*args)
    assert sent.is_set(), "the experiment finished before it could be interrupted"
    assert code == 1, out + err
    assert json.loads((exp_dir / "hpotk.json").read_text())["status"] == "interrupted"
    unfinished = pd.read_csv(exp_dir / "trials.csv").query("status == 'UNFINISHED'")
    assert len(unfinished) and f"{len(unfinished)} unfinished: {unfinished['trial_id'].iloc[0]}" \
        in out  # the message says which trials a resume will run
    # read while it ran: from the live logs, with the finished trials in
    live = seen_running[0]
    assert live.status == "running" and live.freshness.source == "live"
    assert (live.trials["status"] == "COMPLETED").sum() >= 2
    interrupted = results.load(exp_dir)
    assert interrupted.status == "interrupted"
    assert set(interrupted.trials["status"]) <= {"COMPLETED", "UNFINISHED"}
    finished_before = set(finished_trials(exp_dir, max_t))
    assert len(finished_before) >= 2
    progress_before = {t: (exp_dir / t / "progress.csv").read_text() for t in finished_before}

    code, out, err = hpotk_cli(*args)  # the same command resumes
    assert code == 0, out + err
    table = pd.read_csv(exp_dir / "trials.csv")
    assert len(table) == trials
    assert table["trial_id"].is_unique
    assert set(table["status"]) == {"COMPLETED"}
    assert finished_before <= set(table["trial_id"])
    for trial_id, text in progress_before.items():  # finished trials were not run again
        assert (exp_dir / trial_id / "progress.csv").read_text() == text
    assert json.loads((exp_dir / "hpotk.json").read_text())["status"] == "complete"
    done = results.load(exp_dir)
    assert done.status == "complete" and len(done.trials) == trials
    assert len(done.meta["runs"]) == 2  # the interrupted run and the resume
    per_trial = done.history.groupby("trial_id")["iteration"].max()
    assert (per_trial == max_t).all() and len(per_trial) == trials
