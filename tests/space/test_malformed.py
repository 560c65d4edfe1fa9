"""Malformed spaces: each gives a ConfigError naming the key path, the value and the rule."""

from __future__ import annotations

import pytest

from hpotk.errors import ConfigError
from hpotk.space import build

LR = {"param": "lr", "range": [0.001, 0.01], "type": "float", "inc_strategy": "log"}


def t1(*entries, **sections):
    return {"1-tier-param": list(entries), **sections}


def e(**fields):
    return {"param": "x", "type": "float", "range": [0.0, 1.0], **fields}


TIERED = [
    # (doc, key path, words the message must contain)
    (t1(LR, {"param": "n", "range": [1, 4], "type": "int"},
        dict(LR, param="wd", range=[0.1, 0.01])),
     "space.1-tier-param[2].range", "low 0.1 must be < high 0.01"),
    (t1(e(range=[0.0, 1.0], inc_strategy="log")), "space.1-tier-param[0].range",
     "must be > 0"),
    (t1(e(range=[-1.0, 1.0], inc_strategy="log")), "space.1-tier-param[0].range",
     "got low -1"),
    (t1({"param": "act", "options": []}), "space.1-tier-param[0].options", "empty list"),
    (t1(e(inc_stratgy="log")), "space.1-tier-param[0].inc_stratgy",
     "valid fields: param, type, default, range, options, inc_strategy"),
    (t1(e(inc_strategy="exp")), "space.1-tier-param[0].inc_strategy",
     "valid: linear, log, power2"),
    (t1(e(type="double")), "space.1-tier-param[0].type", "valid types: int, float, bool"),
    (t1({"type": "float", "range": [0, 1]}), "space.1-tier-param[0].param", "param name"),
    ({"1-tier-param": [LR], "3-tier-param": [dict(LR, default=0.005)]},
     "space.3-tier-param[0].param", "duplicate param 'lr', first given at space.1-tier-param[0]"),
    (t1(e(default=2.0)), "space.1-tier-param[0].default", "default 2 is outside range [0, 1]"),
    (t1(e(type="int", range=[5, 7], inc_strategy="power2")), "space.1-tier-param[0].range",
     "no power of two in [5, 7]"),
    (t1(e(inc_val=2)), "space.1-tier-param[0].inc_val", "larger than the range width"),
    (t1(e(range=[0, 1, 2])), "space.1-tier-param[0].range", "expected [low, high]"),
    (t1(e(range=["a", 1])), "space.1-tier-param[0].range[0]", "expected a number"),
    (t1(e(type="int", range=[0.5, 4])), "space.1-tier-param[0].range[0]", "expected an integer"),
    (t1({"param": "x", "type": "float"}), "space.1-tier-param[0]", "neither range nor options"),
    (t1(e(node_strategy="perK")), "space.1-tier-param[0].node_strategy",
     "valid: perM, per10M, per100M"),
    (t1(LR, **{"4-tier-param": []}), "space.4-tier-param",
     "valid sections: 1-tier-param, 2-tier-param, 3-tier-param, fixed-param"),
    (t1(LR, **{"fixed-param": [{"param": "l2norm", "type": "float"}]}), "space.fixed-param[0]",
     "needs a default"),
    (t1(LR, **{"3-tier-param": [{"param": "d", "range": [0, 1], "type": "float"}]}),
     "space.3-tier-param[0]", "no default"),
    (t1({"param": "k", "type": "int", "options": [1, "two"]}), "space.1-tier-param[0].options[1]",
     "not of type int"),
    (t1({"param": "b", "type": "bool", "range": [0, 1]}), "space.1-tier-param[0].range",
     "bool param takes no range"),
    (t1({"param": "x", "range": [0, 1]}), "space.1-tier-param[0].type", "type is required"),
    ({"1-tier-param": {"param": "lr"}}, "space.1-tier-param", "expected a list"),
]

