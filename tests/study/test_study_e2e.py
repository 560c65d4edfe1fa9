"""`hpotk study` end to end on the session's Ray: a tiny study (2 strategies x 2 repeats of a
few seconds each) writes every output and skips complete runs when run again; an interrupted
study resumes where it stopped. Budgets bind by trials (time_s only caps them): timings on the
shared test machine are no measure of anything."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from hpotk import results
from tests.helpers import interrupt_after

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "experiments" / "quickstart.yaml"


def write_study(tmp_path: Path, name: str, *, strategies: str, repeats: int, trials: int,
                concurrent: int, max_t: int, batch_size: int = 128,
                hidden_size: int = 32) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        experiment: {QUICKSTART}
        strategies: {strategies}
        repeats: {repeats}
        budget: {{time_s: 600, trials: {trials}, concurrent: {concurrent}, max_t: {max_t}}}
        set: {{space.batch_size: {batch_size}, space.hidden_size: {hidden_size}}}
        top_k: 2
        report_metric: test_acc
        baseline: fifo/random
    """))
    return path


def test_tiny_study_runs_every_pair_and_writes_the_outputs(hpotk_cli, tmp_path):
    path = write_study(tmp_path, "tiny", strategies="[fifo/random, asha/random]", repeats=2,
                       trials=2, concurrent=2, max_t=2)
    code, out, err = hpotk_cli("study", path, "--quiet")
    assert code == 0, out + err
    study_dir = tmp_path / "results" / "tiny"
    doc = json.loads((study_dir / "study.json").read_text())
    assert doc["name"] == "tiny"
    assert [(r["label"], r["seed"]) for r in doc["runs"]] == [
        ("fifo/random", 0), ("asha/random", 0), ("fifo/random", 1), ("asha/random", 1)]
    assert {r["status"] for r in doc["runs"]} == {"complete"}
    assert sorted(Path(p).name for p in doc["outputs"]) == [
        "curves.csv", "summary.csv", "summary.md", "tts.png"]
    for run in doc["runs"]:
        res = results.load(run["path"])
        assert res.status == "complete" and len(res.trials) == 2
        assert res.meta["budget"]["time_s"] == 600  # the study's budget, for every run
        assert res.meta["seed"] == run["seed"]
    summary = pd.read_csv(study_dir / "summary.csv").set_index("strategy")
    assert list(summary.index) == ["fifo/random", "asha/random"]
    assert (summary["runs"] == 2).all()
    assert summary.loc["fifo/random", "speedup_text"] == "1×"  # the baseline against itself
    curves = pd.read_csv(study_dir / "curves.csv")
    per_run = curves[curves["repeat"] != "all"]
    assert len(per_run) == 4 * 200
    last = per_run[per_run["t_s"] == per_run["t_s"].max()]
    assert last["topk_mean"].between(0, 1).all()  # test accuracies, every run defined at the end
    assert "time-to-target" in (study_dir / "summary.md").read_text()

    # again: every run is complete, nothing runs, the outputs are rewritten
    code, out, err = hpotk_cli("study", path, "--quiet")
    assert code == 0, out + err
    assert out.count("is complete; skipped") == 4
    # and the report alone
    code, out, err = hpotk_cli("study", path, "--report-only")
    assert code == 0 and "asha/random" in out, out + err


def test_interrupted_study_resumes_and_completes(hpotk_cli, tmp_path):
    # small batches make each trial take seconds, so the interrupt lands mid-run
    path = write_study(tmp_path, "cut", strategies="[fifo/random, asha/random]", repeats=1,
                       trials=3, concurrent=1, max_t=3, batch_size=8, hidden_size=256)
    first = tmp_path / "results" / "cut" / "fifo-random" / "seed0"
    with interrupt_after(first, max_t=3, n_finished=1) as sent:
        code, out, err = hpotk_cli("study", path, "--quiet")
    assert sent.is_set(), "the first run ended before it could be interrupted"
    assert code == 1 and "interrupted in run fifo/random seed 0" in out, out + err
    assert results.load(first).status == "interrupted"
    assert not (tmp_path / "results" / "cut" / "asha-random" / "seed0").exists()

    code, out, err = hpotk_cli("study", path, "--quiet")
    assert code == 0, out + err
    assert "resuming interrupted experiment" in out
    assert "left" in out  # resumed with what was left of its time
    res = results.load(first)
    assert res.status == "complete" and len(res.trials) == 3
    assert set(res.trials["status"]) == {"COMPLETED"}
    assert len(res.meta["runs"]) == 2  # two starts of the same run
    assert res.meta["budget"]["time_s"] == 600  # the full budget is what the state keeps
    second = results.load(tmp_path / "results" / "cut" / "asha-random" / "seed0")
    assert second.status == "complete"
    assert (tmp_path / "results" / "cut" / "tts.png").exists()
