"""The cgcnn trainable: metrics, bit-identical checkpoint continuation, reset_config, GPU."""

from __future__ import annotations

import math

import pytest
import torch

from hpotk.trainables.base import TrainContext
from hpotk.trainables.cgcnn import CGCNNTrainable
from tests.helpers import build_trainable

DATA = {"name": "emt-adsorption", "size": 40, "seed": 5}
CONFIG = {"lr": 0.005, "batch_size": 10, "atom_embedding_size": 8, "num_graph_conv_layers": 2,
          "fc_feat_size": 16, "num_fc_layers": 2}


def make(config: dict, **context) -> CGCNNTrainable:
    """The trainable built directly (no Ray), with a TrainContext as the runner would pass it."""
    ctx = TrainContext(data=DATA, metric="val_mae", mode="min", **context)

    return build_trainable(CGCNNTrainable, config, ctx)


@pytest.fixture(scope="module", autouse=True)
def _data_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("cgcnn-cache")))
        yield


def test_is_registered():
    from hpotk.trainables import TRAINABLES

    assert TRAINABLES.resolve("cgcnn") is CGCNNTrainable
    assert CGCNNTrainable.MODEL_PARAMS == {"atom_embedding_size", "num_graph_conv_layers",
                                           "fc_feat_size", "num_fc_layers"}


def test_reports_maes_in_ev_and_the_baselines():
    trainable = make(CONFIG)
    results = [trainable.train() for _ in range(6)]
    for result in results:
        for key in ("val_mae", "test_mae", "baseline_mae", "adsorbate_baseline_mae", "val_loss"):
            assert math.isfinite(result[key]) and result[key] >= 0
    assert results[0]["baseline_mae"] > 0.3  # spread of EMT adsorption energies, in eV
    assert results[-1]["epoch"] == 6
    assert results[-1]["train_loss"] < results[0]["train_loss"]
    trainable.stop()


def test_checkpoint_continues_bit_identically(tmp_path):
    context = {"eval_frequency": {"type": "evaluate_every_batch", "value": 2}}
    original = make(CONFIG, **context)  # 28 training graphs, 3 batches an epoch
    original.train()  # stops mid-epoch: position (0, 2)
    original.save_checkpoint(str(tmp_path))
    expected = [original.train() for _ in range(3)]

    restored = make({**CONFIG}, **context)
    restored.load_checkpoint(str(tmp_path))
    got = [restored.train() for _ in range(3)]
    for a, b in zip(expected, got, strict=True):
        for key in ("val_mae", "test_mae", "train_loss", "epoch"):
            assert a[key] == b[key], key
    for (name, a), (_, b) in zip(original.model.state_dict().items(),
                                 restored.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_reset_config_keeps_data_and_rebuilds_only_for_architecture(monkeypatch):
    from hpotk.data import emt_adsorption
    from hpotk.trainables import base

    real_load = emt_adsorption.load
    calls = []

    def counting_load(spec):
        calls.append(spec)
        return real_load(spec)

    monkeypatch.setattr(emt_adsorption, "load", counting_load)
    base._cached.cache_clear()

    trainable = make(CONFIG)
    trainable.train()
    model = trainable.model
    trained = model.embedding.weight.detach().clone()

    assert trainable.reset_config({**CONFIG, "lr": 0.001, "batch_size": 7})
    assert trainable.model is model, "a learning-param change keeps the model object"
    assert not torch.equal(model.embedding.weight, trained), "but re-initialises its weights"
    assert trainable.optimizer.param_groups[0]["lr"] == 0.001
    assert trainable.num_batches() == 4  # 28 graphs in batches of 7
    assert trainable.train()["epoch"] == 1

    assert trainable.reset_config({**CONFIG, "atom_embedding_size": 12})
    assert trainable.model is not model
    assert trainable.model.embedding.out_features == 12
    trainable.train()

    make(CONFIG).train()  # a new trial in the same worker process
    assert len(calls) == 1, "the dataset is loaded once per process"


def test_refuses_other_data():
    from hpotk.errors import ConfigError

    with pytest.raises(ConfigError, match="data.name"):
        CGCNNTrainable.load_data({"name": "kg-synthetic"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_runs_on_the_gpu():
    trainable = make(CONFIG)
    assert trainable.device.type == "cuda"
    assert all(p.is_cuda for p in trainable.model.parameters())
    result = trainable.train()
    assert math.isfinite(result["val_mae"]) and math.isfinite(result["test_mae"])


@pytest.mark.e2e
def test_cgcnn_experiment_runs_on_ray(hpotk_cli, tmp_path):
    """The shipped experiment file, cut to 2 trials of 2 epochs on 40 structures."""
    import json
    from pathlib import Path

    experiment = Path(__file__).resolve().parents[2] / "experiments" / "cgcnn_asha_rs.yaml"
    code, out, err = hpotk_cli("run", experiment, "--set", "data.size=40", "--set",
                               "budget.trials=2", "--set", "budget.max_t=2", "--set",
                               "results=out", "--quiet")
    assert code == 0, out + err
    best = json.loads((tmp_path / "out" / "cgcnn-asha-rs" / "best.json").read_text())
    assert set(best["config"]) == {"lr", "batch_size", "atom_embedding_size",
                                   "num_graph_conv_layers", "fc_feat_size", "num_fc_layers"}
    assert {"val_mae", "test_mae", "baseline_mae"} <= set(best["metrics"])


def test_unknown_hyperparameter_is_refused():
    from hpotk.errors import ConfigError

    with pytest.raises(ConfigError, match="no hyperparameter 'dropout'"):
        make({**CONFIG, "dropout": 0.1})
    trainable = make(CONFIG)
    with pytest.raises(ConfigError, match="space.hidden_size"):
        trainable.reset_config({**CONFIG, "hidden_size": 3})
