"""Warm starts from earlier experiments (`hpotk.warm_start`): configs run first, history told
to the searchers that learn, bounds narrowed; and the refusals, one line each, exit status 2.

Earlier experiments are hand-made results directories (the files `hpotk run` leaves), except
for one real run of the quickstart on the session's local Ray."""

from __future__ import annotations

import contextlib
import io
import json
import math
import pickle
import statistics
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hpotk import experiment, layout
from hpotk.cli import main
from hpotk.errors import ConfigError
from hpotk.plan import make_plan

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "experiments" / "quickstart.yaml"

SPACE = {
    "lr": {"type": "continuous", "min_value": 0.001, "max_value": 0.1, "scaling": "log"},
    "units": {"type": "integer", "min_value": 8, "max_value": 64, "scaling": "linear"},
    "act": {"type": "categorical", "values": ["relu", "tanh", "gelu"]},
}


def earlier(root: Path, name: str, rows: list[dict], metric="loss", mode="min",
            constraints=None) -> Path:
    """A finished results directory as `hpotk run` leaves it: state, experiment, trials.csv
    (``rows``: config/<p>, metrics, status), history.csv."""
    d = root / name
    d.mkdir(parents=True)
    metrics = metric if isinstance(metric, list) else [{"name": metric, "mode": mode}]
    first = metrics[0]
    (d / "hpotk.json").write_text(json.dumps({
        "status": "complete", "name": name, "started": 1.7e9, "finished": 1.7e9 + 60,
        "metric": first["name"], "mode": first["mode"], "strategy": "fifo/random", "runs": []}))
    (d / "experiment.json").write_text(json.dumps({
        "name": name, "metric": metric if isinstance(metric, list) else first,
        "constraints": constraints or [], "seed": 0,
        "strategy": {"scheduler": {"name": "fifo"}, "searcher": {"name": "random"}}}))
    table = []
    for i, row in enumerate(rows):
        row = {"trial_id": f"t{i:03d}", "status": "COMPLETED", "iterations": 3, "time_s": 1.0,
               "node": "n", "error": "", **row}
        for m in metrics:
            if m["name"] in row and f"best_{m['name']}" not in row and m is first:
                row[f"best_{m['name']}"] = row[m["name"]]
        table.append(row)
    pd.DataFrame(table).to_csv(d / "trials.csv", index=False)
    pd.DataFrame(columns=["trial_id", "iteration", "time_s"]).to_csv(d / "history.csv",
                                                                     index=False)
    return d


def trial(lr, units, act, loss, **more) -> dict:
    return {"config/lr": lr, "config/units": units, "config/act": act, "loss": loss, **more}


EARLY = [trial(0.01, 32, "relu", 0.30), trial(0.05, 16, "tanh", 0.50),
         trial(0.002, 48, "relu", 0.20), trial(0.08, 60, "gelu", 0.90),
         trial(0.004, 40, "tanh", 0.25)]


def today(tmp_path: Path, warm: dict, **more) -> Path:
    """Today's experiment file (a function trainable would do; plans never run it)."""
    doc = {"name": "today", "trainable": "mlp-digits", "space": dict(SPACE),
           "metric": {"name": "loss", "mode": "min"}, "strategy": "fifo/random",
           "budget": {"trials": 8, "concurrent": 2, "max_t": 2}, "seed": 3,
           "warm_start": warm, **more}
    path = tmp_path / "today.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def plan_of(path: Path):
    return make_plan(experiment.load(path))


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def suggestions(alg, n: int, objective=None) -> list[dict]:
    out = []
    for i in range(n):
        config = alg.suggest(f"s{i}")
        out.append(config)
        if objective is not None:
            alg.on_trial_complete(f"s{i}", {"loss": objective(config)})
    return out


# ---------------------------------------------------------------------------------------------
# configs


