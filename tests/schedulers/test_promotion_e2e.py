"""End-to-end: promotion-type ASHA through the Python API on the session's Ray, with a class
written for Ray Tune (no hpotk in it): trials pause at rungs with a checkpoint, a paused trial is
promoted later and resumes from its checkpoint, and the run completes."""

from __future__ import annotations

import json
import textwrap

import pytest

import hpotk

pytestmark = pytest.mark.e2e

TRAIN = textwrap.dedent('''
    """Written for Ray Tune, not for hpotk: the score climbs by lr each step."""
    import json
    import os
    import time

    from ray import tune


    class Climb(tune.Trainable):
        def setup(self, config):
            self.lr, self.score = config["lr"], 0.0

        def step(self):
            time.sleep(0.05)
            self.score += self.lr
            return {"score": self.score}

        def save_checkpoint(self, checkpoint_dir):
            with open(os.path.join(checkpoint_dir, "state.json"), "w") as f:
                json.dump({"score": self.score}, f)

        def load_checkpoint(self, checkpoint_dir):
            with open(os.path.join(checkpoint_dir, "state.json")) as f:
                self.score = json.load(f)["score"]
''')


def test_trials_pause_at_rungs_and_a_paused_one_is_promoted_and_resumes(ray_local, tmp_path,
                                                                        monkeypatch):
    # grid order 0.2, 0.4, 0.1, 0.3; one worker; eta 2: rungs at 1 and 2, max_t 4.
    #   0.2 pauses at 1 (alone); 0.4 is the best of 2 at rung 1, goes on, pauses at 2 (alone);
    #   0.1 pauses at 1 (not in the top 1 of 3); 0.3 is 2nd of 4 at rung 1, goes on to rung 2,
    #   where 0.4 is the best of 2: 0.3 pauses and 0.4 is promoted, resumes from its checkpoint
    #   at 2 and completes at 4; nothing is left to promote or start: the rest are stopped.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "climb.py").write_text(TRAIN)
    exp = hpotk.load({
        "name": "promotion", "trainable": "climb.py:Climb",
        "metric": {"name": "score", "mode": "max"},
        "space": {"lr": {"type": "categorical", "values": [0.2, 0.4, 0.1, 0.3]}},
        "strategy": {"scheduler": {"name": "asha_promotion", "grace_period": 1,
                                   "reduction_factor": 2},
                     "searcher": "grid"},
        "budget": {"trials": 4, "concurrent": 1, "max_t": 4},
        "results": str(tmp_path / "results"), "seed": 0})
    outcome = hpotk.run(exp, verbose=0)
    assert outcome.status == "complete", outcome.error

    trials = outcome.trials.set_index("config/lr")
    assert trials["iterations"].to_dict() == {0.2: 1, 0.4: 4, 0.1: 1, 0.3: 2}
    assert trials.loc[0.4, "status"] == "COMPLETED"
    assert set(trials.drop(index=0.4)["status"]) == {"STOPPED"}

    lines = [json.loads(line) for line in
             (outcome.results_dir / "history.jsonl").read_text().splitlines()]
    lr_of = {line["trial_id"]: line["config"]["lr"] for line in lines if "config" in line}
    results = [(lr_of[r["trial_id"]], r["training_iteration"], round(r["score"], 6))
               for r in lines if r.get("event") == "result"]
    assert results == [
        (0.2, 1, 0.2),
        (0.4, 1, 0.4), (0.4, 2, 0.8),  # paused at rung 2
        (0.1, 1, 0.1),
        (0.3, 1, 0.3), (0.3, 2, 0.6),  # paused at rung 2: 0.4 is promoted in its place ...
        (0.4, 3, 1.2), (0.4, 4, 1.6)]  # ... and goes on from its checkpoint's score
    assert list(outcome.results_dir.rglob("checkpoint_*")), "no trial checkpointed at a pause"
