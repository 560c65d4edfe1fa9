"""The Pareto front and the hypervolume over time, from hand-made results with several
objectives: the front on known points (ties, NaN, infeasible, mixed directions), the
hypervolume curve against one computed by hand, the page (and only when there are several
objectives), and the objective menu in a real browser."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hpotk.reporting import page, pareto, write_report
from hpotk.results import Freshness, Results
from tests.reporting.make import make, write_dir

MEM = [{"name": "peak_mem_mb", "max": 14000}]


def results(trials: list[dict], history: list[dict], objectives: list[tuple[str, str]],
            constraints: list[dict] | None = None) -> Results:
    """Results of the hand-made ``trials`` (one row each) and ``history`` (one per report)."""
    meta = {"name": "hand-made", "metric": objectives[0][0], "mode": objectives[0][1],
            "objectives": objectives, "constraints": constraints or [], "status": "complete",
            "started": 1_700_000_000.0, "params": {}, "budget": {}}
    return Results(Path("/nonexistent/hand-made"), meta, pd.DataFrame(trials),
                   pd.DataFrame(history), Freshness("summary", None, 0.0))


def with_objectives(res: Results, k: int = 2, seed: int = 0) -> Results:
    """``make``'s results with a second objective, epoch_s (min), a third, params_m (max) when
    ``k`` is 3, and a constraint on peak_mem_mb that about a quarter of the trials break."""
    rng = np.random.default_rng(seed)
    per_trial = {}
    for trial_id in res.trials["trial_id"]:
        per_trial[trial_id] = {"epoch_s": float(rng.uniform(1, 4)),
                               "params_m": float(rng.uniform(1, 50)),
                               "peak_mem_mb": float(rng.uniform(8000, 16000))}
    h = res.history.copy()
    last_it = h.groupby("trial_id")["iteration"].transform("max")
    for name in ("epoch_s", "params_m", "peak_mem_mb"):
        base = h["trial_id"].map(lambda t, n=name: per_trial[t][n])
        h[name] = base * (1 + 0.05 * (last_it - h["iteration"]))  # the last report is base
    t = res.trials.copy()
    for name in ("epoch_s", "params_m", "peak_mem_mb"):
        t[name] = [per_trial[i][name] if s != "ERROR" else math.nan
                   for i, s in zip(t["trial_id"], t["status"], strict=True)]
    objectives = [("val_loss", "min"), ("epoch_s", "min"), ("params_m", "max")][:k]
    meta = dict(res.meta, objectives=objectives, constraints=MEM)
    return Results(res.path, meta, t, h, res.freshness)


# ---------------------------------------------------------------------------------------------
# the front


def test_known_front_with_ties_nan_and_infeasible_trials():
    points = {"a": (1, 5, 100), "b": (2, 3, 100), "c": (3, 4, 100), "d": (4, 1, 100),
              "e": (2, 3, 100), "f": (math.nan, 0, 100), "g": (0.5, 0.5, 20000),
              "h": (5, 5, math.nan), "i": (0.1, 0.1, math.nan)}
    trials = [{"trial_id": k, "status": "COMPLETED", "x": x, "y": y, "peak_mem_mb": m,
               "error": "torch.OutOfMemoryError: CUDA out of memory" if k == "i" else ""}
              for k, (x, y, m) in points.items()]
    res = results(trials, [], [("x", "min"), ("y", "min")], MEM)
    d = pareto.data(res)
    front = dict(zip(d.trial_ids, d.front((0, 1)), strict=True))
    assert {k for k, v in front.items() if v} == {"a", "b", "d", "e"}  # b and e tie
    assert d.broken[d.trial_ids.index("g")] == ["peak_mem_mb <= 14000"]
    # i reported no memory but died of running out of it (hpotk.results.mark_objectives)
    assert d.broken[d.trial_ids.index("i")] == ["peak_mem_mb <= 14000 (ran out of memory)"]
    assert d.broken[d.trial_ids.index("h")] == []  # an unknown value breaks nothing
    g = pareto._groups(d, (0, 1))
    assert g["missing"] == 1 and g["infeasible"].sum() == 2
    hover = pareto._hover(d, d.front())[d.trial_ids.index("g")]
    assert "peak_mem_mb: 20000" in hover and "infeasible, breaks peak_mem_mb <= 14000" in hover
    assert [d.trial_ids[i] for i in g["dominated"].nonzero()[0]] == ["c", "h"]
    assert d.reference.tolist() == [5, 5]  # every trial's worst finite value, g's too
    # the steps run along the edge of what the front dominates
    xs, ys = pareto.staircase([4, 1, 2], [1, 5, 3], ["min", "min"])
    assert xs.tolist() == [1, 2, 2, 4, 4] and ys.tolist() == [5, 5, 3, 3, 1]


def test_front_in_mixed_directions_and_on_three_objectives():
    rows = {"a": (0.9, 10, 1), "b": (0.8, 5, 1), "c": (0.85, 12, 9), "d": (0.7, 6, 1)}
    trials = [{"trial_id": k, "status": "COMPLETED", "acc": a, "s": s, "mem": m}
              for k, (a, s, m) in rows.items()]
    res = results(trials, [], [("acc", "max"), ("s", "min"), ("mem", "min")])
    d = pareto.data(res)
    on = lambda mask: {t for t, v in zip(d.trial_ids, mask, strict=True) if v}  # noqa: E731
    assert on(d.front((0, 1))) == {"a", "b"}  # c: less accurate and slower than a
    assert on(d.front()) == {"a", "b"}  # a beats c on all three, b beats d
    assert on(d.front((1, 2))) == {"b"}
    assert d.pairs == [(0, 1), (0, 2), (1, 2)]
    assert d.reference.tolist() == [0.7, 12, 9]
    xs, ys = pareto.staircase([0.9, 0.8], [10, 5], ["max", "min"])
    assert xs.tolist() == [0.9, 0.8, 0.8] and ys.tolist() == [10, 10, 5]
    assert pareto.axis_label("acc", "max") == "acc (max, better →)"
    assert pareto.axis_label("s", "min") == "s (min, ← better)"


# ---------------------------------------------------------------------------------------------
# hypervolume against time


def test_hypervolume_curve_by_hand():
    """Reference (4, 4): the worst last values. By time: a (2,2) -> 2x2 = 4; b (1,3) adds
    1x1 -> 5; d (4,4) adds nothing -> 5; a now (2.5,1): 1.5x3 + 3x1 - 1.5x1 = 6; c (0,0) breaks
    the memory limit -> 6; b's newer report breaks it too, leaving a: 4.5; e (3, 0.5) then
    runs out of memory, so its last report counts as infeasible -> 4.5."""
    reports = [(1, "a", 2, 2, 100), (2, "b", 1, 3, 100), (3, "d", 4, 4, 100),
               (4, "a", 2.5, 1, 100), (5, "c", 0, 0, 20000), (6, "b", 1, 3, 20000),
               (7, "e", 3, 0.5, math.nan)]
    history = [{"trial_id": t, "iteration": 1, "time_s": float(s), "x": x, "y": y,
                "peak_mem_mb": m} for s, t, x, y, m in reports]
    last = pd.DataFrame(history).drop_duplicates("trial_id", keep="last")
    trials = last.assign(status="COMPLETED", error=["", "", "", "", "CUDA out of memory"])
    trials = trials.drop(columns=["iteration", "time_s"])
    res = results(trials.to_dict("records"), history, [("x", "min"), ("y", "min")], MEM)
    d = pareto.data(res)
    assert d.reference.tolist() == [4, 4]
    hv = pareto.hypervolume_data(res, d)
    assert hv.times.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert hv.values.tolist() == pytest.approx([4, 5, 5, 6, 6, 4.5, 4.5])
    assert "reference point (x 4 (min), y 4 (min)" in pareto.hv_caption(res, hv)
    assert {t for t, v in zip(d.trial_ids, d.front(), strict=True) if v} == {"a"}


def test_hypervolume_ends_at_the_front_of_the_figure_and_is_sampled_when_long():
    res = with_objectives(make(60, errors=3, nan=2, seed=1))
    d = pareto.data(res)
    hv = pareto.hypervolume_data(res, d)
    feasible = d.values[d.feasible]
    from hpotk.objectives import hypervolume

    assert hv.values[-1] == pytest.approx(hypervolume(feasible, d.modes, d.reference))
    assert hv.values[-1] > 0 and len(hv.times) == hv.n_times
    short = pareto.HV_POINTS
    try:
        pareto.HV_POINTS = 10
        few = pareto.hypervolume_data(res, d)
    finally:
        pareto.HV_POINTS = short
    assert len(few.times) == 10 and few.times[-1] == hv.times[-1]
    assert few.values[-1] == pytest.approx(hv.values[-1])
    assert "Computed at 10 of the" in pareto.hv_caption(res, few)


def test_no_reference_when_an_objective_never_reported():
    trials = [{"trial_id": "a", "status": "ERROR", "x": math.nan, "y": 1.0}]
    res = results(trials, [], [("x", "min"), ("y", "min")])
    d = pareto.data(res)
    hv = pareto.hypervolume_data(res, d)
    assert d.reference is None and hv.why and "Not drawn" in pareto.hv_caption(res, hv)
    pareto.hv_png(res, hv)
    pareto.png(res, d)
    assert len(pareto.interactive(res, d).layout.annotations) == 1


# ---------------------------------------------------------------------------------------------
# the report


def test_single_objective_reports_have_no_pareto_figure(tmp_path):
    res = make(12, path=tmp_path)
    assert not pareto.applies(res)
    assert "pareto" not in [s.key for s in page.figures(res)]
    res.meta["objectives"] = [("val_loss", "min")]
    assert [s.key for s in page.figures(res)][:2] == ["history", "curves"]


def _multi_dir(tmp_path, k: int):
    res = with_objectives(make(40, errors=2, nan=2, seed=3), k=k)
    run = write_dir(res, tmp_path / f"multi{k}")
    experiment = json.loads((run / "experiment.json").read_text())
    experiment["metric"] = [{"name": n, "mode": m} for n, m in res.meta["objectives"]]
    experiment["constraints"] = MEM
    (run / "experiment.json").write_text(json.dumps(experiment))
    return run


@pytest.mark.parametrize("k", [2, 3])
def test_report_of_several_objectives(tmp_path, k):
    run = _multi_dir(tmp_path, k)
    files = write_report(run)
    assert [p.stem for p in files.pngs][:3] == ["pareto", "hypervolume", "history"]
    for png in files.pngs[:2]:
        with Image.open(png) as im:
            assert im.size[0] >= 800 and len(im.convert("RGB").getcolors(1 << 20)) > 20
    text = files.index.read_text()
    assert 'id="fig-pareto"' in text and 'id="fig-hypervolume"' in text
    assert "infeasible, breaks peak_mem_mb \\u003c= 14000\"" in text  # in a hover text
    assert "reference point" in text
    assert ("pick any pair" in text) == (k == 3)
    loaded = page_results(run)
    front = pareto.data(loaded).front()
    assert front.any() and front.tolist() == loaded.trials["pareto"].astype(bool).tolist()
    fig = pareto.interactive(loaded, pareto.data(loaded))
    menus = fig.layout.updatemenus
    assert len(menus) == (1 if k == 3 else 0)
    if k == 3:
        labels = [b.label for b in menus[0].buttons]
        assert labels == ["val_loss × epoch_s", "val_loss × params_m", "epoch_s × params_m"]
        for p, button in enumerate(menus[0].buttons):  # each shows its own traces only
            shown = [i for i, v in enumerate(button.args[0]["visible"]) if v]
            assert shown and all(fig.data[i].visible in (p == 0, None) for i in shown)


def page_results(run):
    from hpotk import results as reading

    return reading.load(run)


def test_pngs_say_what_they_show(tmp_path):
    """Axes name the objective and its better direction, the title says which two of three
    are shown, the legend counts each kind of point, the reference point is written out."""
    res = page_results(_multi_dir(tmp_path, 3))
    d = pareto.data(res)
    fig = pareto.png(res, d)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "val_loss (min, ← better)"
    assert ax.get_ylabel() == "epoch_s (min, ← better)"
    assert "of 3 objectives (also params_m)" in ax.get_title()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert [lab.split(" (")[0] for lab in labels] == ["dominated", "infeasible: breaks a "
                                                       "constraint", "Pareto front"]
    fig.savefig(tmp_path / "pareto.png", dpi=100)  # draws: nothing raises on layout
    hv = pareto.hv_png(res, pareto.hypervolume_data(res, d))
    texts = [t.get_text() for t in hv.axes[0].texts]
    assert any(t.startswith("reference point: val_loss ") for t in texts)
    hv.savefig(tmp_path / "hypervolume.png", dpi=100)


# ---------------------------------------------------------------------------------------------
# in a real browser


@pytest.fixture(scope="module")
def chromium():
    from tests.reporting.browser import chromium_path, open_chromium

    reason = open_chromium()
    if reason:
        pytest.skip(reason)
    return chromium_path()


def choose_pair(index, item: int) -> dict:
    """Open the Pareto figure's menu and click its ``item``-th entry, as a reader would;
    the axis titles and visible traces before and after."""
    from playwright.sync_api import sync_playwright

    from tests.reporting.browser import LAUNCH_ARGS, chromium_path

    state = ("() => { const f = document.getElementById('fig-pareto'); return {"
             "x: f._fullLayout.xaxis.title.text, y: f._fullLayout.yaxis.title.text, "
             "visible: f.data.map(t => t.visible !== false), "
             "names: f.data.filter(t => t.visible !== false).map(t => t.name || ''), "
             "points: f.querySelectorAll('.scatterlayer .point').length}; }")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
        try:
            view = browser.new_page(viewport={"width": 1300, "height": 900})
            errors = []
            view.on("pageerror", lambda exc: errors.append(str(exc)))
            view.goto(index.resolve().as_uri(), wait_until="load")
            view.wait_for_function(
                "() => [...document.querySelectorAll('.js-plotly-plot')]"
                ".every(p => p._fullLayout)", timeout=60_000)
            before = view.evaluate(state)
            view.click("#fig-pareto .updatemenu-header-group")
            view.wait_for_selector("#fig-pareto .updatemenu-dropdown-button", timeout=10_000)
            view.locator("#fig-pareto .updatemenu-dropdown-button").nth(item).click()
            view.wait_for_timeout(500)
            after = view.evaluate(state)
        finally:
            browser.close()
    return {"before": before, "after": after, "errors": errors}


def test_page_shows_the_front_and_the_menu_switches_the_pair(chromium, tmp_path):
    from tests.reporting.browser import check_page
    from tests.reporting.test_browser import assert_page_ok
    from tests.reporting.test_page import FIGURES

    files = write_report(_multi_dir(tmp_path, 3))
    check = check_page(files.index, tmp_path / "page.png")
    assert_page_ok(check, ["pareto", "hypervolume", *FIGURES])
    assert "Pareto front" in check.text and "objectives shown" in check.text
    done = choose_pair(files.index, 2)  # epoch_s × params_m
    before, after = done["before"], done["after"]
    assert done["errors"] == []
    assert before["x"].startswith("val_loss") and before["y"].startswith("epoch_s")
    assert after["x"].startswith("epoch_s") and after["y"].startswith("params_m (max")
    assert after["visible"] != before["visible"]
    assert any(n.startswith("Pareto front") for n in after["names"]) and after["points"] > 0


def test_an_objective_spanning_a_decade_goes_on_a_log_axis():
    from hpotk.reporting.pareto import log_axis

    assert log_axis([3.4e3, 8.1e4, float("nan")])  # a parameter count
    assert log_axis([0.0207, 0.406])  # an MAE with a diverged trial
    assert not log_axis([0.02, 0.1])  # less than a decade apart
    assert not log_axis([-1.0, 100.0])  # not all positive
