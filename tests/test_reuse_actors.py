"""``reuse_actors: auto``, the refusal of ``true`` on a class without ``reset_config``, and the
stall that Ray Tune fell into on it (issue: "a plain Ray class hangs")."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from hpotk import experiment
from hpotk.errors import ConfigError

USER = textwrap.dedent('''
    import time

    from ray import tune


    def train(config):
        for step in range(2):
            tune.report({"score": config["lr"] * (step + 1)})


    class Plain(tune.Trainable):
        """As Ray's own examples write it: no reset_config."""

        def setup(self, config):
            self.lr, self.score = config["lr"], 0.0

        def step(self):
            time.sleep(0.05)
            self.score += self.lr
            return {"score": self.score}

        def save_checkpoint(self, checkpoint_dir):
            return {"score": self.score}

        def load_checkpoint(self, checkpoint):
            self.score = checkpoint["score"]


    class Resets(Plain):
        def reset_config(self, new_config):
            self.setup(new_config)
            return True
''')


def _doc(tmp_path: Path, trainable: str, **extra) -> dict:
    (tmp_path / "user.py").write_text(USER)
    return {"name": "reuse", "trainable": trainable,
            "metric": {"name": "score", "mode": "max"},
            "space": {"lr": {"type": "continuous", "min_value": 0.1, "max_value": 1.0}},
            "strategy": "fifo/random", "budget": {"trials": 4, "concurrent": 2, "max_t": 2},
            "results": str(tmp_path / "results"), **extra}


def _load(tmp_path: Path, trainable: str, **extra) -> experiment.Experiment:
    return experiment.validate(_doc(tmp_path, trainable, **extra), str(tmp_path / "exp.yaml"))


@pytest.mark.parametrize("trainable, reuse", [
    ("mlp-digits", True),  # built-ins reset themselves from scratch
    ("user:train", True),  # Ray restarts a function trainable on a reused actor
    ("user:Resets", True),
    ("user:Plain", False),  # no reset_config: a fresh actor per trial
])
def test_auto_reuses_actors_only_where_the_trainable_resets_itself(tmp_path, trainable, reuse):
    from hpotk.trainables import reuses_actors

    exp = _load(tmp_path, trainable)
    assert exp.reuse_actors == "auto"
    assert reuses_actors(exp.trainable, exp.reuse_actors) is reuse
    assert reuses_actors(exp.trainable, False) is False


def test_true_on_a_class_without_reset_config_is_refused_at_load(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "user:Plain", reuse_actors=True)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'exp.yaml'}: reuse_actors: true needs a Trainable "
                              f"class that implements reset_config")
    assert "set reuse_actors: auto (or false)" in message and "\n" not in message
    assert _load(tmp_path, "user:Resets", reuse_actors=True).reuse_actors is True


def test_the_cli_refuses_it_in_one_line_with_exit_2(hpotk_cli, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(_doc(tmp_path, "user:Plain", reuse_actors=True)))
    code, out, err = hpotk_cli("run", path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "reuse_actors: true needs a Trainable class" in err and "Traceback" not in err


def test_a_fresh_trial_on_a_reused_builtin_actor_starts_from_scratch():
    # a reused actor's next trial must train exactly as on a fresh actor: nothing (weights,
    # optimiser state, position in the data, early-stop scores) carries over
    from tests.trainables.test_base import CONFIG, make

    other = {**CONFIG, "lr": 1e-2}
    reused = make()
    for _ in range(3):
        reused.train()
    assert reused.reset(other)  # Ray's reuse path: reset() -> reset_config()
    after_reuse = [reused.train()["val_loss"] for _ in range(2)]
    fresh = make(other)  # after, not before: both draw dropout masks from torch's global RNG
    assert after_reuse == [fresh.train()["val_loss"] for _ in range(2)]
    reused.stop(), fresh.stop()


@pytest.mark.e2e
def test_a_plain_ray_class_runs_to_completion_under_the_default(hpotk_cli, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(_doc(tmp_path, "user:Plain")))
    code, out, err = hpotk_cli("run", path, "--quiet")
    assert code == 0, out + err
    import pandas as pd

    table = pd.read_csv(tmp_path / "results" / "reuse" / "trials.csv")
    assert len(table) == 4 and set(table["status"]) == {"COMPLETED"}


@pytest.mark.e2e
def test_the_stall_watch_ends_rays_hang_with_its_reason(ray_local, tmp_path, monkeypatch,
                                                        capsys):
    # Ray Tune 2.60 with reuse_actors forced on a class without reset_config: "Could not re-use
    # actor", the trials are marked ERROR without telling the searcher, and Tune then blocks in
    # its wait for a suggestion, calling no callback, forever (observed for 10 minutes)
    import hpotk.trainables
    from hpotk import runner

    monkeypatch.setattr(hpotk.trainables, "reuses_actors", lambda *a, **k: True)
    exp = _load(tmp_path, "user:Plain", budget={"trials": 4, "concurrent": 2, "max_t": 2,
                                                 "stall_s": 6})
    outcome = runner.run(exp, verbose=1)
    assert outcome.status == "failed"
    assert outcome.reason.startswith("it stalled: no trial trained for")
    assert "Ray refused to reuse an actor" in outcome.reason and "reset_config" in outcome.reason
    out = capsys.readouterr().out
    assert "[hpotk] no trial has trained for" in out  # said before it gave up
    assert "[hpotk] ending the run" in out
    state = runner.read_state(exp.results_dir)
    assert state["status"] == "failed" and "stalled" in state["reason"]