DISTRIBUTIONS = [
    ({"lr": {"type": "gaussian", "mu": 0}}, "space.lr.type", "valid: choice, uniform"),
    ({"lr": {"type": "uniform", "min_value": 0}}, "space.lr.max_value", "max_value is missing"),
    ({"lr": {"type": "uniform", "min_value": 1, "max_value": 0}}, "space.lr",
     "low 1 must be < high 0"),
    ({"bs": {"type": "choice", "values": []}}, "space.bs.values", "empty list"),
    ({"x": "normal(0, 0)"}, "space.x.sigma", "must be > 0"),
    ({"m": {"type": "continuous", "min_value": 0.5, "max_value": 1.0,
            "scaling": "reverse_log"}}, "space.m", "0 <= min_value < max_value < 1"),
    ({"m": {"type": "integer", "min_value": 1, "max_value": 5, "scaling": "ReverseLogarithmic"}},
     "space.m.scaling", "only to continuous ranges"),
    ({"x": {"type": "continuous", "min_value": 0, "max_value": 1, "scaling": "log"}},
     "space.x.min_value", "log scaling needs min_value > 0"),
    ({"x": {"type": "continuous", "min_value": 0, "max_value": 1, "scaling": "cubic"}},
     "space.x.scaling", "unknown scaling 'cubic'"),
    ({"x": "gauss(0, 1)"}, "space.x", "unknown distribution 'gauss'"),
    ({"x": "uniform(0,"}, "space.x", "cannot read"),
    ({"x": "uniform(0, 1, 2)"}, "space.x", "takes 2 arguments"),
    ({"x": {"type": "uniform", "min": 0, "max_value": 1}}, "space.x.min",
     "valid fields: type, min_value, max_value, role, default"),
    ({"x": {"type": "choice", "values": [1, 2], "default": 3}}, "space.x.default",
     "not one of the values"),
    ({"x": {"type": "randint", "upper": 0}}, "space.x.upper", "must be >= 1"),
    ({"x": "quniform(0.1, 0.2, 1)"}, "space.x.q", "no multiple of q=1"),
    ({"x": {"type": "uniform", "min_value": 0, "max_value": 1, "role": "arch"}}, "space.x.role",
     "valid roles: model, algorithm"),
    ({"x": {"type": "uniform", "min_value": 0, "max_value": 1, "default": 5}}, "space.x.default",
     "outside [0, 1]"),
    ({"x": {"min_value": 0, "max_value": 1}}, "space.x.type", "unknown distribution type None"),
]

NEPTUNE = [
    ({"models": []}, "space.models", "one model entry"),
    ({"models": [{"model": "rgcn"}, {"model": "transe"}]}, "space.models", "exactly one"),
    ({"models": [{"model": "rgcn", "eval_metric": {"metric": "auc"}}]},
     "space.models[0].eval_metric.metric", "valid: acc, acc_topk, F1"),
    ({"models": [{"model": "rgcn", "eval_frequency": {"type": "evaluate_every_pct",
                                                      "value": 5}}]},
     "space.models[0].eval_frequency.value", "fraction in (0, 1]"),
    ({"models": [{"task_type": "node_class"}]}, "space.models[0].model", "model name"),
    ({"models": [{"model": "rgcn"}], "version": 2}, "space.version", "valid keys: models"),
    ({"models": [{"model": "rgcn", "1-tier-param": [dict(LR, range=[1, 0])]}]},
     "space.models[0].1-tier-param[0].range", "must be <"),
]


@pytest.mark.parametrize("doc, path, words", TIERED + DISTRIBUTIONS + NEPTUNE)
def test_malformed_space(doc, path, words):
    with pytest.raises(ConfigError) as err:
        build(doc, trials=12)
    assert err.value.path == path
    assert f"{path}: " in str(err.value) and words in str(err.value)


def test_inverted_range_message_in_full():
    doc = t1(LR, {"param": "n", "range": [1, 4], "type": "int"}, dict(LR, param="wd",
                                                                    range=[0.1, 0.01]))
    with pytest.raises(ConfigError) as err:
        build(doc, trials=5)
    assert str(err.value) == "space.1-tier-param[2].range: low 0.1 must be < high 0.01"


def test_bad_files_and_budgets(tmp_path):
    with pytest.raises(ConfigError, match=r"^space: file not found: .*nope\.json"):
        build("nope.json", trials=5, base_dir=tmp_path)
    (tmp_path / "bad.json").write_text('{"lr": "uniform(0, 1)",,}')
    with pytest.raises(ConfigError, match=r"^space: invalid JSON in .*bad\.json: .* line 1"):
        build("bad.json", trials=5, base_dir=tmp_path)
    (tmp_path / "bad.yaml").write_text("lr: [1, 2\n")
    with pytest.raises(ConfigError, match=r"^space: invalid YAML in .*bad\.yaml at line"):
        build("bad.yaml", trials=5, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^space: expected a \.json, \.yaml or \.yml file"):
        build("space.txt", trials=5, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^space: expected a space file path"):
        build(5, trials=5)
    with pytest.raises(ConfigError, match=r"^budget\.trials: expected a whole number"):
        build(t1(LR), trials=0)
