"""The rgcn trainable: metrics, num-epochs, bit-identical checkpoints, reset, config errors, GPU."""

from __future__ import annotations

import math

import pytest
import torch

from hpotk.errors import ConfigError
from hpotk.trainables.base import TrainContext
from hpotk.trainables.rgcn import RGCNTrainable, parse_fanout
from tests.helpers import build_trainable

DATA = {"name": "hetero-synthetic", "nodes": 400, "seed": 0}
CONFIG = {"num-hidden": 16, "lr": 0.01, "batch-size": 64, "num-layer": 2, "fanout": [5, 5],
          "num-epochs": 4, "dropout": 0.1, "layer-norm": True, "concat-node-embed": True}


def make(config: dict, task: dict | None = None, **context) -> RGCNTrainable:
    """The trainable built directly (no Ray), with a TrainContext as the runner would pass it."""
    ctx = TrainContext(data=context.pop("data", DATA), metric="val_acc", mode="max",
                       task=task or {"task_type": "node_class", "eval_metric": {"metric": "acc"}},
                       **context)

    return build_trainable(RGCNTrainable, config, ctx)


@pytest.fixture(scope="module", autouse=True)
def _cache_and_threads(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # scatter kernels crawl when their threads compete for 2 cores
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("rgcn-cache")))
        yield
    torch.set_num_threads(threads)


def test_is_registered():
    from hpotk.trainables import TRAINABLES

    assert TRAINABLES.resolve("rgcn") is RGCNTrainable


def test_fanout_forms():
    assert parse_fanout([10, 15, 15], 2) == [10, 15]
    assert parse_fanout([10], 3) == [10, 10, 10]
    assert parse_fanout(7, 2) == [7, 7]
    assert parse_fanout("10,30", 3) == [10, 30, 30]
    assert parse_fanout([-1, 5], 2) == [-1, 5]
    with pytest.raises(ConfigError, match="fanout"):
        parse_fanout([0, 5], 2)
    with pytest.raises(ConfigError, match="fanout"):
        parse_fanout(["a"], 2)


def test_learns_reports_the_eval_metric_and_ends_at_num_epochs():
    trainable = make(CONFIG, task={"task_type": "node_class",
                                   "eval_metric": {"metric": "acc_topk", "topk": 2}})
    results = [trainable.train() for _ in range(4)]
    last = results[-1]
    assert last["epoch"] == 4 and last["done"] and last["finished"]
    assert not any(r.get("done") for r in results[:-1])
    for key in ("val_acc", "test_acc", "val_acc_topk", "test_acc_topk", "val_loss"):
        assert math.isfinite(last[key])
    assert last["val_acc_topk"] >= last["val_acc"]
    assert last["val_acc"] > 0.5  # chance is 0.25
    trainable.stop()


def test_node_regression_beats_predicting_the_mean():
    trainable = make({**CONFIG, "num-epochs": 6}, task={"task_type": "node_regression",
                                                       "eval_metric": {"metric": "mae"}})
    for _ in range(6):
        result = trainable.train()
    data = trainable.data
    mean = data.scores[data.train].mean()
    baseline = (data.scores[data.val] - mean).abs().mean().item()
    assert result["val_mae"] < 0.7 * baseline and "val_acc" not in result


def test_learning_rates_class_weights_and_bases():
    trainable = make({**CONFIG, "sparse-lr": 0.05, "l2norm": 1e-4, "use-class-weight": True,
                      "num-bases": 2, "low-mem": False})
    dense, embeddings = trainable.optimizer.param_groups
    assert (dense["lr"], dense["weight_decay"], embeddings["lr"]) == (0.01, 1e-4, 0.05)
    assert trainable._class_weight is not None and trainable._class_weight.shape == (4,)
    assert trainable.model.convs[0].num_bases == 2
    assert type(trainable.model.convs[0]).__name__ == "FastRGCNConv"
    assert math.isfinite(trainable.train()["val_acc"])


