"""Warm-up and one-cycle schedules: the runtime lr is torch's, step by step; each fit recovers a
known rise and fall, on noise and on PBT-like quantised lineages, and BIC picks it over the
decays; the decays are still picked where the lr never rose; malformed specs name key and fix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hpotk import lr_schedule as ls
from hpotk.errors import ConfigError
from hpotk.pbt import fits as pf
from hpotk.pbt import fits_rising as rising
from tests.pbt import simulated
from tests.pbt.test_fit import CASES as DECAYS
from tests.pbt.test_fit import NOISE, N, noisy

# Each rise-then-fall family with a known schedule over N = 40 iterations. The warm-up fits
# search every warm-up length, so these also test that the length is found, not given.
TRUTHS = {
    "warmup-exponential": ({"type": "warmup", "warmup_iters": 8, "start_factor": 0.125,
                            "then": {"type": "exponential", "gamma": 0.9}}, 0.08),
    "warmup-step": ({"type": "warmup", "warmup_iters": 8, "start_factor": 0.125,
                     "then": {"type": "step", "step_size": 10, "gamma": 0.4}}, 0.05),
    "warmup-cosine": ({"type": "warmup", "warmup_iters": 10, "start_factor": 0.1,
                       "then": {"type": "cosine", "T_max": 30, "eta_min": 4e-4}}, 0.02),
    "onecycle-cos": ({"type": "onecycle", "total_steps": N, "pct_start": 0.25,
                      "anneal_strategy": "cos", "div_factor": 10, "final_div_factor": 10}, 0.1),
    "onecycle-linear": ({"type": "onecycle", "total_steps": N, "pct_start": 0.3,
                         "anneal_strategy": "linear", "div_factor": 8, "final_div_factor": 5},
                        0.1),
}


def truth(name):
    spec, lr0 = TRUTHS[name]
    return ls.validate(spec), lr0


def summary(fits):
    return [(f.name, round(f.bic, 1)) for f in fits]


# --- the runtime lr is torch's -------------------------------------------------------------------

RUNTIME = [
    {"type": "warmup", "warmup_iters": 5, "start_factor": 0.1,
     "then": {"type": "exponential", "gamma": 0.9}},
    {"type": "warmup", "warmup_iters": 3, "start_factor": 0.2,
     "then": {"type": "step", "step_size": 4, "gamma": 0.5}},
    {"type": "warmup", "warmup_iters": 4, "start_factor": 0.05,
     "then": {"type": "cosine", "T_max": 10, "eta_min": 1e-4}},
    {"type": "warmup", "warmup_iters": 4, "then": {"type": "multistep", "milestones": [2, 7],
                                                   "gamma": 0.3}},
    {"type": "warmup", "warmup_iters": 6},
    {"type": "onecycle", "total_steps": 30},
    {"type": "onecycle", "total_steps": 30, "pct_start": 0.45, "anneal_strategy": "linear",
     "div_factor": 10, "final_div_factor": 100},
]


def _id(spec):
    return "-".join(str(v["type"] if isinstance(v, dict) else v) for v in spec.values())


@pytest.mark.parametrize("spec", RUNTIME, ids=[_id(s) for s in RUNTIME])
def test_lr_at_is_what_torchs_scheduler_gives_each_group(spec):
    """Two parameter groups, scheduler.step() after each iteration, 30 iterations (all of the
    one-cycle, and past the end of every warm-up and the cosine's T_max)."""
    spec = ls.validate(spec)
    base = [0.1, 0.03]
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in base]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base,
                                                                              strict=True)])
    scheduler = ls.torch_scheduler(optimizer, spec)
    for iteration in range(1, 31):
        got = [g["lr"] for g in optimizer.param_groups]
        want = [ls.lr_at(spec, iteration, base[0], b) for b in base]
        assert got == pytest.approx(want, rel=1e-12, abs=0), iteration
        optimizer.step()
        scheduler.step()


def test_onecycle_keeps_its_last_lr_past_total_steps():
    spec = ls.validate({"type": "onecycle", "total_steps": 10, "anneal_strategy": "linear"})
    last = ls.lr_at(spec, 10, 0.1)
    assert last == pytest.approx(0.1 / 25 / 1e4)
    assert [ls.lr_at(spec, i, 0.1) for i in (11, 50)] == [last, last]


