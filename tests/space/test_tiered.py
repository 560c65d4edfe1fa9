"""Tiered-JSON spaces (Neptune ML's model-HPO-configuration.json): every field, tier boundaries, graph-size scaling."""

from __future__ import annotations

import pytest

from hpotk.errors import ConfigError
from hpotk.space import Fixed, Param, build_tiered
from hpotk.space.tiered import active_tier


def tiers(t1=(), t2=(), t3=(), fixed=()):
    return {"1-tier-param": list(t1), "2-tier-param": list(t2), "3-tier-param": list(t3),
            "fixed-param": list(fixed)}


T1 = {"param": "lr", "range": [0.001, 0.01], "type": "float", "inc_strategy": "log"}
T2 = {"param": "dropout", "range": [0.0, 0.5], "type": "float", "inc_strategy": "linear",
      "default": 0.3}
T3 = {"param": "num-layer", "range": [1, 3], "type": "int", "inc_strategy": "linear",
      "inc_val": 1, "default": 2}


@pytest.mark.parametrize("trials, tuned", [
    (1, {"lr"}), (9, {"lr"}), (10, {"lr", "dropout"}), (50, {"lr", "dropout"}),
    (51, {"lr", "dropout", "num-layer"}), (1000, {"lr", "dropout", "num-layer"}),
])
def test_tier_activation_boundaries(trials, tuned):
    space = build_tiered(tiers([T1], [T2], [T3]), trials=trials)
    assert set(space.params) == tuned
    assert set(space.fixed) == {"lr", "dropout", "num-layer"} - tuned
    assert active_tier(trials) == len(tuned)  # one param per tier


def test_inactive_tiers_take_default_and_say_why():
    space = build_tiered(tiers([T1], [T2], [T3]), trials=9)
    assert space.fixed["dropout"] == Fixed("dropout", 0.3, "tier 2 inactive: budget 9 trials < 10",
                                           2, "algorithm")
    assert space.fixed["num-layer"].value == 2
    assert space.fixed["num-layer"].reason == "tier 3 inactive: budget 9 trials <= 50"
    space = build_tiered(tiers([T1], [T2], [T3]), trials=12)
    assert space.fixed["num-layer"].reason == "tier 3 inactive: budget 12 trials <= 50"
    assert space.notes[0].startswith("budget 12 trials: tiers 1-2 tuned")


def test_missing_default_for_inactive_tier_is_an_error_naming_the_entry():
    entry = {"param": "batch-size", "range": [128, 4096], "type": "int", "inc_strategy": "power2"}
    with pytest.raises(ConfigError) as err:
        build_tiered(tiers([T1], [], [entry]), trials=12)
    assert err.value.path == "space.3-tier-param[0]"
    assert "batch-size" in str(err.value) and "50" in str(err.value)
    with pytest.raises(ConfigError, match=r"space\.2-tier-param\[0\]"):
        build_tiered(tiers([T1], [dict(entry, param="b2")]), trials=9)
    # active: no default needed
    assert "batch-size" in build_tiered(tiers([T1], [], [entry]), trials=51).params


def test_power2_over_16_128():
    entry = {"param": "num-hidden", "range": [16, 128], "type": "int", "inc_strategy": "power2"}
    p = build_tiered(tiers([entry]), trials=1).params["num-hidden"]
    assert p.choices == (16, 32, 64, 128) and p.kind == "int" and p.is_choice
    odd = dict(entry, range=[20, 300])
    assert build_tiered(tiers([odd]), trials=1).params["num-hidden"].choices == (32, 64, 128, 256)


def test_linear_with_inc_val_is_quantised_from_low():
    entry = {"param": "num-bases", "range": [0, 8], "type": "int", "inc_strategy": "linear",
             "inc_val": 2}
    p = build_tiered(tiers([entry]), trials=1).params["num-bases"]
    assert (p.scale, p.low, p.high, p.step, p.kind) == ("linear", 0, 8, 2, "int")
    assert p.grid_values() == [0, 2, 4, 6, 8]
    off_grid = dict(entry, range=[1, 10])  # grid starts at low; high snapped down to 9
    space = build_tiered(tiers([off_grid]), trials=1)
    assert space.params["num-bases"].grid_values() == [1, 3, 5, 7, 9]
    floats = {"param": "d", "range": [0.05, 0.5], "type": "float", "inc_val": 0.1}
    assert build_tiered(tiers([floats]), trials=1).params["d"].grid_values() == [
        0.05, 0.15, 0.25, 0.35, 0.45]


def test_linear_without_inc_val_and_log():
    space = build_tiered(tiers([T1, T2, {"param": "n", "range": [3, 30], "type": "int"}]),
                         trials=10)
    lr, dropout, n = space.params["lr"], space.params["dropout"], space.params["n"]
    assert (lr.scale, lr.low, lr.high, lr.step) == ("log", 0.001, 0.01, None)
    assert (dropout.scale, dropout.kind, dropout.default) == ("linear", "float", 0.3)
    assert not dropout.is_discrete
    assert (n.scale, n.kind, n.low, n.high, n.step) == ("linear", "int", 3, 30, None)
    assert n.describe() == "randint[3, 30]"
    qlog = {"param": "h", "range": [10, 1000], "type": "int", "inc_strategy": "log", "inc_val": 10}
    h = build_tiered(tiers([qlog]), trials=1).params["h"]
    assert (h.scale, h.low, h.high, h.step) == ("log", 10, 1000, 10)