def test_checkpoint_continues_bit_identically(tmp_path):
    context = {"eval_frequency": {"type": "evaluate_every_batch", "value": 1}}
    config = {**CONFIG, "sparse-lr": 0.03}
    original = make(config, **context)  # 151 training papers, 3 batches an epoch
    original.train()  # stops mid-epoch: position (0, 1)
    saved = original.save(str(tmp_path / "ckpt"))
    expected = [original.train() for _ in range(4)]

    restored = make(config, **context)
    restored.restore(saved)
    assert [g["lr"] for g in restored.optimizer.param_groups] == [0.01, 0.03]
    got = [restored.train() for _ in range(4)]
    for a, b in zip(expected, got, strict=True):
        for key in ("val_acc", "test_acc", "val_loss", "train_loss", "epoch"):
            assert a[key] == b[key], key
    for (name, a), (_, b) in zip(original.model.state_dict().items(),
                                 restored.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_reset_keeps_data_and_rebuilds_only_for_architecture(monkeypatch):
    from hpotk.data import hetero
    from hpotk.trainables import base

    real_load = hetero.load_node_task
    calls = []
    monkeypatch.setattr(hetero, "load_node_task", lambda spec: calls.append(spec) or real_load(spec))
    base._cached.cache_clear()

    trainable = make(CONFIG)
    trainable.train()
    model, graph = trainable.model, trainable.graph
    trained = model.head.weight.detach().clone()
    # Ray's own reset() path (reuse_actors): it sets self.config before calling reset_config
    assert trainable.reset({**CONFIG, "lr": 0.002, "dropout": 0.4, "batch-size": 32})
    assert trainable.model is model and trainable.graph is graph
    assert not torch.equal(model.head.weight, trained), "weights are re-initialised"
    assert trainable.optimizer.param_groups[0]["lr"] == 0.002
    assert model.dropout.p == 0.4 and trainable.num_batches() == 5
    assert trainable.train()["epoch"] == 1

    assert trainable.reset({**CONFIG, "num-hidden": 8})
    assert trainable.model is not model and trainable.model.head.in_features == 8
    assert trainable.graph is graph
    trainable.train()
    make(CONFIG).train()  # a new trial in the same worker process
    assert len(calls) == 1, "the dataset is loaded once per process"


def test_config_and_task_errors():
    with pytest.raises(ConfigError, match="space.num-hiden: .*no hyperparameter .*'num-hidden'"):
        make({**CONFIG, "num-hiden": 8})
    with pytest.raises(ConfigError, match="use-edge-features"):
        make({**CONFIG, "use-edge-features": True})
    with pytest.raises(ConfigError, match="supports node_class, node_regression and link_pred"):
        make(CONFIG, task={"task_type": "graph_class"})
    with pytest.raises(ConfigError, match="'acc' does not apply to link_prediction"):
        make(CONFIG, task={"task_type": "link_prediction", "eval_metric": {"metric": "acc"}})
    with pytest.raises(ConfigError, match="data.target_edge.*paper,cites,paper"):
        make(CONFIG, task={"task_type": "link_prediction"}, data={**DATA, "target_edge": "a,b,c"})
    with pytest.raises(ConfigError, match="'mse' does not apply to node_class"):
        make(CONFIG, task={"task_type": "node_class", "eval_metric": {"metric": "mse"}})
    accepted = make({**CONFIG, "per-feat-name-embed": True, "edge-num-hidden": 4,
                     "use-edge-features": False, "enable-early-stop": True,
                     "window-for-early-stop": 2})
    assert math.isfinite(accepted.train()["val_acc"])


def test_trains_on_a_users_heterodata_file(tmp_path):
    from torch_geometric.data import HeteroData

    data = HeteroData()
    data["user"].x = torch.randn(60, 4)
    data["item"].num_nodes = 6
    item = torch.arange(60) % 6
    data["user", "likes", "item"].edge_index = torch.stack([torch.arange(60), item])
    data["item", "liked_by", "user"].edge_index = torch.stack([item, torch.arange(60)])
    data["user"].y = item % 2  # the label is a property of the liked item
    torch.save(data, tmp_path / "g.pt")
    trainable = make({**CONFIG, "num-epochs": 30, "lr": 0.05},
                     data={"path": str(tmp_path / "g.pt"), "target": "user"})
    for _ in range(30):
        result = trainable.train()
    assert result["test_acc"] >= 0.9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_runs_on_the_gpu():
    trainable = make(CONFIG)
    assert trainable.device.type == "cuda"
    assert all(p.is_cuda for p in trainable.model.parameters())
    assert trainable.graph["edge_index"].is_cuda
    result = trainable.train()
    assert math.isfinite(result["val_acc"])


@pytest.mark.e2e
def test_seed_example_neptune_file_runs_as_given_and_tunes_tiers_1_2(hpotk_cli, tmp_path):
    """Neptune ML's own model-HPO-configuration.json (rgcn, node_class, acc), 12 trials, 2 at a time."""
    from pathlib import Path

    import pandas as pd

    seed_file = Path(__file__).resolve().parents[2] / "experiments" / "spaces" / "neptune_rgcn_seed.json"
    code, out, err = hpotk_cli("run", seed_file, "--data", "name=hetero-synthetic,nodes=300,seed=0",
                               "--trials", "12", "--parallel", "2", "--set", "results=out",
                               "--quiet")
    assert code == 0, out + err
    trials = pd.read_csv(tmp_path / "out" / "neptune_rgcn_seed" / "trials.csv")
    # Neptune's enable-early-stop defaults to true: a trial ends at num-epochs or earlier
    assert len(trials) == 12 and set(trials["status"]) <= {"COMPLETED", "EARLY_STOPPED"}
    for tuned in ("num-hidden", "num-epochs", "lr", "dropout", "layer-norm"):  # tiers 1 and 2
        assert trials[f"config/{tuned}"].nunique() > 1, tuned
    for fixed, value in (("batch-size", 1024), ("num-layer", 2), ("num-bases", 0)):  # tier 3
        assert set(trials[f"config/{fixed}"]) == {value}, fixed
    assert (trials["iterations"] <= trials["config/num-epochs"]).all()  # num-epochs ends a trial
    assert trials["finished"].any()
    assert trials["best_val_acc"].max() > 0.6  # 4 classes: chance is 0.25


def test_link_prediction_on_the_heterogeneous_graph_beats_random_ranking():
    """paper -published_in-> venue: held-out edges ranked against every venue, filtered."""
    data = {"name": "hetero-synthetic", "nodes": 1000, "seed": 0,
            "target_edge": "paper,published_in,venue"}
    trainable = make({**CONFIG, "num-hidden": 32, "batch-size": 128, "fanout": [10, 10],
                      "num-negs": 64, "num-epochs": 30}, data=data,
                     task={"task_type": "link_prediction", "eval_metric": {"metric": "mrr"}})
    links = trainable.links
    assert links.val.shape[1] == links.test.shape[1] == 63 and links.train.shape[1] == 504
    # held-out edges and their reverses are not in the graph messages pass over
    held = set(map(tuple, torch.cat([links.val, links.test], 1).t().tolist()))
    message = set(map(tuple, links.edge_index.t().tolist()))
    assert not held & message and not {(d, s) for s, d in held} & message
    venues = links.candidates.numel()  # each paper has one venue: no other known candidate
    random_mrr = sum(1 / k for k in range(1, venues + 1)) / venues
    with torch.no_grad():
        assert trainable.evaluate()["val_mrr"] < 1.2 * random_mrr
    best = max(trainable.train()["val_mrr"] for _ in range(30))
    assert best > 1.25 * random_mrr, (best, random_mrr)


def test_link_prediction_batch_edges_are_left_out_of_the_sampled_graph():
    data = {"name": "hetero-synthetic", "nodes": 400, "seed": 0}
    trainable = make(CONFIG, data=data, task={"task_type": "link_prediction"})
    links, n = trainable.links, trainable.data.num_nodes
    batch = links.train[:, :20]
    mask = links.batch_edges_mask(batch, n)
    assert int(mask.sum()) == 40  # each edge and its rev_published_in twin
    seeds = torch.unique(batch.reshape(-1))
    nodes, edge_index, _ = trainable.sampler.sample(seeds, [-1, -1], torch.Generator(), mask)
    sampled = set(map(tuple, nodes[edge_index].t().tolist()))
    pairs = set(map(tuple, batch.t().tolist()))
    assert not pairs & sampled and not {(d, s) for s, d in pairs} & sampled

