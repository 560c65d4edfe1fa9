"""`hpotk.space.build` front door: files, Neptune documents, and Neptune ML's own example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpotk.errors import ConfigError
from hpotk.space import Fixed, build, load_neptune

DATA = Path(__file__).parent / "data"
SEED_EXAMPLE = DATA / "neptune_seed_example.json"
REPO = Path(__file__).resolve().parents[2]


def seed_doc() -> dict:
    return json.loads(SEED_EXAMPLE.read_text())


def test_seed_example_parsed_as_given_with_a_small_budget():
    space = build(str(SEED_EXAMPLE), trials=9)
    assert list(space.params) == ["num-hidden", "num-epochs", "lr"]
    hidden, epochs, lr = space.params.values()
    assert hidden.choices == (16, 32, 64, 128) and hidden.tier == 1
    assert (epochs.kind, epochs.low, epochs.high, epochs.step) == ("int", 3, 30, 1)
    assert (lr.scale, lr.low, lr.high, lr.kind) == ("log", 0.001, 0.01, "float")
    assert space.fixed_values() == {
        "dropout": 0.3, "layer-norm": True, "batch-size": 1024, "fanout": [10, 15, 15],
        "num-layer": 2, "num-bases": 0, "concat-node-embed": True, "use-self-loop": True,
        "low-mem": True, "l2norm": 0.0,
    }
    assert space.fixed["dropout"].reason == "tier 2 inactive: budget 9 trials < 10"
    assert space.fixed["fanout"].reason == "tier 3 inactive: budget 9 trials <= 50"
    assert space.fixed["l2norm"].reason == "fixed-param"
    # num-epochs has node_strategy perM but no graph size was given
    assert any("num-epochs: node_strategy perM: graph size unknown" in n for n in space.notes)


def test_seed_example_all_tiers():
    space = build(seed_doc(), trials=51, graph_nodes=25e6)
    assert list(space.params) == ["num-hidden", "lr", "dropout", "layer-norm", "batch-size",
                                  "fanout", "num-layer", "num-bases"]
    assert space.params["batch-size"].choices == (128, 256, 512, 1024, 2048, 4096)
    assert space.params["batch-size"].default == 1024
    assert space.params["fanout"].choices == ([10, 30], [15, 30])
    assert space.params["num-bases"].grid_values() == [0, 2, 4, 6, 8]
    assert space.params["num-layer"].grid_values() == [1, 2, 3]
    assert space.fixed["num-epochs"] == Fixed(
        "num-epochs", 1, "1-tier-param, linear, inc_val 1 over [3, 30]; node_strategy perM: "
        "graph of 25M nodes = 25 units, range [3, 30] / 25 -> [1, 1]: a single value", 1, "model")
    described = space.describe()
    assert described["tuned"]["num-hidden"]["sampling"] == "choice([16, 32, 64, 128])"
    assert described["fixed"]["low-mem"] == {"value": True, "why": "fixed-param", "tier": None}


def test_load_neptune_returns_the_single_model_entry():
    doc = seed_doc()
    entry = load_neptune(str(SEED_EXAMPLE))
    assert entry["model"] == "rgcn" and entry["task_type"] == "node_class"
    assert entry["eval_metric"] == {"metric": "acc"}
    assert entry["eval_frequency"] == {"type": "evaluate_every_epoch", "value": 1}
    for key in ("1-tier-param", "2-tier-param", "3-tier-param", "fixed-param"):
        assert entry[key] == doc["models"][0][key]
    # the entry itself is a space spec
    assert set(build(entry, trials=60).params) == set(build(doc, trials=60).params)
    # defaults for what the entry leaves out
    bare = load_neptune({"models": [{"model": "transe", "task_type": "link_prediction"}]})
    assert bare["eval_metric"] == {"metric": "mrr"} and bare["1-tier-param"] == []
    topk = load_neptune({"models": [{"model": "rgcn", "eval_metric": {"metric": "acc_topk",
                                                                      "topk": 2}}]})
    assert topk["eval_metric"] == {"metric": "acc_topk", "topk": 2}


def test_more_than_one_model_is_refused_like_neptune():
    doc = seed_doc()
    doc["models"].append(dict(doc["models"][0], model="transe"))
    with pytest.raises(ConfigError) as err:
        build(doc, trials=10)
    assert err.value.path == "space.models"
    assert "2 model entries" in str(err.value) and "exactly one" in str(err.value)
    with pytest.raises(ConfigError, match="^models: holds 2"):
        load_neptune(doc)


def test_shipped_experiment_space_is_the_seed_example():
    shipped = REPO / "experiments" / "spaces" / "neptune_rgcn_seed.json"
    assert json.loads(shipped.read_text()) == seed_doc()
    space = build("spaces/neptune_rgcn_seed.json", trials=12, base_dir=REPO / "experiments")
    assert "dropout" in space.params and "batch-size" in space.fixed


def test_yaml_file_and_relative_paths(tmp_path):
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "mlp.yaml").write_text(
        "lr: loguniform(-9.2, -2.3)\n"
        "hidden: {type: choice, values: [32, 64, 128]}\n"
        "layers: {type: integer, min_value: 1, max_value: 4, scaling: linear}\n"
        "epochs: 20\n")
    space = build("spaces/mlp.yaml", trials=8, base_dir=tmp_path)
    assert list(space.params) == ["lr", "hidden", "layers"]
    assert space.fixed_values() == {"epochs": 20}
    tiered = {"1-tier-param": [{"param": "lr", "range": [0.001, 0.1], "type": "float",
                                "inc_strategy": "log"}]}
    (tmp_path / "tiered.json").write_text(json.dumps(tiered))
    assert build(tmp_path / "tiered.json", trials=1).params["lr"].scale == "log"


def test_errors_inside_a_space_file_name_the_file_and_the_key_path(tmp_path):
    bad = {"1-tier-param": [{"param": "lr", "range": [0.1, 0.01], "type": "float"}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError) as err:
        build("bad.json", trials=5, base_dir=tmp_path)
    assert err.value.source == str(tmp_path / "bad.json")
    assert err.value.path == "1-tier-param[0].range"
    assert str(err.value).endswith("1-tier-param[0].range: low 0.1 must be < high 0.01")


def test_a_neptune_model_entry_alone_and_a_bare_tiered_doc():
    entry = seed_doc()["models"][0]
    assert set(build(entry, trials=5).params) == {"num-hidden", "num-epochs", "lr"}
    with pytest.raises(ConfigError, match=r"space\.task_type: unknown task_type"):
        build(dict(entry, task_type="graph_class"), trials=5)
    tiers = {k: v for k, v in entry.items() if k.endswith("param")}
    assert set(build(tiers, trials=5).params) == {"num-hidden", "num-epochs", "lr"}
