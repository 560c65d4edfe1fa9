"""`hpotk replay pack`, `hpotk replay check` and a study replayed on the surrogate of a packed
table, on a hand-made results directory (no Ray is started: nothing is trained)."""

from __future__ import annotations

import json
import tarfile

import pandas as pd

from tests.replay.test_cli import CURVES, EXPERIMENT, cli, write_results_dir

STUDY = """
name: tiny-surrogate
experiment: exp.yaml
strategies: [fifo/random, asha/random, asha/tpe]
repeats: 2
replay: table.tar.gz
replay_repeats: 3
checkpoint_s: 0.25
budget: {time_s: 12, concurrent: 2}
top_k: 2
report_metric: score
baseline: fifo/random
set: {checkpoint.every: 1}
"""


def test_pack_check_and_a_study_on_the_surrogate_of_the_archive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    write_results_dir(tmp_path / "results" / "table", CURVES)

    code, out, err = cli("replay", "pack", "results/table", "table.tar.gz", "--note", "test")
    assert code == 0, out + err
    with tarfile.open(tmp_path / "table.tar.gz") as tar:
        names = set(tar.getnames())
        provenance = json.load(tar.extractfile("provenance.json"))
    assert {"hpotk.json", "trials.csv", "history.csv", "provenance.json"} <= names
    assert provenance["trials"] == len(CURVES) and provenance["note"] == "test"
    assert provenance["max_t"] == 4 and provenance["machine"]["cores"] >= 1

    code, out, err = cli("replay", "check", "table.tar.gz", "--metric", "loss")
    assert code == 0, out + err
    assert "surrogate of" in out and "table.tar.gz" in out
    assert "Spearman rank correlation" in out and "model loss:" in out

    (tmp_path / "study.yaml").write_text(STUDY)
    code, out, err = cli("study", "study.yaml")
    assert code == 0, out + err
    out_dir = tmp_path / "results" / "tiny-surrogate" / "replay"
    summary = pd.read_csv(out_dir / "summary.csv", comment="#").set_index("strategy")
    assert list(summary.index) == ["fifo/random", "asha/random", "asha/tpe"]
    assert (summary["runs"] == 3).all()
    assert "replayed on a surrogate of" in (out_dir / "summary.md").read_text()
    assert (out_dir / "surrogate.txt").read_text().startswith("surrogate of")
    record = json.loads((out_dir / "replay.json").read_text())
    assert record["checkpoint_s"] == 0.25
    assert all(r["surrogate"] and r["checkpoints"] > 0 for r in record["runs"])


def test_a_broken_archive_is_named_with_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.tar.gz").write_bytes(b"not a tar file")
    code, out, err = cli("replay", "check", "bad.tar.gz")
    assert code != 0
    assert "bad.tar.gz" in err and "hpotk replay pack" in err


def test_replay_without_a_subcommand_says_what_there_is(tmp_path):
    code, out, err = cli("replay")
    assert code == 2 and "check" in out and "pack" in out
