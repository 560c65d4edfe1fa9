"""What the bo searcher adds to the conformance suite: Dragonfly's domain built from Params,
acquisition options, the GP phase, trials in flight, robustness, and silence."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from hpotk.errors import ConfigError
from hpotk.searchers import SearchContext, make
from hpotk.searchers.bo import _believing, _Dim, parse_acq
from hpotk.searchers.unit import contains
from hpotk.space.param import Param, Space


def space() -> Space:
    params = [
        Param("x", "float", "linear", low=-5.0, high=10.0),
        Param("lr", "float", "log", low=1e-4, high=1e-1),
        Param("units", "int", "linear", low=16, high=128, step=16),
        Param("act", "categorical", "choice", choices=("relu", "tanh")),
        Param("bn", "bool", "choice", choices=(True, False)),
        Param("batch", "int", "choice", choices=(16, 32, 64)),
    ]
    return Space(params={p.name: p for p in params})


def build(mode: str = "min", **options):
    ctx = SearchContext(space=space(), metric="loss", mode=mode, seed=0, trials=30)
    return make("bo", ctx, {"n_initial_points": 4, "acq_opt_max_evals": 30, **options}).search_alg


def objective(c: dict) -> float:
    return ((c["x"] - 2) ** 2 / 10 + (math.log10(c["lr"]) + 2) ** 2 + (c["units"] - 64) ** 2 / 1e3
            + (c["act"] == "tanh") + 0.5 * c["bn"] + abs(c["batch"] - 32) / 32)


def test_params_become_dragonfly_dimensions():
    dims = {p.name: _Dim.of(p) for p in space().params.values()}
    assert {n: d.spec["type"] for n, d in dims.items()} == {
        "x": "float", "lr": "float", "units": "int", "act": "discrete", "bn": "discrete",
        "batch": "discrete_numeric"}
    assert dims["units"].spec["max"] == 7  # the grid 16, 32, ..., 128 by index
    assert dims["units"].decode(3) == 64
    assert dims["batch"].decode(32.0) == 32 and type(dims["batch"].decode(32.0)) is int
    assert dims["bn"].decode("1") is False and dims["act"].decode("0") == "relu"
    assert dims["lr"].decode(0.5) == pytest.approx(math.sqrt(1e-5))  # the GP sees log scale


def test_acquisitions_by_name():
    assert parse_acq("ucb", "p") == "ucb"
    assert parse_acq("poi", "p") == "pi"  # ModelArts' name
    assert parse_acq(["EI", "poi", "ucb"], "p") == "ei-pi-ucb"
    assert parse_acq("ei-ucb-ttei", "p") == "ei-ucb-ttei"
    for unsupported in ("add_ucb", "rand", "lcb", ""):
        with pytest.raises(ConfigError, match="supports"):
            parse_acq(unsupported, "strategy.searcher.acq")


@pytest.mark.parametrize("option,why", [("kappa", "beta_t"), ("xi", "no exploration margin")])
def test_modelarts_knobs_dragonfly_lacks_are_refused_with_the_reason(option, why):
    ctx = SearchContext(space=space(), metric="loss", mode="min")
    with pytest.raises(ConfigError, match=why) as info:
        make("bo", ctx, {option: 1.0})
    assert info.value.path == f"strategy.searcher.{option}"


@pytest.mark.parametrize("options,message", [
    ({"n_initial_points": 0}, "n_initial_points: must be >= 1"),
    ({"refit_every": 0}, "refit_every: must be >= 1"),
    ({"acq": "thompson"}, "acq: unsupported acquisition"),
    ({"acq_opt_max_evals": "many"}, "acq_opt_max_evals: expected int"),
])
def test_bad_options(options, message):
    ctx = SearchContext(space=space(), metric="loss", mode="min")
    with pytest.raises(ConfigError, match=message):
        make("bo", ctx, options)


@pytest.mark.parametrize("acq", ["ucb", "ei", "poi", "ts", "ttei"])
def test_every_accepted_acquisition_suggests_from_the_gp(acq):
    searcher = build(acq=acq)
    for i in range(6):
        config = searcher.suggest(f"t{i}")
        assert all(contains(p, config[p.name]) for p in space().params.values())
        searcher.on_trial_complete(f"t{i}", {"loss": objective(config)})
    assert searcher.n_model == 2 and searcher.n_fallback == 0


def test_gp_phase_starts_after_enough_finite_results():
    searcher = build()
    for i in range(4):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": float("nan")} if i == 0 else
                                   {"loss": objective(config)})
    assert searcher.n_model == 0  # 3 finite results < n_initial_points: still Sobol
    config = searcher.suggest("t4")
    assert searcher.n_sobol == 5 and searcher.n_model == 0
    searcher.on_trial_complete("t4", {"loss": objective(config)})
    searcher.suggest("t5")
    assert searcher.n_model == 1


def test_trials_in_flight_are_believed_and_the_gp_put_back():
    searcher = build()
    for i in range(6):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": objective(config)})
    first = searcher.suggest("a")  # stays in flight
    gp = searcher._opt.gp
    before = (list(gp.X), list(gp.Y), gp.alpha.copy())
    in_flight = [searcher._caller.get_processed_domain_point_from_raw(searcher.pending_points["a"])]
    mean_before, std_before = gp.eval(in_flight, uncert_form="std")
    with _believing(gp, in_flight):
        assert len(gp.X) == len(before[0]) + 1
        mean, std = gp.eval(in_flight, uncert_form="std")
        assert mean[0] == pytest.approx(mean_before[0], rel=1e-6, abs=1e-9)  # believed its mean
        assert std[0] < 0.8 * std_before[0]  # and is surer there: the next point goes elsewhere
    assert (list(gp.X), list(gp.Y)) == before[:2] and (gp.alpha == before[2]).all()
    second = searcher.suggest("b")
    assert second != first


def test_max_mode_is_told_as_is_and_min_negated():
    lo, hi = build("min"), build("max")
    for s in (lo, hi):
        s.suggest("t0")
        s.on_trial_complete("t0", {"loss": 3.0})
    assert lo.observations[0][1] == -3.0 and hi.observations[0][1] == 3.0


def test_constant_results_do_not_stop_the_search():
    searcher = build()
    for i in range(10):
        config = searcher.suggest(f"t{i}")
        assert all(contains(p, config[p.name]) for p in space().params.values())
        searcher.on_trial_complete(f"t{i}", {"loss": 1.0})
    assert searcher.n_model + searcher.n_fallback == 6


def test_dragonfly_warnings_are_silenced():
    """The import-time 'Could not import Fortran direct library' warning and numpy's runtime
    warnings never reach the user: a fresh interpreter turning warnings into errors runs bo."""
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "from tests.searchers.test_bo import build, objective\n"
        "s = build()\n"
        "for i in range(6):\n"
        "    c = s.suggest(f't{i}'); s.on_trial_complete(f't{i}', {'loss': objective(c)})\n"
        "assert s.n_model == 2, s.n_model\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Fortran" not in done.stderr + done.stdout


def test_a_failing_gp_falls_back_to_sobol_and_recovers(caplog):
    searcher = build()
    for i in range(5):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": objective(config)})
    broken = searcher._optimiser()

    def fail():
        raise FloatingPointError("non-PSD kernel matrix")

    broken._determine_next_query = fail
    sobol_before = searcher.n_sobol
    with caplog.at_level("WARNING", logger="hpotk.searchers.bo"):
        config = searcher.suggest("x")
    assert all(contains(p, config[p.name]) for p in space().params.values())
    assert searcher.n_fallback == 1 and searcher.n_sobol == sobol_before + 1
    assert "FloatingPointError" in caplog.text
    searcher.on_trial_complete("x", {"loss": objective(config)})
    searcher.suggest("y")  # a fresh optimiser, rebuilt from the observations
    assert searcher._opt is not broken and searcher.n_model == 2
