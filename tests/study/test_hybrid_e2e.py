"""A hybrid study (`replay: auto`) end to end on the session's Ray: the fifo/random baseline runs
for real, its repeats are pooled into a table, every strategy (asha/tpe too, on the table's
surrogate) is replayed on it, and `validate: 1` runs one real repeat of each replayed strategy
and draws its agreement with the replay."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "experiments" / "quickstart.yaml"


def test_a_hybrid_study_runs_the_baseline_and_replays_the_rest(hpotk_cli, tmp_path):
    path = tmp_path / "hybrid.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: hybrid
        experiment: {QUICKSTART}
        strategies: [fifo/random, asha/random, asha/tpe]
        repeats: 2
        replay: auto
        validate: 1
        replay_repeats: 5
        budget: {{time_s: 600, trials: 12, concurrent: 2, max_t: 3}}
        set: {{space.batch_size: 128, space.hidden_size: 32}}
        top_k: 2
        report_metric: test_acc
        baseline: fifo/random
    """))
    code, out, err = hpotk_cli("plan", path)
    assert code == 0, out + err
    assert "replayed: every strategy, 5 seeds each" in out
    assert out.count("seed ") == 4  # real runs: the baseline's 2 repeats, 1 of each other

    code, out, err = hpotk_cli("study", path, "--quiet")
    assert code == 0, out + err
    study_dir = tmp_path / "results" / "hybrid"
    doc = json.loads((study_dir / "study.json").read_text())
    real = {(r["label"], r["seed"]) for r in doc["runs"] if r["status"] == "complete"}
    assert real == {("fifo/random", 0), ("fifo/random", 1), ("asha/random", 0), ("asha/tpe", 0)}
    names = {Path(p).name for p in doc["outputs"]}
    assert {"tts.png", "summary.md", "summary.csv", "curves.csv", "surrogate.txt",
            "replay.json", "agreement-fifo-random.png", "agreement-asha-random.png",
            "agreement-asha-tpe.png"} <= names
    summary = pd.read_csv(study_dir / "summary.csv", comment="#").set_index("strategy")
    assert list(summary.index) == ["fifo/random", "asha/random", "asha/tpe"]
    assert (summary["runs"] == 5).all()  # replay_repeats seeds of every strategy
    record = json.loads((study_dir / "replay.json").read_text())
    assert record["surrogate"] is not None  # tpe needs it, so every strategy replays on it
    assert record["recorded_trials"] >= 10
    assert "pooled from 2 real run(s) of fifo/random" in out
    assert "hybrid study" in (study_dir / "summary.md").read_text()
    assert "replayed vs real" in out
