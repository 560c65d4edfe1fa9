"""Each fit recovers a known schedule with noise on it, and the BIC picks the right one."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from hpotk import lr_schedule as ls
from hpotk.errors import ConfigError
from hpotk.pbt import fits as pf

N = 40
NOISE = 0.05  # sd of log lr: a 5 % jitter


def noisy(spec, lr0, seed=0, n=N, noise=NOISE):
    rng = np.random.default_rng(seed)
    clean = np.array([ls.lr_at(spec, i, lr0) for i in range(1, n + 1)])
    return list(clean * np.exp(rng.normal(0, noise, n)))


CASES = {
    "constant": ({"type": "constant"}, 0.01),
    "multistep": ({"type": "multistep", "milestones": [12, 25], "gamma": 0.31}, 0.02),
    "step": ({"type": "step", "step_size": 8, "gamma": 0.5}, 0.05),
    "exponential": ({"type": "exponential", "gamma": 0.9}, 0.03),
    "cosine": ({"type": "cosine", "T_max": 40, "eta_min": 1e-4}, 0.01),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_bic_picks_the_true_schedule_and_recovers_its_parameters(name, seed):
    spec, lr0 = CASES[name]
    fits = pf.fit(noisy(spec, lr0, seed))
    best = fits[0]
    assert best.name == name, [(f.name, round(f.bic, 1)) for f in fits]
    assert best.lr0 == pytest.approx(lr0, rel=0.1)
    got = best.spec
    if name == "multistep":
        assert got["milestones"] == [12, 25]
        assert got["gamma"] == pytest.approx(0.31, rel=0.1)
    elif name == "step":
        assert got["step_size"] == 8 and got["gamma"] == pytest.approx(0.5, rel=0.1)
    elif name == "exponential":
        assert got["gamma"] == pytest.approx(0.9, rel=0.01)
    elif name == "cosine":
        assert abs(got["T_max"] - 40) <= 2
        assert math.log10(got["eta_min"]) == pytest.approx(-4, abs=0.5)
    # every candidate (the rise-then-fall ones too: tests/pbt/test_warmup.py) was fitted and
    # has an error and a BIC
    assert sorted(f.name for f in fits) == sorted(pf.FIT_ORDER)
    assert all(math.isfinite(f.rmse) and math.isfinite(f.bic) for f in fits)
    assert best.rmse == pytest.approx(NOISE, rel=0.5)


def test_torch_terms():
    fit = pf.fit(noisy(*CASES["multistep"]))[0]
    assert fit.torch.endswith("MultiStepLR(optimizer, milestones=[12, 25], gamma=0.31)")
    lr = float(re.match(r"optimizer lr=([0-9.e-]+);", fit.torch).group(1))
    assert lr == pytest.approx(0.02, rel=0.05)


def test_piecewise_keeps_each_change():
    spec = ls.piecewise([1, 2, 3, 4, 5], [0.1, 0.1, 0.05, 0.05, 0.2])
    assert spec == {"type": "piecewise", "points": [[1, 0.1], [3, 0.05], [5, 0.2]]}
    assert [ls.lr_at(spec, i, 0.1) for i in range(1, 7)] == [0.1, 0.1, 0.05, 0.05, 0.2, 0.2]


@pytest.mark.parametrize("spec, path, words", [
    ({"type": "multi"}, "lr_schedule.type", "expected one of"),
    ({"type": "multistep", "gamma": 0.5}, "lr_schedule.milestones", "required"),
    ({"type": "multistep", "milestones": [5, 3], "gamma": 0.5}, "lr_schedule.milestones",
     "increasing"),
    ({"type": "step", "step_size": 0, "gamma": 0.5}, "lr_schedule.step_size", ">= 1"),
    ({"type": "exponential", "gamma": -1}, "lr_schedule.gamma", "> 0"),
    ({"type": "cosine", "T_max": 10, "eta": 0}, "lr_schedule.eta", "unknown key"),
    ({"type": "piecewise", "points": [[1, 0.1], [1, 0.2]]}, "lr_schedule.points[1]", "increase"),
    ({"type": "piecewise", "points": [[0, 0.1]]}, "lr_schedule.points[0]", "iteration >= 1"),
    ("cosine", "lr_schedule", "mapping"),
])
def test_bad_schedules_name_the_key(spec, path, words):
    with pytest.raises(ConfigError) as err:
        ls.validate(spec)
    assert err.value.path == path and words in err.value.message


def test_experiment_files_take_lr_schedule_and_name_bad_keys():
    from hpotk import experiment

    doc = {"name": "x", "trainable": "mlp-digits", "space": {"lr": 0.01},
           "metric": {"name": "val_acc", "mode": "max"},
           "lr_schedule": {"type": "multistep", "milestones": [3], "gamma": 0.5}}
    exp = experiment.validate(doc, "x.yaml")
    assert exp.lr_schedule == {"type": "multistep", "milestones": [3], "gamma": 0.5}
    assert exp.to_dict()["lr_schedule"] == exp.lr_schedule
    assert experiment.validate({**doc, "lr_schedule": None}).lr_schedule is None
    with pytest.raises(ConfigError) as err:
        experiment.validate({**doc, "lr_schedule": {"type": "step", "gamma": 2}}, "x.yaml")
    assert err.value.path == "lr_schedule.step_size" and err.value.source == "x.yaml"
