"""Time-to-solution with several objectives: the curve is the hypervolume of each run's
feasible trials at their latest values, up to one reference point for every run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpotk.errors import HpotkError
from hpotk.results import Freshness, Results
from hpotk.study.aggregation import aggregate
from hpotk.study.outputs import _markdown


def mo_run(trials: dict[str, list[tuple[float, float, float]]], *, time_s: float = 10.0,
           objectives=(("val", "min"), ("cost", "min")), constraints=()) -> Results:
    """``trial -> [(time_s, val, cost), ...]``; each trial ends at its last result."""
    rows, table = [], []
    for trial_id, points in trials.items():
        for i, (t, val, cost) in enumerate(points):
            rows.append({"trial_id": trial_id, "iteration": i + 1, "time_s": t,
                         "timestamp": 1000.0 + t, "val": val, "cost": cost})
        t, val, cost = points[-1]
        table.append({"trial_id": trial_id, "status": "COMPLETED", "end_s": t,
                      "start_s": points[0][0] - 0.5, "val": val, "cost": cost})
    meta = {"name": "run", "metric": objectives[0][0], "mode": objectives[0][1],
            "objectives": [tuple(o) for o in objectives], "constraints": list(constraints),
            "budget": {"time_s": time_s}, "started": 1000.0, "runs": [{"started": 1000.0}],
            "seed": 0}
    return Results(Path("/nowhere"), meta, pd.DataFrame(table), pd.DataFrame(rows),
                   Freshness("summary", None, 0.0))


TRIALS = {"a": [(1.0, 1.0, 3.0)], "b": [(2.0, 2.0, 1.0)], "c": [(3.0, 3.5, 3.5)]}


def test_the_curve_is_the_hypervolume_up_to_a_given_reference():
    s = aggregate({"x": [mo_run(TRIALS)]}, report_metric="ignored", top_k=5, baseline="x",
                  grid_points=11, reference={"val": 4.0, "cost": 4.0})
    # t=1: a's box 3 x 1 = 3; t=2: plus b's, [2,4]x[1,4] less the overlap [2,4]x[3,4]: 3 + 4
    # = 7; t=3: c adds nothing
    expected = [math.nan, 3.0, 7.0, 7.0] + [7.0] * 7
    np.testing.assert_allclose(s.runs[0].values, expected)
    assert (s.objective, s.mode, s.report_metric) == ("hypervolume", "max", "hypervolume")
    assert s.hypervolume_reference == {"val": 4.0, "cost": 4.0}
    assert "latest values of `val`, `cost`, up to the reference point (val 4, cost 4)" in (
        _markdown(s, ""))
    assert "hypervolume of val, cost" in s.text()


def test_the_default_reference_is_the_baselines_worst_values():
    slow = mo_run({"a": [(5.0, 1.0, 3.0)]})
    s = aggregate({"base": [mo_run(TRIALS)], "other": [slow]}, report_metric="x", top_k=1,
                  baseline="base", grid_points=11)
    assert s.hypervolume_reference == {"val": 3.5, "cost": 3.5}
    # a alone: [1, 3.5] x [3, 3.5] = 1.25; with b: + [2, 3.5] x [1, 3] = 3 -> 4.25
    assert s.runs[0].values[1] == pytest.approx(1.25)
    assert s.runs[0].values[2] == pytest.approx(4.25)
    # the target is the baseline's final hypervolume, which "other" never reaches
    assert s.target == pytest.approx(4.25)
    assert s.strategies["other"].tts is None and s.strategies["base"].tts == pytest.approx(2.0)


def test_an_infeasible_trial_adds_nothing():
    run = mo_run({"a": [(1.0, 1.0, 3.0)], "b": [(2.0, 2.0, 1.0)]},
                 constraints=[{"name": "cost", "min": 2.0}])
    s = aggregate({"x": [run]}, report_metric="x", top_k=1, baseline="x", grid_points=11,
                  reference={"val": 4.0, "cost": 4.0})
    assert s.runs[0].final == pytest.approx(3.0)  # b breaks cost >= 2


def test_runs_with_other_objectives_or_a_bad_reference_are_refused():
    other = mo_run(TRIALS, objectives=(("val", "min"), ("params", "min")))
    with pytest.raises(HpotkError, match="objectives"):
        aggregate({"x": [mo_run(TRIALS)], "y": [other]}, report_metric="x", top_k=1,
                  baseline="x")
    with pytest.raises(HpotkError, match="reference_point.*missing \\['cost'\\]"):
        aggregate({"x": [mo_run(TRIALS)]}, report_metric="x", top_k=1, baseline="x",
                  reference={"val": 4.0})
