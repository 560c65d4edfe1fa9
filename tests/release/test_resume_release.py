"""A results directory made by the previous release still resumes (issue 20: classes Tune
pickles into ``tuner.pkl`` keep their import paths, or an alias).

``interrupted/`` was made by ``make_fixture.py`` with hpotk at commit 39f72cc (the release before
the re-layout): a PBT experiment of a function trainable (``fx.py``) on a quantised param, with
``trial_time_s``, interrupted (Ctrl+C) after 8 results. Its ``tuner.pkl`` holds that release's
callbacks, save hook, watchdog, Ray sampler and PBT scheduler by module path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.e2e


def test_the_previous_releases_interrupted_experiment_resumes_to_completion(hpotk_cli,
                                                                            tmp_path):
    exp_dir = tmp_path / "results" / "interrupted"
    shutil.copytree(HERE / "interrupted", exp_dir)
    # the directory moved to another machine: its trainable is this checkout's fx.py
    saved = json.loads((exp_dir / "experiment.json").read_text())
    assert saved["trainable"].endswith("tests/release/fx.py:train")
    saved["trainable"] = f"{HERE / 'fx.py'}:train"
    (exp_dir / "experiment.json").write_text(json.dumps(saved))
    assert json.loads((exp_dir / "hpotk.json").read_text())["status"] == "interrupted"

    code, out, err = hpotk_cli("resume", exp_dir)
    assert code == 0, out + err
    assert "resuming interrupted experiment 'interrupted'" in out
    state = json.loads((exp_dir / "hpotk.json").read_text())
    assert state["status"] == "complete"
    table = pd.read_csv(exp_dir / "trials.csv")
    assert len(table) == 4 and set(table["status"]) == {"COMPLETED"}
    assert (table["iterations"] == 6).all()