# --- fits on noise -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TRUTHS))
@pytest.mark.parametrize("seed", [0, 1])
def test_each_rising_fit_recovers_its_schedule_from_noise(name, seed):
    """5 % noise on log lr, as the decays' test: BIC picks the true family; the warm-up length
    (peak iteration) is exact, the peak lr within 10 %, and the rest within the tolerances
    below."""
    spec, lr0 = truth(name)
    fits = pf.fit(noisy(spec, lr0, seed))
    best = fits[0]
    assert best.name == name, summary(fits)
    assert ls.peak_epoch(best.spec) == pytest.approx(ls.peak_epoch(spec), abs=0.01)
    assert best.lr0 == pytest.approx(lr0, rel=0.1)
    got = best.spec
    if got["type"] == "warmup":
        assert got["start_factor"] == pytest.approx(spec["start_factor"], rel=0.15)
        then, want = got["then"], spec["then"]
        if then["type"] in ("exponential", "step"):
            assert then["gamma"] == pytest.approx(want["gamma"], rel=0.05)
        if then["type"] == "step":
            assert then["step_size"] == want["step_size"]
        if then["type"] == "cosine":
            assert abs(then["T_max"] - want["T_max"]) <= 2
            assert math.log10(then["eta_min"]) == pytest.approx(math.log10(want["eta_min"]),
                                                                abs=0.3)
    else:
        assert got["anneal_strategy"] == spec["anneal_strategy"]
        assert got["div_factor"] == pytest.approx(spec["div_factor"], rel=0.15)
        assert got["final_div_factor"] == pytest.approx(spec["final_div_factor"], rel=0.3)
    assert best.rmse == pytest.approx(NOISE, rel=0.5)
    assert all(math.isfinite(f.bic) for f in fits) and len(fits) == 10


# --- fits on PBT-like lineages -------------------------------------------------------------------

# Tolerances on quantised lineages (tests/pbt/simulated.quantised, perturbation every 2
# iterations). The fitted peak lr is within a factor PEAK_LR[factor] of the true one: the
# lineage's lrs are on a grid of powers of the factor (half a step off at most, and a step more
# where it slips), and a smooth fit passes through the middle of its steps. The fitted peak
# iteration is from 1 before to 6 (three perturbation intervals) after the true one: each
# perturbation follows the interval just trained, and the lineage stays on its top grid point
# while the optimum is within half a step of its peak, so its top is late and flat.
PEAK_LR = {1.2: 1.25, 2.0: 1.5}
PEAK_ITERATIONS = (-1, 6)


@pytest.mark.parametrize("name", list(TRUTHS))
@pytest.mark.parametrize("factor", list(PEAK_LR))
@pytest.mark.parametrize("seed", [0, 1])
def test_rising_fits_find_the_peak_in_pbt_like_lineages(name, factor, seed):
    spec, lr0 = truth(name)
    lineage = simulated.quantised(spec, lr0, n=N, seed=seed, factor=factor)
    fits = pf.fit(lineage)
    best = fits[0]
    assert best.name in rising.FIT_NAMES, summary(fits)
    assert 1 / PEAK_LR[factor] <= best.lr0 / lr0 <= PEAK_LR[factor], (best.torch, lineage)
    late = ls.peak_epoch(best.spec) - ls.peak_epoch(spec)
    assert PEAK_ITERATIONS[0] <= late <= PEAK_ITERATIONS[1], (best.torch, lineage)


@pytest.mark.parametrize("name", list(DECAYS))
@pytest.mark.parametrize("factor", [1.2, 2.0])
@pytest.mark.parametrize("interval", [2, 3])
def test_decays_are_still_picked_where_the_lr_never_rose(name, factor, interval):
    """The decays' own schedules, quantised as PBT follows them (never one step off, so the
    lineage never rises): a decay wins, whichever (a quantised exponential is a staircase)."""
    spec, lr0 = DECAYS[name]
    lineage = simulated.quantised(ls.validate(spec), lr0, n=N, interval=interval, factor=factor,
                                  slip=0)
    assert all(b <= a for a, b in zip(lineage, lineage[1:], strict=False))
    fits = pf.fit(lineage)
    assert fits[0].name in DECAYS, summary(fits)


def test_a_lagging_decay_is_not_called_a_warm_up():
    """A StepLR that PBT followed two iterations late is a hold, then steps: with start_factor
    1 a 'warm-up then StepLR' would fit it exactly, so a fitted rise must rise (MAX_START)."""
    late = [0.05] * 2 + [ls.lr_at({"type": "step", "step_size": 8, "gamma": 0.5}, i, 0.05)
                         for i in range(1, N - 1)]
    fits = pf.fit(late)
    assert fits[0].name == "multistep", summary(fits)
    warm = next(f for f in fits if f.name == "warmup-step")
    assert warm.spec["start_factor"] <= rising.MAX_START + 1e-9