def test_bool_and_options():
    entries = [{"param": "layer-norm", "type": "bool", "default": True},
               {"param": "act", "options": ["relu", "tanh"]},
               {"param": "k", "type": "int", "options": [1, 3, 5], "default": 3},
               {"param": "use-x", "type": "bool", "default": "false"}]
    space = build_tiered(tiers(entries), trials=1)
    assert space.params["layer-norm"].choices == (True, False)
    assert space.params["layer-norm"].kind == "bool" and space.params["layer-norm"].default is True
    assert space.params["act"].choices == ("relu", "tanh")
    assert space.params["act"].kind == "categorical"
    assert space.params["k"].choices == (1, 3, 5) and space.params["k"].default == 3
    assert space.params["use-x"].default is False


def test_fixed_param_coerces_to_its_type():
    fixed = [{"param": "l2norm", "type": "float", "default": 0},
             {"param": "low-mem", "type": "bool", "default": True},
             {"param": "window", "type": "int", "default": "3"}]
    space = build_tiered(tiers(fixed=fixed), trials=100)
    assert space.fixed["l2norm"].value == 0.0 and isinstance(space.fixed["l2norm"].value, float)
    assert space.fixed["window"].value == 3 and space.fixed["low-mem"].reason == "fixed-param"
    assert space.params == {}


EPOCHS = {"param": "num-epochs", "range": [3, 30], "inc_strategy": "linear", "inc_val": 1,
          "type": "int", "node_strategy": "perM"}


def test_node_strategy_on_25M_node_graph():
    # [3, 30] is stated for 1M nodes; 25M nodes = 25 units: [0.12, 1.2] -> rounded, >= 1 -> [1, 1]
    space = build_tiered(tiers([EPOCHS]), trials=5, graph_nodes=25e6)
    fixed = space.fixed["num-epochs"]
    assert fixed.value == 1 and "node_strategy perM" in fixed.reason
    assert any("[3, 30] / 25 -> [1, 1]" in n for n in space.notes)
    wide = dict(EPOCHS, range=[10, 200])  # / 25 -> [0.4, 8] -> [1, 8]
    p = build_tiered(tiers([wide]), trials=5, graph_nodes=25e6).params["num-epochs"]
    assert (p.low, p.high, p.kind) == (1, 8, "int")
    assert "[10, 200] / 25 -> [1, 8]" in p.origin
    floats = {"param": "lr", "range": [0.01, 0.1], "type": "float", "inc_strategy": "log",
              "edge_strategy": "per10M"}
    p = build_tiered(tiers([floats]), trials=5, graph_edges=50e6).params["lr"]
    assert p.low == pytest.approx(0.002) and p.high == pytest.approx(0.02) and p.scale == "log"


def test_node_strategy_small_or_unknown_graph_keeps_range():
    for nodes in (None, 5e5, 1e6):
        space = build_tiered(tiers([EPOCHS]), trials=5, graph_nodes=nodes)
        p = space.params["num-epochs"]
        assert (p.low, p.high) == (3, 30)
        assert any("used as stated" in n for n in space.notes)
    p = build_tiered(tiers([dict(EPOCHS, node_strategy="per100M")]), trials=5,
                     graph_nodes=25e6).params["num-epochs"]
    assert (p.low, p.high) == (3, 30)


def test_power2_with_node_strategy_is_never_inverted():
    entry = {"param": "bs", "range": [16, 128], "type": "int", "inc_strategy": "power2",
             "node_strategy": "perM"}
    p = build_tiered(tiers([entry]), trials=5, graph_nodes=25e6).params["bs"]
    assert p.choices == (1, 2, 4)  # [16, 128] / 25 -> [1, 5]


def test_seed_fanout_entry_is_a_choice_over_lists():
    fanout = {"param": "fanout", "type": "int", "options": [[10, 30], [15, 30], [15, 30]],
              "default": [10, 15, 15]}
    space = build_tiered(tiers(t3=[fanout]), trials=60)
    p = space.params["fanout"]
    assert isinstance(p, Param) and p.choices == ([10, 30], [15, 30])
    assert p.kind == "categorical" and p.default == [10, 15, 15]
    assert any("repeated option" in n for n in space.notes)
    assert any("not one of the options" in n for n in space.notes)
    assert build_tiered(tiers(t3=[fanout]), trials=20).fixed["fanout"].value == [10, 15, 15]


def test_role_defaults_and_override():
    space = build_tiered(tiers([T1, dict(T3, param="num-hidden", role="algorithm")]), trials=1)
    assert space.params["lr"].role == "algorithm"
    assert space.params["num-hidden"].role == "algorithm"
    space = build_tiered(tiers([dict(T3, param="num-hidden")]), trials=1)
    assert space.params["num-hidden"].role == "model"


def test_missing_sections_are_empty():
    space = build_tiered({"1-tier-param": [T1]}, trials=100)
    assert list(space.params) == ["lr"] and space.fixed == {}


def test_default_outside_a_scaled_range_is_dropped_with_a_note():
    entry = dict(EPOCHS, range=[10, 200], default=100)  # / 25 -> [1, 8]
    space = build_tiered(tiers([entry]), trials=5, graph_nodes=25e6)
    assert space.params["num-epochs"].default is None
    assert any("default 100 is outside the scaled range [1, 8]" in n for n in space.notes)
    assert space.defaults()["num-epochs"] in range(1, 9)


def test_defaults_of_an_off_grid_quantised_param_stay_on_the_grid():
    entry = {"param": "k", "range": [1, 10], "type": "int", "inc_val": 2}
    space = build_tiered(tiers([entry]), trials=1)
    assert space.defaults()["k"] in space.params["k"].grid_values()
