"""End-to-end: a PBT population and a HyperBand bracket larger than ``budget.concurrent`` exist
from the start and train ``concurrent`` at a time (`hpotk.schedulers.population`), with a class
written for Ray Tune (no ``reset_config``, a dict from ``save_checkpoint``) on the session's Ray.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.e2e

TRAIN = textwrap.dedent('''
    """Written for Ray Tune, not for hpotk."""
    import time

    from ray import tune


    class Climb(tune.Trainable):
        def setup(self, config):
            self.lr, self.score = config["lr"], 0.0

        def step(self):
            time.sleep(0.15)
            self.score += self.lr
            return {"score": self.score}

        def save_checkpoint(self, checkpoint_dir):
            return {"score": self.score}

        def load_checkpoint(self, checkpoint):
            self.score = checkpoint["score"]
''')


def _experiment(tmp_path: Path, name: str, strategy: dict, budget: dict) -> Path:
    (tmp_path / "climb.py").write_text(TRAIN)
    doc = {"name": name, "trainable": "climb:Climb", "metric": {"name": "score", "mode": "max"},
           "space": {"lr": {"type": "continuous", "min_value": 0.1, "max_value": 1.0}},
           "strategy": strategy, "budget": budget, "results": str(tmp_path / "results"),
           "seed": 3}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _results(exp_dir: Path) -> list[dict]:
    lines = [json.loads(line) for line in (exp_dir / "history.jsonl").read_text().splitlines()]
    return [line for line in lines if line.get("event") == "result"]


def _most_at_once(results: list[dict]) -> int:
    """The most iterations in training at one moment: each spans the time_this_iter_s seconds
    before the driver received it (shrunk by 20 ms for the report's trip to the driver)."""
    edges = []
    for r in results:
        end = r["time"] - 0.02
        edges += [(end - r["time_this_iter_s"] + 0.04, 1), (end, -1)]
    most = now = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        now += step
        most = max(most, now)
    return most


def test_a_pbt_population_of_six_trains_two_at_a_time(hpotk_cli, tmp_path):
    path = _experiment(tmp_path, "pbt6", {
        "scheduler": {"name": "pbt", "perturbation_interval": 2, "quantile": 0.5, "synch": True,
                      "resample_probability": 0.0},
        "searcher": "random"}, {"trials": 6, "concurrent": 2, "max_t": 6})
    code, out, err = hpotk_cli("run", path, "--quiet")
    assert code == 0, out + err
    exp_dir = tmp_path / "results" / "pbt6"
    results = _results(exp_dir)
    trials = sorted({r["trial_id"] for r in results})
    assert len(trials) == 6
    # every member trained from the start: all six reported before any passed the second
    # perturbation point (a relay of pairs would have finished the first pair by then)
    first = {t: min(r["time"] for r in results if r["trial_id"] == t) for t in trials}
    past_second = min(r["time"] for r in results if r["training_iteration"] > 4)
    assert max(first.values()) < past_second
    # at most budget.concurrent trained at any moment
    assert _most_at_once(results) <= 2
    # every member took part in exploits, as the one copied into or copied from
    events = [json.loads(line) for line in
              (exp_dir / "pbt_lineage.jsonl").read_text().splitlines()]
    involved = {e["target"] for e in events} | {e["donor"] for e in events}
    assert involved == set(trials), events
    table = pd.read_csv(exp_dir / "trials.csv")
    assert set(table["status"]) == {"COMPLETED"} and (table["iterations"] == 6).all()


def test_a_hyperband_bracket_larger_than_concurrent_gathers_at_its_rung(hpotk_cli, tmp_path):
    # 5 trials, max_t 3, eta 3: bracket 0 holds 2 trials at 3 iterations, bracket 1 holds 3
    # trials that meet at iteration 1, where the best 1 goes on and 2 stop. Before populations
    # (concurrent 2 holding members back) no rung ever gathered and every trial ran to max_t.
    path = _experiment(tmp_path, "hb", {"scheduler": {"name": "hyperband",
                                                      "reduction_factor": 3},
                                        "searcher": "random"},
                       {"trials": 5, "concurrent": 2, "max_t": 3})
    code, out, err = hpotk_cli("run", path, "--quiet")
    assert code == 0, out + err
    exp_dir = tmp_path / "results" / "hb"
    table = pd.read_csv(exp_dir / "trials.csv")
    assert sorted(table["iterations"]) == [1, 1, 3, 3, 3], table
    assert _most_at_once(_results(exp_dir)) <= 2


FLAKY = textwrap.dedent('''
    """Fails once, in the first trial to reach its third iteration (a worker lost, say)."""
    import os

    from climb import Climb


    class Flaky(Climb):
        def step(self):
            if self.iteration == 2 and not os.path.exists(MARKER):
                open(MARKER, "w").close()
                raise RuntimeError("lost once")
            return super().step()
''')


def test_a_member_retried_after_a_failure_waits_for_a_slot_again(hpotk_cli, tmp_path):
    # Tune re-queues a failed trial (max_failures) as PENDING, filed already, and calls
    # on_trial_add again: the population must pause it through the controller, not by hand
    path = _experiment(tmp_path, "retry", {
        "scheduler": {"name": "pbt", "perturbation_interval": 2, "quantile": 0.5},
        "searcher": "random"}, {"trials": 4, "concurrent": 2, "max_t": 4})
    (tmp_path / "flaky.py").write_text(FLAKY.replace(
        "import os\n", f"import os\n\nMARKER = {str(tmp_path / 'failed-once')!r}\n", 1))
    doc = yaml.safe_load(path.read_text())
    doc.update(trainable="flaky:Flaky", max_failures=1)
    path.write_text(yaml.safe_dump(doc))
    code, out, err = hpotk_cli("run", path, "--quiet")
    assert code == 0, out + err
    assert (tmp_path / "failed-once").exists()  # the failure happened
    exp_dir = tmp_path / "results" / "retry"
    table = pd.read_csv(exp_dir / "trials.csv")
    assert set(table["status"]) == {"COMPLETED"} and (table["iterations"] == 4).all()
    assert _most_at_once(_results(exp_dir)) <= 2
