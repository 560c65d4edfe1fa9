"""transe / distmult / rotate trainables: filtered MRR well above random ranking, checkpoints,
reset, negative sampling, config errors, GPU."""

from __future__ import annotations

import math

import pytest
import torch

from hpotk.errors import ConfigError
from hpotk.trainables import kge
from hpotk.trainables.base import TrainContext
from tests.helpers import build_trainable

DATA = {"name": "kg-synthetic", "entities": 200, "seed": 0}
CONFIG = {"num-hidden": 32, "lr": 0.05, "batch-size": 256, "gamma": 6.0, "num-negs": 32,
          "num-epochs": 20}
CLASSES = {"transe": kge.TransETrainable, "distmult": kge.DistMultTrainable,
           "rotate": kge.RotatETrainable}


def make(model: str, config: dict, task: dict | None = None, **context) -> kge.KGETrainable:
    ctx = TrainContext(data=context.pop("data", DATA), metric="val_mrr", mode="max",
                       task=task or {"task_type": "link_prediction",
                                     "eval_metric": {"metric": "mrr"}}, **context)

    return build_trainable(CLASSES[model], config, ctx)


@pytest.fixture(scope="module", autouse=True)
def _cache_and_threads(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # scatter/gather kernels crawl when threads compete for 2 cores
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("kge-cache")))
        yield
    torch.set_num_threads(threads)


def random_ranking_mrr(trainable: kge.KGETrainable, triples: torch.Tensor) -> float:
    """Expected filtered MRR of uniformly random scores: mean of H_n / n over the rankings,
    n = candidates left after filtering (the true one included)."""
    values = []
    for side in ("tail", "head"):
        left = trainable.data.num_entities - trainable.data.known_mask(
            triples, side, trainable.known).sum(1) + 1
        values += [sum(1.0 / k for k in range(1, n + 1)) / n for n in left.tolist()]
    return sum(values) / len(values)


def test_registered():
    from hpotk.trainables import TRAINABLES

    for name, cls in CLASSES.items():
        assert TRAINABLES.resolve(name) is cls


@pytest.mark.parametrize("model,factor", [("transe", 2.0), ("distmult", 5.0), ("rotate", 5.0)])
def test_reaches_an_mrr_well_above_random_ranking(model, factor):
    trainable = make(model, CONFIG, eval_frequency={"type": "evaluate_every_epoch", "value": 10})
    baseline = random_ranking_mrr(trainable, trainable.data.test)
    with torch.no_grad():
        untrained = trainable.evaluate()["test_mrr"]
    first, last = trainable.train(), trainable.train()
    assert last["epoch"] == 20 and last["done"] and last["finished"] and not first.get("done")
    assert untrained < 2.0 * baseline  # the ranking code does not flatter an untrained model
    assert last["test_mrr"] > factor * baseline, (last["test_mrr"], baseline)
    assert last["val_mrr"] > factor * baseline and 0 < last["test_hits10"] <= 1


def test_negative_sharing():
    shared = make("distmult", {**CONFIG, "neg-share": True})
    own = make("distmult", {**CONFIG, "neg-share": False})
    generator = torch.Generator().manual_seed(0)
    assert shared._negatives(10, generator).shape == (1, 32)
    assert own._negatives(10, generator).shape == (10, 32)
    assert math.isfinite(own.train()["val_mrr"])


def test_checkpoint_continues_bit_identically(tmp_path):
    context = {"eval_frequency": {"type": "evaluate_every_batch", "value": 2}}
    config = {**CONFIG, "neg-share": False, "regularization-coef": 1e-6, "batch-size": 512}
    original = make("rotate", config, **context)  # ~1400 training triples: 3 batches an epoch
    original.train()  # stops mid-epoch
    saved = original.save(str(tmp_path / "ckpt"))
    expected = [original.train() for _ in range(3)]
    restored = make("rotate", config, **context)
    restored.restore(saved)
    got = [restored.train() for _ in range(3)]
    for a, b in zip(expected, got, strict=True):
        for key in ("val_mrr", "test_mrr", "val_loss", "train_loss", "epoch"):
            assert a[key] == b[key], key
    assert torch.equal(original.model.entity.weight, restored.model.entity.weight)


def test_reset_keeps_data_and_rebuilds_only_for_architecture(monkeypatch):
    from hpotk.data import kg
    from hpotk.trainables import base

    real_load = kg.load_kg_task
    calls = []
    monkeypatch.setattr(kg, "load_kg_task", lambda spec: calls.append(spec) or real_load(spec))
    base._cached.cache_clear()
    trainable = make("transe", CONFIG)
    trainable.train()
    model, trained = trainable.model, trainable.model.entity.weight.detach().clone()
    assert trainable.reset({**CONFIG, "lr": 0.01, "num-negs": 8})  # Ray's reuse_actors path
    assert trainable.model is model and not torch.equal(model.entity.weight, trained)
    bound = (6.0 + 2.0) / 32
    assert float(model.entity.weight.detach().abs().max()) <= bound  # re-initialised uniformly
    assert trainable.optimizer.param_groups[0]["lr"] == 0.01
    assert trainable.reset({**CONFIG, "gamma": 3.0})
    assert trainable.model is not model and trainable.model.gamma == 3.0
    make("transe", CONFIG)
    assert len(calls) == 1, "the dataset is loaded once per process"


def test_config_and_task_errors():
    with pytest.raises(ConfigError, match="space.num-neg: .*no hyperparameter .*hyperparameters are"):
        make("rotate", {**CONFIG, "num-neg": 3})
    with pytest.raises(ConfigError, match="num-negs"):
        make("rotate", {**CONFIG, "num-negs": 0})
    with pytest.raises(ConfigError, match="link_prediction"):
        make("rotate", CONFIG, task={"task_type": "node_class"})
    with pytest.raises(ConfigError, match="reports 'mrr'"):
        make("rotate", CONFIG, task={"eval_metric": {"metric": "acc"}})
    assert make("rotate", {**CONFIG, "rel-part": True}).train()["epoch"] == 1


def test_trains_on_a_users_tsv(tmp_path):
    lines = [f"p{i}\tworks_at\tc{i % 4}" for i in range(40)]
    lines += [f"c{i % 4}\temploys\tp{i}" for i in range(40)]
    (tmp_path / "kg.tsv").write_text("\n".join(lines) + "\n")
    trainable = make("distmult", {**CONFIG, "num-epochs": 2},
                     data={"path": str(tmp_path / "kg.tsv"), "seed": 1})
    assert trainable.data.num_entities == 44 and trainable.data.relations == ["works_at", "employs"]
    result = trainable.train()
    assert math.isfinite(result["val_mrr"]) and 0 < result["test_mrr"] <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_runs_on_the_gpu():
    trainable = make("rotate", CONFIG)
    assert trainable.device.type == "cuda" and trainable.model.entity.weight.is_cuda
    assert trainable.known.is_cuda and trainable.train_triples.is_cuda
    assert math.isfinite(trainable.train()["val_mrr"])
