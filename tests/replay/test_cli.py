"""`hpotk study FILE --replay DIR` and a study file's `replay:` key, on a hand-made results
directory (no Ray is started: nothing is trained)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from hpotk.cli import main
from tests.replay.helpers import Curve, make_table

CURVES = {f"t{i}": Curve(0.001 * (i + 1), [8, 16, 32][i % 3], [0.1 * (i % 5 + 1) + 0.02 * k
                                                             for k in range(4)], [0.5] * 4)
          for i in range(12)}


def write_results_dir(path: Path, curves: dict[str, Curve]) -> Path:
    """A finished experiment's directory as `hpotk run` leaves it (what hpotk.results reads)."""
    res = make_table(curves, max_t=4)
    path.mkdir(parents=True)
    res.trials.to_csv(path / "trials.csv", index=False)
    res.history.to_csv(path / "history.csv", index=False)
    meta = res.meta
    (path / "hpotk.json").write_text(json.dumps({
        "status": "complete", "name": "table", "metric": "score", "mode": "max",
        "strategy": "fifo/random", "budget": meta["budget"], "params": meta["params"],
        "started": 1000.0, "finished": meta["finished"], "runs": []}))
    (path / "experiment.json").write_text(json.dumps(meta["experiment"]))
    return path


STUDY = """
name: tiny-replay
experiment: exp.yaml
strategies: [fifo/random, asha/random]
repeats: 3
budget: {time_s: 12, concurrent: 2}
top_k: 2
report_metric: score
baseline: fifo/random
"""
EXPERIMENT = """
name: exp
trainable: mlp-digits
data: {seed: 0}
space:
  lr: {type: continuous, min_value: 0.0001, max_value: 0.1, scaling: log}
  width: {type: categorical, values: [8, 16, 32]}
  epochs: 10
metric: {name: score, mode: max}
strategy: {scheduler: {name: asha, grace_period: 1, reduction_factor: 2}, searcher: random}
budget: {max_t: 4}
"""


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def study(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    path = tmp_path / "tiny.yaml"
    path.write_text(STUDY)
    write_results_dir(tmp_path / "results" / "table", CURVES)
    return path


def test_replay_writes_the_studys_outputs_labelled_as_replayed(study, tmp_path):
    code, out, err = cli("study", study, "--replay", "results/table")
    assert code == 0, out + err
    out_dir = tmp_path / "results" / "tiny-replay" / "replay"
    for name in ("curves.csv", "summary.csv", "summary.md", "tts.png", "replay.json"):
        assert (out_dir / name).exists(), name
    label = "replayed from"
    assert (out_dir / "curves.csv").read_text().startswith(f"# {label}")
    assert (out_dir / "summary.csv").read_text().startswith(f"# {label}")
    assert label in (out_dir / "summary.md").read_text()
    record = json.loads((out_dir / "replay.json").read_text())
    assert record["cost"]["runs"] == 6 and record["cost"]["real_s_per_simulated_hour"] > 0
    assert {r["label"] for r in record["runs"]} == {"fifo/random", "asha/random"}
    assert "s per simulated hour" in out
    assert not (tmp_path / "results" / "tiny-replay" / "fifo-random").exists()  # nothing ran


def test_the_study_files_replay_key_does_the_same(study, tmp_path):
    study.write_text(STUDY + "replay: results/table\n")
    code, out, err = cli("study", study)
    assert code == 0, out + err
    assert (tmp_path / "results" / "tiny-replay" / "replay" / "tts.png").exists()


def test_a_table_that_cannot_be_replayed_is_one_line_and_exit_2(study, tmp_path):
    bad = dict(CURVES, t99=Curve(0.05, 8, [0.1, 0.2], [0.5, 0.5], status="STOPPED"))
    write_results_dir(tmp_path / "results" / "partial", bad)
    code, out, err = cli("study", study, "--replay", "results/partial")
    assert code == 2
    assert err.count("\n") == 1 and "t99 (STOPPED, 2/4 iterations)" in err
    code, out, err = cli("study", study, "--replay", "results/table", "--report-only")
    assert code == 2 and "does not combine" in err
    code, out, err = cli("study", study, "--replay", "results/table", "--set",
                         "strategies=[fifo/random, pbt/random]")
    assert code == 2 and "pbt cannot be replayed" in err
