"""experiments/spaces/neptune/*.json: each template builds, and its trainable accepts what it samples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hpotk.space import build, load_neptune
from hpotk.trainables import TRAINABLES
from hpotk.trainables.base import TrainContext
from tests.helpers import build_trainable

TEMPLATES = Path(__file__).resolve().parents[2] / "experiments" / "spaces" / "neptune"
DATA = {"rgcn": {"name": "hetero-synthetic", "nodes": 300, "seed": 0},
        "transe": {"name": "kg-synthetic", "entities": 60, "seed": 0}}


@pytest.fixture(scope="module", autouse=True)
def _cache_and_threads(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("template-cache")))
        yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("model", ["rgcn", "transe", "distmult", "rotate"])
def test_template_tiers_and_a_sampled_trial(model):
    entry = load_neptune(TEMPLATES / f"{model}.json")
    assert entry["model"] == model
    tuned = {trials: set(build(entry, trials=trials, graph_nodes=300, graph_edges=3000).params)
             for trials in (5, 12, 64)}
    assert tuned[5] < tuned[12] < tuned[64]  # tiers 1, 1-2, 1-3
    assert {"num-hidden", "lr", "num-epochs"} <= tuned[5]
    space = build(entry, trials=64, graph_nodes=300, graph_edges=3000)
    config = {name: domain.sample() if hasattr(domain, "sample") else domain
              for name, domain in space.to_ray().items()}
    config["num-epochs"] = 1
    metric = f"val_{entry['eval_metric']['metric']}"
    context = TrainContext(data=DATA.get(model, DATA["transe"]), metric=metric, mode="max",
                           task={"task_type": entry["task_type"],
                                 "eval_metric": entry["eval_metric"]})

    result = build_trainable(TRAINABLES.resolve(model), config, context).train()
    assert result["done"] and math.isfinite(result[context.metric])