def test_configs_are_the_top_n_clipped_into_todays_space_and_fixed_values_win(tmp_path):
    rows = EARLY + [trial(0.5, 100, "relu", 0.10)]  # beyond today's lr and units: clipped
    earlier(tmp_path, "first", rows)
    path = today(tmp_path, {"from": "first", "top": 3}, strategy="fifo/sobol",
                 space={k: v for k, v in SPACE.items() if k != "act"} | {"act": "relu"})
    plan = plan_of(path)  # act is fixed today: it wins, the configs hold the tuned params
    first = suggestions(plan.search.search_alg, 4)
    assert first[:3] == [{"lr": 0.1, "units": 64}, {"lr": 0.002, "units": 48},
                         {"lr": 0.004, "units": 40}]
    assert first[3] not in first[:3]  # then sobol's own
    text = plan.text()
    assert "warm start (configs) from 1 earlier experiment(s):" in text
    assert f"{tmp_path / 'first'}: 3 configs of 6 usable (6 trials)" in text
    assert "the first 3 trials run those configs" in text


def test_relative_paths_are_taken_as_results_is_then_from_the_experiment_file(tmp_path,
                                                                             monkeypatch):
    earlier(tmp_path / "results", "first", EARLY)
    path = today(tmp_path, {"from": "results/first", "top": 2})
    monkeypatch.chdir(tmp_path / "results")  # not there from here: next to the file
    assert plan_of(path).warm_start.sources[0].path == tmp_path / "results" / "first"
    monkeypatch.chdir(tmp_path)
    assert plan_of(path).warm_start.sources[0].path == tmp_path / "results" / "first"


def test_random_runs_them_through_ray_points_to_evaluate(tmp_path):
    earlier(tmp_path, "first", EARLY)
    alg = plan_of(today(tmp_path, {"from": "first", "top": 2})).search.search_alg
    from ray.tune.search import BasicVariantGenerator

    assert isinstance(alg, BasicVariantGenerator)
    assert alg._points_to_evaluate == [{"lr": 0.002, "units": 48, "act": "relu"},
                                       {"lr": 0.004, "units": 40, "act": "tanh"}]


def test_grid_puts_them_first_and_keeps_every_grid_point_once(tmp_path):
    earlier(tmp_path, "first", EARLY)
    grid = {"units": {"type": "categorical", "values": [16, 32, 40, 48]},
            "act": {"type": "categorical", "values": ["relu", "tanh"]}}
    plan = plan_of(today(tmp_path, {"from": "first", "top": 2}, strategy="fifo/grid",
                         space=grid | {"lr": 0.01}))
    assert plan.expected_trials == 8
    configs = suggestions(plan.search.search_alg, 9)
    assert configs[:2] == [{"units": 48, "act": "relu"}, {"units": 40, "act": "tanh"}]
    assert len({json.dumps(c, sort_keys=True) for c in configs[:8]}) == 8
    assert configs[8] == "FINISHED"
    assert plan.search.param_space == {"lr": 0.01}  # today's fixed value, as before


@pytest.mark.parametrize("name", ["tpe", "anneal", "bo"])
def test_model_based_searchers_suggest_them_first_then_learn_from_them(tmp_path, name):
    earlier(tmp_path, "first", EARLY)
    alg = plan_of(today(tmp_path, {"from": "first", "top": 3},
                        strategy=f"fifo/{name}")).search.search_alg
    first = suggestions(alg, 4, objective=lambda c: c["lr"])
    assert first[:3] == [{"lr": 0.002, "units": 48, "act": "relu"},
                         {"lr": 0.004, "units": 40, "act": "tanh"},
                         {"lr": 0.01, "units": 32, "act": "relu"}]
    assert first[3] not in first[:3]
    assert alg.n_observed == 4  # the earlier configs' results count like any other
    restored = pickle.loads(pickle.dumps(alg))
    assert restored.first_points == [] and restored.n_observed == 4


