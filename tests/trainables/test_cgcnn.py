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
        for key in ("val_mae", "test_mae", "baseline_mae", "adsorbate_baseline_mae",
                    "site_baseline_mae", "val_loss"):
            assert math.isfinite(result[key]) and result[key] >= 0
    assert results[0]["baseline_mae"] > 0.3  # spread of EMT adsorption energies, in eV
    assert results[0]["adsorbate_baseline_mae"] < 0.3, "the adsorbate explains most of it"
    assert results[-1]["epoch"] == 6
    assert results[-1]["train_loss"] < results[0]["train_loss"]
    trainable.stop()


def test_lookup_baselines_on_a_hand_made_dataset():
    from hpotk.trainables.cgcnn import lookup_mae, lookup_means

    adsorbate = ["H", "H", "H", "O", "H", "H", "O", "N"]
    site = list(zip(adsorbate, ["fcc", "fcc", "ontop", "fcc", "fcc", "ontop", "hcp", "fcc"],
                    strict=True))
    energy = [-1.0, -1.2, -0.5, -3.0, -1.0, -0.6, -2.8, -2.0]
    train, test = [0, 1, 2, 3], [4, 5, 6, 7]
    assert lookup_means(site, energy, train) == {
        ("H", "fcc"): pytest.approx(-1.1), ("H", "ontop"): -0.5, ("O", "fcc"): -3.0}
    # (H, fcc) -> -1.1, (H, ontop) -> -0.5; (O, hcp) unseen -> O's mean -3.0; (N, fcc) unseen
    # and N unseen -> the training mean -1.425
    expected = (0.1 + 0.1 + 0.2 + 0.575) / 4
    assert lookup_mae(site, energy, train, test, fallback=adsorbate) == pytest.approx(expected)
    # per adsorbate: H -> -0.9 (errors 0.1, 0.3), O -> -3.0 (0.2), N -> -1.425 (0.575)
    assert lookup_mae(adsorbate, energy, train, test) == pytest.approx(
        (0.1 + 0.3 + 0.2 + 0.575) / 4)


def test_site_baseline_and_targets_come_from_the_training_split():
    import numpy as np

    data = CGCNNTrainable.load_data(DATA)
    dataset = data["dataset"]
    train, test = dataset.split["train"], dataset.split["test"]
    energy = dataset.energies
    key = [(r["adsorbate"], r["site"]) for r in dataset.records]
    errors = []
    for i in test:
        same = [j for j in train if key[j] == key[i]]
        if not same:  # that (adsorbate, site) pair is not in training: the adsorbate's mean
            same = [j for j in train if key[j][0] == key[i][0]]
        errors.append(abs(energy[i] - energy[same].mean()))
    assert data["site_baseline_mae"] == pytest.approx(float(np.mean(errors)))

    graphs = data["train"] + data["val"].to_data_list()
    for index, graph in zip(list(train) + list(dataset.split["val"]), graphs, strict=True):
        ads = dataset.records[index]["adsorbate"]
        mean = energy[[j for j in train if dataset.records[j]["adsorbate"] == ads]].mean()
        assert graph.reference.item() == pytest.approx(mean, abs=1e-5)
        assert graph.adsorbate.tolist() == [False] * (graph.num_nodes - 1) + [True], \
            "the adsorbate is the last atom of each structure"
    residual = [energy[j] - graphs[k].reference.item() for k, j in enumerate(train)]
    assert data["std"] == pytest.approx(float(np.std(residual)), rel=1e-4)


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
    assert {"val_mae", "test_mae", "baseline_mae", "adsorbate_baseline_mae",
            "site_baseline_mae"} <= set(best["metrics"])


def test_unknown_hyperparameter_is_refused():
    from hpotk.errors import ConfigError

    with pytest.raises(ConfigError, match="no hyperparameter 'dropout'"):
        make({**CONFIG, "dropout": 0.1})
    trainable = make(CONFIG)
    with pytest.raises(ConfigError, match="space.hidden_size"):
        trainable.reset_config({**CONFIG, "hidden_size": 3})
