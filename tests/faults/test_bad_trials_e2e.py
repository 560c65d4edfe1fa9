"""Trials that misbehave are isolated and marked in trials.csv with their cause, while the
experiment completes: a NaN metric, a hang with no output (trial_time_s), a crash retried under
max_failures."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

TRAINABLE = textwrap.dedent("""\
    import time
    from pathlib import Path

    from ray import tune


    def train(config):
        behaviour = config["behaviour"]
        marker = Path(config["marker_dir"]) / "crashed-once"
        for step in range(3):
            if behaviour == "hang" and step == 1:
                time.sleep(3600)  # no output, ever
            if behaviour == "crash-once" and step == 1 and not marker.exists():
                marker.write_text("crashed")
                raise RuntimeError("crashing once on purpose")
            loss = float("nan") if behaviour == "nan" and step >= 1 else 1.0 / (step + 1)
            tune.report({"loss": loss})
    """)


def test_bad_trials_are_marked_with_their_cause(hpotk_cli, tmp_path):
    (tmp_path / "faulty.py").write_text(TRAINABLE)
    exp = tmp_path / "faulty.yaml"
    exp.write_text(textwrap.dedent(f"""\
        name: faulty
        trainable: "faulty:train"
        space:
          behaviour: {{type: choice, values: [ok, nan, hang, crash-once]}}
          marker_dir: "{tmp_path}"
        metric: {{name: loss, mode: min}}
        strategy: fifo/grid
        budget: {{trials: 4, concurrent: 2, max_t: 3, trial_time_s: 3}}
        max_failures: 1
        results: {tmp_path / "out"}
        """))
    code, out, err = hpotk_cli("run", exp, "--quiet")
    assert code == 0, out + err
    trials = pd.read_csv(tmp_path / "out" / "faulty" / "trials.csv",  # "nan" is a behaviour
                         keep_default_na=False).set_index("config/behaviour")
    assert len(trials) == 4
    assert trials.loc["ok", "status"] == "COMPLETED" and int(trials.loc["ok", "retries"]) == 0
    assert trials.loc["nan", "status"] == "COMPLETED"
    assert "loss was nan at iteration 2" in trials.loc["nan", "note"]
    assert trials.loc["hang", "status"] == "TIMEOUT"
    assert "hung: no result for" in trials.loc["hang", "note"]
    assert trials.loc["crash-once", "status"] == "COMPLETED"
    assert int(trials.loc["crash-once", "retries"]) == 1
    assert "RuntimeError: crashing once on purpose" in trials.loc["crash-once", "retried_because"]
    assert float(trials.loc["ok", "loss"]) == pytest.approx(1 / 3)