def test_first_points_around_a_searcher_save_and_restore_as_ray_wrappers_do(tmp_path):
    earlier(tmp_path, "first", EARLY)
    path = today(tmp_path, {"from": "first", "top": 3}, strategy="fifo/sobol")
    alg = plan_of(path).search.search_alg
    first = suggestions(alg, 2, objective=lambda c: c["lr"])
    state, inner = alg.get_state(), tmp_path / "inner.pkl"
    assert "searcher" not in state  # Tune saves the wrapped searcher itself
    alg.save(str(inner))
    again = plan_of(path).search.search_alg
    again.set_state(state)
    again.restore(str(inner))
    assert suggestions(again, 3) == suggestions(alg, 3)  # the third point, then sobol's own
    assert first[1] == {"lr": 0.004, "units": 40, "act": "tanh"}


def test_with_constraints_the_wrapped_model_still_takes_configs_and_history(tmp_path):
    earlier(tmp_path, "first", history_rows())
    constraints = [{"name": "loss", "max": 10.0}]
    for mode in ("configs", "history"):
        plan = plan_of(today(tmp_path, {"from": "first", "mode": mode, "top": 4},
                             strategy="fifo/tpe", space=history_space(),
                             constraints=constraints))
        assert "told to tpe" in plan.text() or "tpe suggests them first" in plan.text()
        if mode == "configs":
            assert suggestions(plan.search.search_alg, 4) == plan.warm_start.configs


