"""Pareto fronts, ranks, crowding, hypervolume and constraints on hand-made trials; the
experiment file's several objectives, constraints and warm start, and their refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from hpotk import objectives as ob
from hpotk.errors import ConfigError, HpotkError
from hpotk.experiment import Constraint, load

# (val_mae min, epoch_s min): a front of three, one dominated, one tie, one NaN
ROWS = np.array([[1.0, 5.0], [2.0, 3.0], [3.0, 4.0], [4.0, 1.0], [2.0, 3.0], [math.nan, 0.5]])
MM = ["min", "min"]


def test_pareto_mask_known_front_ties_and_nan():
    assert ob.pareto_mask(ROWS, MM).tolist() == [True, True, False, True, True, False]


def test_pareto_mask_follows_modes():
    # maximising the first: (4, 1) is best in both and dominates every other finite row
    assert ob.pareto_mask(ROWS, ["max", "min"]).tolist() == [False] * 3 + [True] + [False] * 2


def test_ranks_put_nan_after_every_front():
    assert ob.nondominated_ranks(ROWS, MM).tolist() == [0, 0, 1, 0, 0, 2]


def test_crowding_distance_extremes_infinite_middle_finite():
    d = ob.crowding_distance(ROWS[[0, 1, 3]], MM)
    assert math.isinf(d[0]) and math.isinf(d[2])
    assert d[1] == pytest.approx((4 - 1) / 3 + (5 - 1) / 4)


def test_hypervolume_known_value_and_reference():
    # staircase of (1,5), (2,3), (4,1) up to (5,6): 4*1 + 3*2... computed by hand = 12
    assert ob.hypervolume(ROWS, MM, [5.0, 6.0]) == pytest.approx(12.0)
    assert ob.hypervolume(ROWS, MM, [0.5, 0.5]) == 0.0  # nothing better than the reference
    ref = ob.reference_point(ROWS, MM)
    assert ref.tolist() == [4.0, 5.0]
    # maximised objectives: the same geometry mirrored
    mirrored = ROWS * np.array([-1.0, 1.0])
    assert ob.hypervolume(mirrored, ["max", "min"], [-5.0, 6.0]) == pytest.approx(12.0)


def test_hypervolume_contributions_zero_for_dominated_and_duplicates():
    c = ob.hypervolume_contributions(ROWS, MM, [5.0, 6.0])
    assert c[2] == 0.0 and c[5] == 0.0 and c[0] > 0 and c[3] > 0


def test_violations_name_the_broken_bound_and_ignore_unknown():
    cons = [Constraint(name="peak_mem_mb", max=14000), Constraint(name="params", min=10)]
    assert ob.violations({"peak_mem_mb": 15000, "params": 50}, cons) == ["peak_mem_mb <= 14000"]
    assert ob.violations({"peak_mem_mb": 100, "params": 5}, cons) == ["params >= 10"]
    assert ob.violations({"peak_mem_mb": math.nan}, cons) == []
    assert ob.is_feasible({"peak_mem_mb": 14000, "params": 10}, cons)


def test_mismatched_modes_are_refused():
    with pytest.raises(HpotkError, match="modes"):
        ob.pareto_mask(ROWS, ["min"])
    with pytest.raises(HpotkError, match="'up'"):
        ob.pareto_mask(ROWS, ["min", "up"])


def _doc(**changes):
    with open("experiments/quickstart.yaml") as f:
        doc = yaml.safe_load(f)
    doc.update(changes)
    return doc


def test_metric_list_gives_objectives_with_the_first_primary():
    exp = load(_doc(metric=[{"name": "val_acc", "mode": "max"}, {"name": "epoch_s"}],
                    strategy="fifo/random"))
    assert exp.multi_objective and exp.metric.name == "val_acc"
    assert [(m.name, m.mode) for m in exp.objectives] == [("val_acc", "max"), ("epoch_s", "min")]
    again = load(exp.to_dict())  # experiment.json round-trips
    assert [m.name for m in again.objectives] == ["val_acc", "epoch_s"]


@pytest.mark.parametrize("metric, path, words", [
    ([], "metric", "empty list"),
    ([{"name": "a"}, {"name": "a"}], "metric", "listed twice"),
    ([{"name": "a", "mode": "maxx"}], "metric[0].mode", "'min' or 'max'"),
])
def test_bad_metric_lists_name_the_key(metric, path, words):
    with pytest.raises(ConfigError) as info:
        load(_doc(metric=metric))
    assert info.value.path == path and words in info.value.message


@pytest.mark.parametrize("strategy, kind", [("asha/random", "scheduler"), ("fifo/tpe", "searcher"),
                                            ("fifo/bo", "searcher"), ("pbt/random", "scheduler")])
def test_single_objective_components_refuse_a_metric_list(strategy, kind):
    from hpotk.plan import make_plan

    exp = load(_doc(metric=[{"name": "val_acc", "mode": "max"}, {"name": "epoch_s"}],
                    strategy=strategy))
    with pytest.raises(ConfigError) as info:
        make_plan(exp)
    assert info.value.path == f"strategy.{kind}"
    assert "several objectives" in info.value.message and "\n" not in info.value.message


def test_constraint_and_warm_start_keys_are_checked():
    with pytest.raises(ConfigError) as info:
        load(_doc(constraints=[{"name": "params"}]))
    assert info.value.path == "constraints[0]" and "max:" in info.value.message
    with pytest.raises(ConfigError) as info:
        load(_doc(warm_start={"from": "results/x", "mode": "bound"}))
    assert info.value.path == "warm_start.mode"
    exp = load(_doc(warm_start={"from": "results/x", "top": 3}))
    assert exp.warm_start.from_ == ["results/x"] and exp.to_dict()["warm_start"]["from"] == [
        "results/x"]


def test_mark_objectives_front_constraints_and_out_of_memory():
    import pandas as pd

    from hpotk.results import mark_objectives

    trials = pd.DataFrame({
        "trial_id": ["a", "b", "c", "d", "e"],
        "val_mae": [0.10, 0.20, 0.05, 0.30, math.nan],
        "epoch_s": [2.0, 1.0, 9.0, 0.5, 0.1],
        "peak_mem_mb": [100.0, 200.0, 20000.0, 50.0, math.nan],
        "status": ["COMPLETED"] * 4 + ["ERROR"],
        "error": [""] * 4 + ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"],
    })
    out = mark_objectives(trials, [("val_mae", "min"), ("epoch_s", "min")],
                          [{"name": "peak_mem_mb", "max": 14000}])
    # c is the best val_mae but breaks the memory bound: off the front, and the front is
    # recomputed without it (a, b and d are then non-dominated)
    assert out["feasible"].tolist() == [True, True, False, True, False]
    assert out.loc[2, "violates"] == "peak_mem_mb <= 14000"
    assert out.loc[4, "violates"] == "peak_mem_mb <= 14000 (ran out of memory)"
    assert out["pareto"].tolist() == [True, True, False, True, False]
    single = mark_objectives(trials, [("val_mae", "min")], [])
    assert "pareto" not in single and "feasible" not in single


def test_choose_and_pick_weights():
    from hpotk.errors import HpotkError
    from hpotk.summary import choose, parse_pick

    objectives = [("val_mae", "min"), ("epoch_s", "min")]
    front = [{"trial_id": "a", "val_mae": 0.10, "epoch_s": 2.0},
             {"trial_id": "b", "val_mae": 0.20, "epoch_s": 1.0},
             {"trial_id": "d", "val_mae": 0.30, "epoch_s": 0.5}]
    assert choose(front, objectives)["trial_id"] == "a"  # the primary objective's best
    assert choose(front, objectives, {"epoch_s": 1})["trial_id"] == "d"
    # equal weights on scaled goodness: a = 1 + 0, b = 0.5 + 0.667, d = 0 + 1 -> b
    assert choose(front, objectives, parse_pick("val_mae=1, epoch_s=1", objectives)
                  )["trial_id"] == "b"
    for bad in ("params=1", "val_mae", "val_mae=-1", "val_mae=0", ""):
        with pytest.raises(HpotkError, match="--pick"):
            parse_pick(bad, objectives)


@pytest.mark.parametrize("strategy, key", [("fifo/tpe", "strategy.searcher"),
                                           ("asha/random", "strategy.scheduler"),
                                           ("hyperband/optuna_tpe", "strategy.scheduler")])
def test_hpotk_plan_refuses_a_metric_list_in_one_line_with_exit_2(capsys, strategy, key):
    from hpotk.cli import main

    code = main(["plan", "experiments/quickstart.yaml", "--set", f"strategy={strategy}",
                 "--set", "metric=[{name: val_acc, mode: max}, {name: epoch_s}]"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{key}:" in err and "several objectives" in err


def test_hpotk_plan_names_every_objective_and_the_constraints(capsys):
    from hpotk.cli import main

    code = main(["plan", "experiments/cgcnn_pareto.yaml", "--set",
                 "constraints=[{name: peak_mem_mb, max: 14000}]"])
    out = capsys.readouterr().out
    assert code == 0
    assert "objectives val_mae (min), params (min), strategy moasha/optuna_tpe" in out
    assert "constraints: peak_mem_mb <= 14000" in out
