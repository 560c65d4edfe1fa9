"""Canaries for the Dragonfly (dragonfly-opt 0.1.7) internals the bo searcher drives
(`hpotk.searchers.bo.DragonflySearcher`): CPGPBandit's ask split in two, its GP re-tuning
switch and step counter, the GP's data for the "kriging believer", the caller's point
conversions. If one moves, the bo searcher logs "Dragonfly could not suggest" once and answers
every further suggestion with a Sobol point: bo quietly becomes quasi-random search."""

from __future__ import annotations

import inspect

import pytest

from tests.canary._tune import moved

BO = ("the bo searcher's GP suggestions (it would fall back to Sobol points; "
      "hpotk/searchers/bo.py DragonflySearcher._ask_model, _replay, _believing)")
WHERE = "dragonfly/opt/gp_bandit.py, dragonfly/opt/blackbox_optimiser.py, dragonfly/gp/gp_core.py"


@pytest.fixture(scope="module")
def searcher():
    from hpotk.searchers.bo import DragonflySearcher
    from hpotk.space.param import Param, Space

    params = [Param("x", "float", "linear", low=0.0, high=1.0),
              Param("n", "int", "linear", low=1, high=8, step=1)]
    s = DragonflySearcher(Space(params={p.name: p for p in params}), "loss", "min", seed=0,
                          n_initial_points=3, acq_opt_max_evals=20, gp_fit_max_evals=10)
    for i in range(4):
        config = s.suggest(f"t{i}")
        s.on_trial_complete(f"t{i}", {"loss": (config["x"] - 0.3) ** 2 + config["n"] / 10})
    s.suggest("t4")  # from the GP: builds, replays, re-tunes and asks
    assert s.n_model >= 1 and s.n_fallback == 0, moved("CPGPBandit's ask/tell internals", BO,
                                                       WHERE)
    return s


def test_canary_dragonfly_options_hpotk_sets():
    from hpotk.searchers.bo import _import_dragonfly

    _, _, _, all_args, _ = _import_dragonfly()
    names = {a["name"] for a in all_args()}
    wanted = {"acq", "gpb_hp_tune_criterion", "acq_opt_max_evals", "handle_parallel",
              "hp_tune_max_evals", "init_capital", "num_init_evals", "capital_type",
              "report_results_every"}
    assert wanted <= names, moved(f"CPGPBandit options {sorted(wanted - names)}", BO,
                                  "dragonfly/opt/gp_bandit.py get_all_cp_gp_bandit_args")


def test_canary_dragonfly_ask_in_two_steps(searcher):
    opt = searcher._opt
    for name in ("_main_loop_pre", "_determine_next_query"):
        method = getattr(opt, name, None)
        assert method is not None and not [
            p for p in inspect.signature(method).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)], \
            moved(f"CPGPBandit.{name}() (no arguments)", BO, WHERE)
    assert hasattr(opt._determine_next_query(), "point"), moved(
        "CPGPBandit._determine_next_query() returning a qinfo with .point", BO, WHERE)


def test_canary_dragonfly_gp_retuning_switch(searcher):
    opt = searcher._opt
    assert hasattr(opt, "gp_processor") and hasattr(opt, "step_idx"), moved(
        "CPGPBandit.gp_processor / .step_idx", BO, WHERE)
    assert callable(getattr(opt, "_set_next_gp", None)), moved(
        "CPGPBandit._set_next_gp()", BO + "; a restored bo searcher suggests what the saved "
        "one would", WHERE)
    opt.gp_processor = None
    opt._main_loop_pre()
    assert opt.gp_processor is not None, moved(
        "CPGPBandit._main_loop_pre re-tuning the GP when gp_processor is None", BO, WHERE)


def test_canary_dragonfly_gp_data(searcher):
    gp = searcher._opt.gp
    missing = [k for k in ("X", "Y", "num_tr_data", "K_trtr_wo_noise", "L", "alpha",
                           "domain_lists_of_dists") if not hasattr(gp, k)]
    assert not missing, moved(f"the GP's {', '.join(missing)}", BO + " (trials in flight: "
                              "_believing)", "dragonfly/gp/gp_core.py")
    assert "uncert_form" in inspect.signature(gp.eval).parameters and \
        "build_posterior" in inspect.signature(gp.set_data).parameters, moved(
            "GP.eval(X, uncert_form=...) / GP.set_data(X, Y, build_posterior=...)", BO,
            "dragonfly/gp/gp_core.py")


def test_canary_dragonfly_point_conversions(searcher):
    caller = searcher._caller
    raw = [0.5, 3]
    processed = caller.get_processed_domain_point_from_raw(raw)
    back = caller.get_raw_domain_point_from_processed(processed)
    assert [float(v) for v in back] == [0.5, 3.0], moved(
        "CPFunctionCaller.get_processed_domain_point_from_raw / "
        "get_raw_domain_point_from_processed", BO, "dragonfly/exd/experiment_caller.py")
