"""The trainable protocol (base.py) through the quickstart trainable, without a Ray cluster."""

from __future__ import annotations

import pytest

from hpotk.trainables.base import TrainContext
from hpotk.trainables.digits import DigitsMLP
from tests.helpers import build_trainable

CONFIG = {"lr": 3e-3, "hidden_size": 32, "num_layers": 1, "dropout": 0.1, "batch_size": 64}


def make(config=None, **context) -> DigitsMLP:
    """The trainable with a TrainContext bound, as tune.with_parameters binds it under Ray."""
    ctx = TrainContext(**context)

    return build_trainable(DigitsMLP, config or CONFIG, ctx)


def test_checkpoint_continues_bit_identically(tmp_path):
    trainable = make()
    trainable.train()
    checkpoint = trainable.save(str(tmp_path / "ck"))
    expected = [trainable.train()["val_loss"] for _ in range(2)]
    restored = make()
    restored.restore(checkpoint)
    assert [restored.train()["val_loss"] for _ in range(2)] == expected
    trainable.stop(), restored.stop()


@pytest.mark.parametrize("kind, value, batches", [("evaluate_every_batch", 3, 3),
                                                  ("evaluate_every_pct", 0.5, 10),
                                                  ("evaluate_every_epoch", 2, 40)])
def test_eval_frequency_sets_batches_per_step(kind, value, batches):
    trainable = make(eval_frequency={"type": kind, "value": value})
    assert trainable.num_batches() == 20  # 1257 training digits / 64
    trainable.train()
    assert trainable.batches_seen == batches
    trainable.stop()


def test_reset_config_keeps_data_and_rebuilds_only_architecture():
    trainable = make()
    data, model = trainable.data, trainable.model
    trainable.reset_config({**CONFIG, "lr": 1e-2, "dropout": 0.3})
    assert trainable.data is data and trainable.model is model
    assert trainable.optimizer.param_groups[0]["lr"] == 1e-2
    trainable.reset_config({**CONFIG, "hidden_size": 64})
    assert trainable.data is data and trainable.model is not model
    assert trainable.model.net[0].out_features == 64
    trainable.stop()


def test_early_stop_compares_moving_averages_of_window_scores():
    """Neptune ML: stop when the mean of the latest `window` scores is no better than the mean of
    the `window` scores one evaluation earlier."""
    trainable = make(metric="val_loss", mode="min", early_stop=True, window=2)
    decide = trainable._no_improvement
    assert not decide({"val_loss": 1.0})
    assert not decide({"val_loss": 0.8})  # only `window` scores so far
    assert not decide({"val_loss": 0.6})  # mean(0.8, 0.6)=0.7 < mean(1.0, 0.8)=0.9: improving
    assert not decide({"val_loss": 0.65})  # 0.625 < 0.7
    assert decide({"val_loss": 0.7})  # mean(0.65, 0.7)=0.675 >= mean(0.6, 0.65)=0.625: stop
    trainable.stop()


def test_early_stop_ends_the_trial_and_config_keys_override_the_context():
    trainable = make({**CONFIG, "lr": 0.5, "enable-early-stop": True, "window-for-early-stop": 1},
                     metric="val_acc", mode="max")
    results = [trainable.train() for _ in range(30)]
    stopped = [r for r in results if r.get("early_stopped")]
    assert stopped and stopped[0]["done"] is True
    trainable.stop()
