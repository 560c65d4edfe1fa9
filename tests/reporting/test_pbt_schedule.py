"""The PBT schedule figure (schedule.png) from a hand-made analysis: what each panel holds, the
--check curves, and the log axes; data first, then the drawing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hpotk.pbt import check, fits
from hpotk.pbt.analysis import Analysis
from hpotk.reporting import pbt_schedule as figure

N = 12


def analysis(param: str = "lr", checks: bool = True, decades: bool = False) -> Analysis:
    """Trial B's lineage, cloned from A at iteration 7: the param x0.3 every 4 iterations (a
    factor of 11 over the run)."""
    values = [0.04 * 0.3 ** (i // 4) for i in range(N)]
    objective = [10 ** (-i / 3) if decades else 1 / (i + 1) for i in range(N)]
    rows = [{"iteration": i + 1, "source": "A" if i < 6 else "B", f"config/{param}": v,
             "loss": o} for i, (v, o) in enumerate(zip(values, objective, strict=True))]
    lineage = SimpleNamespace(trial_id="B", rows=rows, perturbations=[{"iteration": 7}],
                              iterations=list(range(1, N + 1)),
                              series=lambda key: [float(r[key]) for r in rows])
    results = SimpleNamespace(path=".", metric="loss", mode="min", name="exp")
    a = Analysis(results, lineage, param, fits.fit(values))
    if checks:
        a.checks = {"fitted": [{"objective": objective}, {"objective": objective[:-2]}],
                    "constant": [{"objective": [o * 2 for o in objective]}]}
    return a


def test_data_holds_the_lineage_the_fit_and_the_checks_in_order():
    a = analysis()
    d = figure.data(a, check.VARIANT_LABELS)
    assert d.iterations == list(range(1, N + 1)) and d.values == a.values
    assert d.fitted == a.best.predicted and a.best.name in d.fit_label
    assert d.perturbations == [7] and d.trial_label.startswith("PBT trial B")
    assert [c.label for c in d.checks] == [
        f"retrained: {check.VARIANT_LABELS['fitted']} (mean of 2)",
        f"retrained: {check.VARIANT_LABELS['constant']} (mean of 1)"]
    fitted, constant = d.checks
    assert len(fitted.mean) == N - 2 and fitted.sd is not None  # the shorter run sets the length
    assert constant.sd is None and constant.mean == pytest.approx([2 * o for o in a.objective])
    assert d.constant == (a.values[0], check.VARIANT_LABELS["constant"])
    assert d.log_param and not d.log_objective


def test_log_axes_follow_the_spread_and_the_param():
    assert figure.data(analysis(decades=True)).log_objective  # a loss over four decades
    no_checks = figure.data(analysis(param="momentum", checks=False))
    assert not no_checks.log_param  # not searched on a log scale, whatever its spread
    assert no_checks.checks == [] and no_checks.constant is None


def test_png_draws_both_panels(tmp_path):
    a = analysis()
    fig = figure.png(a, figure.data(a, check.VARIANT_LABELS))
    top, bottom = fig.axes
    assert len(top.get_lines()) == 2 + 1 + 1  # two checks, the lineage, one perturbation
    assert bottom.get_yscale() == "log" and bottom.get_ylabel() == "lr"
    path = figure.write_png(a, tmp_path / "schedule.png", check.VARIANT_LABELS)
    assert path.stat().st_size > 10_000