def test_a_choice_that_no_longer_exists_is_refused_naming_warm_start_and_the_param(tmp_path):
    earlier(tmp_path, "first", EARLY)
    path = today(tmp_path, {"from": "first", "top": 3},
                 space=SPACE | {"act": {"type": "categorical", "values": ["relu", "gelu"]}})
    with pytest.raises(ConfigError) as info:
        plan_of(path)
    assert info.value.path == "warm_start.from[0]"
    assert "param 'act'" in info.value.message and "'tanh'" in info.value.message
    code, out, err = cli("plan", path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "warm_start" in err


def test_several_directories_alternate_best_first_and_skip_infeasible_trials(tmp_path):
    earlier(tmp_path, "a", EARLY)
    earlier(tmp_path, "b", [trial(0.03, 8, "gelu", 0.1, mem=900.0),
                            trial(0.02, 9, "gelu", 0.2, mem=100.0),
                            trial(0.01, 32, "relu", 0.3, mem=100.0)],
            constraints=[{"name": "mem", "max": 500}])
    warm = plan_of(today(tmp_path, {"from": ["a", "b"], "top": 3})).warm_start
    assert [c["lr"] for c in warm.configs] == [0.002, 0.02, 0.004, 0.01]  # a0 b0 a1 b1(=a2)
    assert [(s.trials, s.usable, s.taken) for s in warm.sources] == [(5, 5, 3), (3, 2, 2)]


def test_several_objectives_rank_by_front_then_crowding(tmp_path):
    objectives = [{"name": "loss", "mode": "min"}, {"name": "ms", "mode": "min"}]
    earlier(tmp_path, "mo", [trial(0.01, 10, "relu", 0.1, ms=9.0),   # front, extreme
                             trial(0.02, 20, "relu", 0.5, ms=5.0),   # front, middle
                             trial(0.03, 30, "relu", 0.45, ms=5.5),  # front, crowded middle
                             trial(0.04, 40, "relu", 0.9, ms=1.0),   # front, extreme
                             trial(0.05, 50, "relu", 0.95, ms=9.5)],  # dominated
            metric=objectives)
    warm = plan_of(today(tmp_path, {"from": "mo", "top": 5}, metric=objectives)).warm_start
    assert [c["units"] for c in warm.configs] == [10, 40, 20, 30, 50]


# ---------------------------------------------------------------------------------------------
# history


def history_space() -> dict:
    return {"x": {"type": "continuous", "min_value": 0.0, "max_value": 1.0, "scaling": "linear"},
            "act": {"type": "categorical", "values": ["relu", "tanh"]}}


def history_rows() -> list[dict]:
    """20 earlier trials of loss = x (+0.5 for tanh): the good region is small x, relu."""
    xs = [(i * 0.618) % 1.0 for i in range(20)]
    return [{"config/x": x, "config/act": "relu" if i % 2 else "tanh",
             "loss": x + (0.0 if i % 2 else 0.5)} for i, x in enumerate(xs)]


@pytest.mark.parametrize("name", ["tpe", "bo"])
def test_history_makes_the_first_suggestions_model_based(tmp_path, name):
    earlier(tmp_path, "first", history_rows())
    kwargs = dict(strategy=f"fifo/{name}", space=history_space())
    warm_plan = plan_of(today(tmp_path, {"from": "first", "mode": "history"}, **kwargs))
    cold_path = today(tmp_path, None, **kwargs)
    cold = make_plan(experiment.load(cold_path)).search.search_alg
    warm = warm_plan.search.search_alg
    assert warm_plan.warm_start.history and len(warm_plan.warm_start.history) == 20
    assert "told to" in warm_plan.text() and "20 earlier trials" in warm_plan.text()
    warm_first, cold_first = suggestions(warm, 5), suggestions(cold, 5)
    assert warm_first[0] != cold_first[0]  # same seed: the model, not the initial design
    # and the model has learnt where the earlier good trials were
    assert statistics.mean(c["x"] for c in warm_first) < 0.3
    assert sum(c["act"] == "relu" for c in warm_first) >= 4


def test_history_keeps_the_last_reported_metrics_and_top_limits_it_when_given(tmp_path):
    earlier(tmp_path, "first", history_rows())
    warm = plan_of(today(tmp_path, {"from": "first", "mode": "history", "top": 4},
                         strategy="fifo/tpe", space=history_space())).warm_start
    assert len(warm.history) == 4
    config, metrics = warm.history[0]
    assert set(config) == {"x", "act"} and metrics["loss"] == pytest.approx(config["x"])


def test_history_with_a_searcher_that_does_not_learn_is_refused(tmp_path):
    earlier(tmp_path, "first", EARLY)
    for strategy in ("fifo/random", "fifo/sobol", "asha/random"):
        path = today(tmp_path, {"from": "first", "mode": "history"}, strategy=strategy)
        code, out, err = cli("plan", path)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "warm_start.mode" in err and "does not learn from results" in err
        assert "mode: configs" in err


# ---------------------------------------------------------------------------------------------
# bounds


def test_bounds_narrow_the_space_to_the_top_configs_and_the_plan_shows_it(tmp_path):
    earlier(tmp_path, "first", EARLY)
    path = today(tmp_path, {"from": "first", "mode": "bounds", "top": 3},
                 space=SPACE | {"drop": {"type": "continuous", "min_value": 0.0,
                                         "max_value": 0.5}})
    plan = plan_of(path)
    params = plan.space.params
    assert (params["lr"].low, params["lr"].high, params["lr"].scale) == (0.002, 0.01, "log")
    assert (params["units"].low, params["units"].high) == (32, 48)
    assert params["act"].choices == ("relu", "tanh")
    assert params["drop"].low == 0.0 and params["drop"].high == 0.5  # not in the earlier configs
    code, out, err = cli("plan", path)
    assert code == 0, err
    assert "lr: loguniform(0.002, 0.01)" in out  # the tuned section shows the narrowed space
    assert "space narrowed to their bounding box (3 param(s)):" in out
    assert "lr: loguniform(0.001, 0.1) -> loguniform(0.002, 0.01)" in out
    assert "units: randint[8, 64] -> randint[32, 48]" in out
    assert "drop: not in the earlier configs, kept as it is" in out
    info = json.loads(cli("plan", path, "--json")[1])["warm_start"]
    assert info["mode"] == "bounds" and info["sources"][0]["taken"] == 3


def test_bounds_fix_a_param_all_top_configs_agree_on(tmp_path):
    earlier(tmp_path, "first", EARLY)
    plan = plan_of(today(tmp_path, {"from": "first", "mode": "bounds", "top": 1}))
    assert plan.space.params == {}
    assert {k: f.value for k, f in plan.space.fixed.items()} == {
        "lr": 0.002, "units": 48, "act": "relu"}
    assert "warm_start bounds: all 1 top configs had it" in plan.text()
    plan = plan_of(today(tmp_path, {"from": "first", "mode": "bounds", "top": 3},
                         space=SPACE | {"units": {"type": "integer", "min_value": 8,
                                                  "max_value": 64, "scaling": "log"}}))
    assert (plan.space.params["units"].low, plan.space.params["units"].high) == (32, 48)
    assert plan.space.params["units"].scale == "log"


# ---------------------------------------------------------------------------------------------
# refusals


def test_another_objective_is_refused_naming_both(tmp_path):
    earlier(tmp_path, "acc", EARLY, metric="val_acc", mode="max")
    path = today(tmp_path, {"from": "acc"})
    code, out, err = cli("plan", path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "warm_start.from[0]" in err and "val_acc (max)" in err and "loss (min)" in err
    earlier(tmp_path, "max", EARLY, metric="loss", mode="max")  # same name, other mode
    code, out, err = cli("plan", today(tmp_path, {"from": "max"}))
    assert code == 2 and "loss (max)" in err and "loss (min)" in err


def test_a_missing_directory_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = today(tmp_path, {"from": ["nowhere/else"]})
    code, out, err = cli("plan", path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "warm_start.from[0]" in err and "'nowhere/else'" in err
    assert str(tmp_path / "nowhere" / "else") in err
    code, out, err = cli("run", path, "--quiet")  # refused before anything starts
    assert code == 2 and "'nowhere/else'" in err and not (tmp_path / "results").exists()


def test_a_directory_without_usable_trials_is_refused(tmp_path):
    earlier(tmp_path, "failed", [trial(0.01, 32, "relu", math.nan, status="ERROR")])
    with pytest.raises(ConfigError, match="no trial that reported loss \\(min\\)"):
        plan_of(today(tmp_path, {"from": "failed"}))


# ---------------------------------------------------------------------------------------------
# the runner: a real earlier run, configs first


@pytest.mark.e2e
def test_a_real_earlier_run_s_top_configs_are_the_first_trials(hpotk_cli, tmp_path):
    base = ["--set", "budget.max_t=2", "--set", "strategy=fifo/random", "--quiet"]
    code, out, err = hpotk_cli("run", QUICKSTART, "--set", "budget.trials=4",
                               "--set", "name=cold", *base)
    assert code == 0, out + err
    cold = pd.read_csv(tmp_path / "results" / "cold" / "trials.csv")
    top = cold.sort_values("best_val_acc", ascending=False, kind="stable").head(2)
    names = ["lr", "hidden_size", "num_layers", "dropout", "batch_size"]
    expected = [{n: row[f"config/{n}"] for n in names} for _, row in top.iterrows()]

    code, out, err = hpotk_cli("run", QUICKSTART, "--set", "budget.trials=3",
                               "--set", "name=warm", "--set", "seed=1",
                               "--set", "warm_start.from=results/cold",
                               "--set", "warm_start.top=2", *base[:-1])
    assert code == 0, out + err
    assert "[hpotk] warm start: 2 configs from 1 earlier experiment(s) run first" in out
    warm = pd.read_csv(tmp_path / "results" / "warm" / "trials.csv").sort_values("trial_id")
    got = [{n: row[f"config/{n}"] for n in names} for _, row in warm.head(2).iterrows()]
    assert got == expected
    plan_text = (tmp_path / "results" / "warm" / layout.PLAN_TEXT).read_text()
    assert "warm start (configs)" in plan_text and "2 configs of 4 usable" in plan_text