# --- what is printed is torch code ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(TRUTHS))
def test_the_printed_torch_code_runs_the_fitted_schedule(name):
    """Run the Fit's ``torch`` text as code: it gives the fitted lr per iteration (to the 4
    significant digits it prints)."""
    spec, lr0 = truth(name)
    best = pf.fit(noisy(spec, lr0))[0]
    head, code = best.torch.split("; ", 1)
    lr = float(head.removeprefix("optimizer lr="))
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    namespace = {"optimizer": optimizer, **vars(torch.optim.lr_scheduler)}
    scheduler = eval(code, namespace)  # noqa: S307 - our own printed code
    seen = []
    for _ in range(N):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert np.allclose(np.log(seen), np.log(best.predicted), atol=0.01), best.torch


# --- malformed specs -----------------------------------------------------------------------------

WARM = {"type": "warmup", "warmup_iters": 5}
CYCLE = {"type": "onecycle", "total_steps": 40}


@pytest.mark.parametrize("spec, path, words", [
    ({"type": "warmup"}, "lr_schedule.warmup_iters", "required for type warmup, e.g."),
    ({**WARM, "warmup_iters": 0}, "lr_schedule.warmup_iters", "integer >= 1"),
    ({**WARM, "warmup_iters": 2.5}, "lr_schedule.warmup_iters", "integer >= 1"),
    ({**WARM, "start_factor": 0}, "lr_schedule.start_factor", "0 < start_factor <= 1"),
    ({**WARM, "start_factor": 2}, "lr_schedule.start_factor", "0 < start_factor <= 1"),
    ({**WARM, "end_factor": 1}, "lr_schedule.end_factor", "valid keys: ['type', 'warmup_iters'"),
    ({**WARM, "then": "cosine"}, "lr_schedule.then", "e.g. {type: cosine, T_max: 30}"),
    ({**WARM, "then": {"type": "onecycle", "total_steps": 9}}, "lr_schedule.then.type",
     "after a warm-up, expected one of ['constant', 'multistep'"),
    ({**WARM, "then": {"type": "exponential"}}, "lr_schedule.then.gamma",
     "required for type exponential, e.g. {type: exponential, gamma: 0.95}"),
    ({**WARM, "then": {"type": "cosine", "T_max": 0}}, "lr_schedule.then.T_max", ">= 1"),
    ({"type": "onecycle"}, "lr_schedule.total_steps", "required for type onecycle, e.g."),
    ({**CYCLE, "total_steps": 1}, "lr_schedule.total_steps", "at least budget.max_t"),
    ({**CYCLE, "pct_start": 1.0}, "lr_schedule.pct_start", "0.025 < pct_start < 1"),
    ({**CYCLE, "pct_start": 0.02}, "lr_schedule.pct_start", "after the first iteration"),
    ({**CYCLE, "anneal_strategy": "cosine"}, "lr_schedule.anneal_strategy",
     "expected one of ['cos', 'linear'], got 'cosine'"),
    ({**CYCLE, "div_factor": 0}, "lr_schedule.div_factor", "a number > 0"),
    ({**CYCLE, "final_div_factor": "big"}, "lr_schedule.final_div_factor", "a number > 0"),
    ({**CYCLE, "three_phase": True}, "lr_schedule.three_phase",
     "unknown key for type onecycle; valid keys"),
])
def test_bad_rising_schedules_name_the_key_and_the_fix(spec, path, words):
    with pytest.raises(ConfigError) as err:
        ls.validate(spec)
    assert err.value.path == path and words in err.value.message, err.value


def test_defaults_are_torchs():
    assert ls.validate(WARM) == {"type": "warmup", "warmup_iters": 5,
                                 "start_factor": pytest.approx(1 / 3),
                                 "then": {"type": "constant"}}
    assert ls.validate(CYCLE) == {"type": "onecycle", "total_steps": 40, "pct_start": 0.3,
                                  "anneal_strategy": "cos", "div_factor": 25.0,
                                  "final_div_factor": 1e4}


def test_experiment_files_take_the_rising_forms():
    from hpotk import experiment

    doc = {"name": "x", "trainable": "mlp-digits", "space": {"lr": 0.01},
           "metric": {"name": "val_acc", "mode": "max"},
           "lr_schedule": {"type": "warmup", "warmup_iters": 3, "start_factor": 0.1,
                           "then": {"type": "cosine", "T_max": 20}}}
    exp = experiment.validate(doc, "x.yaml")
    assert exp.lr_schedule["then"] == {"type": "cosine", "T_max": 20, "eta_min": 0.0}
    with pytest.raises(ConfigError) as err:
        experiment.validate({**doc, "lr_schedule": {**CYCLE, "pct_start": 2}}, "x.yaml")
    assert err.value.path == "lr_schedule.pct_start" and err.value.source == "x.yaml"
