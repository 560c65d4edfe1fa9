"""Every figure from hand-made Results: 1, 2 and 1,000 trials, NaN and ERROR rows, log,
categorical, bool and int params, and a running experiment. Each test checks what the figure
shows (points, curves, axes, slots), not only that it draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpotk.reporting import common, curves, history, importance, parallel, scatter, timeline
from tests.reporting.make import PARAMS, make

CASES = {
    "one": dict(n=1),
    "two": dict(n=2, errors=1),
    "nan-error": dict(n=12, errors=2, nan=2),
    "running": dict(n=10, running=3),
    "thousand": dict(n=1000, errors=25, nan=15, running=5, concurrent=16, nodes=2),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    return request.param, make(**CASES[request.param])


def _mpl_points(fig) -> int:
    """Scatter points drawn in the figure's plot axes (colour bars left out)."""
    from matplotlib.collections import PathCollection

    return sum(len(c.get_offsets()) for ax in fig.axes if ax.get_label() != "<colorbar>"
               for c in ax.collections if isinstance(c, PathCollection))


def _render(fig) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    width, height = canvas.get_width_height()
    assert width > 300 and height > 150


# ---------------------------------------------------------------------------------------------
# optimisation history


def test_history_points_and_best_so_far(case):
    name, res = case
    d = history.data(res)
    assert len(d.frame) == len(res.trials)
    values = common.final_objective(res).fillna(common.objective(res))
    assert d.n_missing == int(values.isna().sum())
    best = d.frame["best_so_far"].dropna()
    assert (best.diff().dropna() <= 1e-12).all(), "min mode: best so far never rises"
    if len(best):
        assert best.iloc[-1] == pytest.approx(common.objective(res).min())
    fig = history.png(res, d)
    _render(fig)
    drawn = int(d.frame["value"].notna().sum())
    timed = int((d.frame["value"].notna() & d.frame["end_s"].notna()).sum())
    assert _mpl_points(fig) == drawn + timed  # one point per trial in each panel
    ifig = history.interactive(res, d)
    marker_points = sum(len(t.x) for t in ifig.data if t.mode == "markers")
    assert marker_points == drawn + timed
    assert ifig.layout.xaxis.title.text.startswith("wall-clock time")


def test_history_orders_trials_by_start():
    res = make(6, concurrent=2)
    res.trials = res.trials.iloc[::-1].reset_index(drop=True)  # table order is not start order
    d = history.data(res)
    assert list(d.frame["start_s"]) == sorted(d.frame["start_s"])
    assert list(d.frame["number"]) == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------------------------------------
# learning curves


def test_curves_one_per_reporting_trial(case):
    name, res = case
    d = curves.data(res)
    reporting = res.history.groupby("trial_id")["val_loss"].apply(
        lambda v: v.notna().any()) if len(res.history) else []
    assert set(d.curves) == {t for t, ok in dict(reporting).items() if ok}
    for trial_id, (x, y) in d.curves.items():
        assert x == sorted(x) and all(math.isfinite(v) for v in y)
        assert d.status[trial_id] in common.STATUS_STYLE
    fig = curves.png(res, d)
    _render(fig)
    ifig = curves.interactive(res, d)
    statuses = {d.status[t] for t in d.curves}
    assert len(ifig.data) == len(statuses)  # one trace per status, curves split by gaps
    # curves split by gaps (NaN, so plotly writes the arrays as binary)
    assert sum(sum(v is not None and math.isfinite(v) for v in t.y) for t in ifig.data) == sum(
        len(y) for _, y in d.curves.values())
    assert {t.name.rsplit(" (", 1)[0] for t in ifig.data} == {
        common.status_label(s) for s in statuses}


@pytest.mark.parametrize("scheduler, expected", [
    ({"name": "asha", "grace_period": 1, "reduction_factor": 3}, [1, 3]),
    ({"name": "asha", "grace_period": 2, "reduction_factor": 2}, [2, 4, 8]),
    ({"name": "ahb", "grace_period": 1, "reduction_factor": 3, "brackets": 2}, [1, 3]),
    ({"name": "hyperband", "reduction_factor": 3}, [1, 3]),
    ({"name": "fifo"}, []),
    ({"name": "pbt", "perturbation_interval": 2}, []),
])
def test_rungs_follow_the_scheduler(scheduler, expected):
    res = make(20, scheduler=scheduler,
               max_t=9 if scheduler.get("reduction_factor") != 2 else 16)
    d = curves.data(res)
    assert [r.iteration for r in d.rungs] == expected
    ifig = curves.interactive(res, d)
    assert len(ifig.layout.shapes) == len(expected)  # one dashed line per rung
    png = curves.png(res, d)
    dashed = [ln for ln in png.axes[0].lines if ln.get_linestyle() == "--"]
    assert len(dashed) == len(expected)
    if scheduler["name"] == "ahb":
        labels = {r.iteration: r.label for r in d.rungs}
        assert labels[3] == "3 (brackets 0,1)" and labels[1] == "1 (bracket 0)"


def test_rungs_use_budget_max_t_and_scheduler_override():
    meta = {"scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
            "budget": {"max_t": 8}}
    assert [r.iteration for r in curves.rungs(meta)] == [1, 2, 4]
    meta["scheduler"]["max_t"] = 4
    assert [r.iteration for r in curves.rungs(meta)] == [1, 2]


# ---------------------------------------------------------------------------------------------
# parallel coordinates


def test_parallel_axes_kinds(case):
    name, res = case
    d = parallel.data(res)
    kinds = {a.name: a.kind for a in d.axes}
    assert kinds == {"lr": "log", "hidden": "category", "optimizer": "category",
                     "batch_norm": "category", "layers": "linear", "val_loss": "linear"}
    by_name = {a.name: a for a in d.axes}
    assert by_name["batch_norm"].categories == ["False", "True"]
    assert by_name["hidden"].categories == ["32", "64", "128"]
    assert by_name["optimizer"].categories == ["adam", "sgd"]
    scored = common.objective(res).notna()
    assert len(d.trial_ids) == int(scored.sum()) and d.n_missing == int((~scored).sum())
    lr = res.trials.loc[scored, "config/lr"].to_numpy()
    assert np.allclose(by_name["lr"].values.to_numpy(), np.log10(lr))
    ticks, labels = by_name["lr"].ticks()
    assert all(lab in ("0.0001", "0.001", "0.01", "0.1") for lab in labels) or len(d.trial_ids) < 3
    fig = parallel.png(res, d)
    _render(fig)
    ifig = parallel.interactive(res, d)
    dims = ifig.data[0].dimensions
    assert [dim.label for dim in dims] == [a.label for a in d.axes]
    assert list(dims[3].ticktext) == ["False", "True"]
    assert all(len(dim.values) == len(d.trial_ids) for dim in dims)


def test_parallel_reads_params_without_metadata():
    """An old results dir without params in its metadata: categories and bools still found."""
    res = make(8)
    res.meta["params"] = {}
    res.trials["config/batch_norm"] = res.trials["config/batch_norm"].map(str)  # as CSV reads
    d = parallel.data(res)
    kinds = {a.name: a.kind for a in d.axes}
    assert kinds["optimizer"] == "category" and kinds["batch_norm"] == "category"
    assert kinds["lr"] == "linear" and kinds["layers"] == "linear"


# ---------------------------------------------------------------------------------------------
# importance


def test_importance_finds_the_planted_param():
    res = make(60, seed=1)
    d = importance.data(res)
    assert d.method.startswith("fANOVA")
    assert d.top(1) == ["lr"], d.importances
    assert sum(d.importances.values()) == pytest.approx(1.0, abs=1e-6)
    assert set(d.importances) == set(PARAMS)


def test_importance_thousand_trials_uses_ped_anova():
    res = make(1000, errors=10, nan=10, seed=2)
    d = importance.data(res)
    assert d.method.startswith("PED-ANOVA") and d.n_trials == 980
    assert d.top(1) == ["lr"]


def test_importance_too_few_trials_says_why():
    d = importance.data(make(1))
    assert d.importances == {} and "at least 2" in d.reason
    d = importance.data(make(3, errors=2))
    assert d.importances == {} and "has 1" in d.reason
    assert "Not computed" in importance.caption(make(1))
    _render(importance.png(make(1)))
    assert importance.interactive(make(1)).layout.annotations


def test_importance_two_trials(case):
    name, res = case
    d = importance.data(res)
    if d.importances:
        assert list(d.importances) == sorted(d.importances, key=lambda k: -d.importances[k])
        ifig = importance.interactive(res, d)
        assert list(ifig.data[0].y)[::-1] == list(d.importances)
    _render(importance.png(res, d))


# ---------------------------------------------------------------------------------------------
# scatter


def test_scatter_2d_and_3d(case):
    name, res = case
    d2 = scatter.data(res, ["layers", "lr"], dims=2)
    assert [a.name for a in d2.axes] == ["layers", "lr"]
    d3 = scatter.data(res, ["lr"], dims=3)
    assert [a.name for a in d3.axes][0] == "lr" and len(d3.axes) == 3
    scores = common.objective(res)
    if scores.notna().any():
        assert d2.best == int(np.nanargmin(scores.to_numpy()))
    for dims, d in ((2, d2), (3, d3)):
        fig = scatter.png(res, d, dims)
        _render(fig)
        assert _mpl_points(fig) == len(res.trials) + (1 if d.best is not None else 0)
        ifig = scatter.interactive(res, d, dims)
        total = sum(len(t.x) for t in ifig.data if t.name != "best trial")
        assert total == len(res.trials)
        if dims == 3:
            assert all(t.type == "scatter3d" for t in ifig.data)
            assert ifig.layout.scene.xaxis.title.text == "lr (log)"


def test_scatter_with_one_param_puts_the_objective_on_an_axis():
    res = make(5, params={"lr": PARAMS["lr"]})
    d = scatter.data(res, dims=2)
    assert [a.name for a in d.axes] == ["lr", "val_loss"] and d.objective_is_axis
    _render(scatter.png(res, d, 2))
    d = scatter.data(res, dims=3)
    assert len(d.axes) == 2
    assert scatter.interactive(res, d, 3).data[0].type == "scatter"


def test_scatter_without_params():
    res = make(3, params={})
    d = scatter.data(res)
    assert d.axes == []
    assert "tunes no params" in scatter.caption(res, d, 2)
    _render(scatter.png(res, d, 2))


# ---------------------------------------------------------------------------------------------
# timeline


def test_timeline_slots_and_utilisation(case):
    name, res = case
    d = timeline.data(res)
    concurrent = res.meta["budget"]["concurrent"]
    assert d.capacity >= concurrent
    for _slot, bars in d.bars.groupby("slot"):
        bars = bars.sort_values("start_s")
        assert (bars["start_s"].iloc[1:].to_numpy() >=
                bars["end_s"].iloc[:-1].to_numpy() - timeline.TOLERANCE_S).all()
    assert 0 < d.utilisation <= 1
    fig = timeline.png(res, d)
    _render(fig)
    ifig = timeline.interactive(res, d)
    assert sum(len(t.x) for t in ifig.data) == len(d.bars)


def test_timeline_utilisation_is_busy_share():
    """Four 4-iteration trials on 2 slots, start-up 5 s: busy 16 s of 2 x 13 s."""
    res = make(4, concurrent=2)
    res.trials["start_s"] = [5.0, 5.0, 9.0, 9.0]
    res.trials["end_s"] = [9.0, 9.0, 13.0, 13.0]
    d = timeline.data(res)
    assert d.capacity == 2 and d.rows == ["slot 1", "slot 2"]
    assert d.busy_s == pytest.approx(16.0)
    assert d.utilisation == pytest.approx(16 / 26)
    assert d.utilisation_active == pytest.approx(1.0)
    assert "utilisation 62% of 2 slot(s)" in timeline.summary(d)


def test_timeline_shows_idle_slots_and_nodes():
    res = make(3, concurrent=4)  # three trials at once, four slots: one idle row
    d = timeline.data(res)
    assert d.capacity == 4 and len(d.rows) == 4
    assert d.bars["slot"].nunique() == 3
    res = make(8, concurrent=4, nodes=2)
    d = timeline.data(res)
    assert d.rows == ["node0 slot 1", "node0 slot 2", "node1 slot 1", "node1 slot 2"]


def test_timeline_running_trials_reach_the_reading_time():
    res = make(6, running=2, concurrent=2)
    d = timeline.data(res)
    now_s = res.freshness.read_at - res.meta["started"]
    running = d.bars[d.bars["status"] == "RUNNING"]
    assert len(running) == 2 and np.allclose(running["end_s"], now_s)
    assert d.window_s == pytest.approx(now_s)
    assert "to the time of reading" in timeline.caption(res, d)


def test_timeline_without_starts():
    res = make(3)
    res.trials["start_s"] = math.nan
    d = timeline.data(res)
    assert d.n_untimed == 3 and len(d.bars) == 0
    assert timeline.summary(d) == "no trial has started yet"
    _render(timeline.png(res, d))


def _with_nodes(tmp_path, lines, **kwargs):
    """A results directory of ``make(**kwargs)`` with a nodes.jsonl of ``lines`` (event, seconds
    since the start, node, initial), read back through `hpotk.results.load`."""
    import json

    from hpotk import results
    from tests.reporting.make import write_dir

    made = make(**kwargs)
    d = write_dir(made, tmp_path / "nodes")
    with open(d / "nodes.jsonl", "w") as f:
        for event, t, node, initial in lines:
            f.write(json.dumps({"event": event, "time": made.meta["started"] + t, "node": node,
                                "node_id": f"id-{node}", "node_ip": "10.0.0.1", "cpus": 2.0,
                                "gpus": 0.0, **({"initial": True} if initial else {})}) + "\n")
    return results.load(d)


def test_timeline_marks_nodes_joining_and_leaving(tmp_path):
    # node0 from the start; node1 (a worker job) joins at 6 s and leaves at 12 s
    res = _with_nodes(tmp_path, [("join", 0.5, "node0", True), ("join", 6.0, "node1", False),
                                 ("leave", 12.0, "node1", False)], n=8, concurrent=4, nodes=2)
    d = timeline.data(res)
    assert d.node_marks[["time_s", "event", "label"]].values.tolist() == [
        [6.0, "join", "node1"], [12.0, "leave", "node1"]]
    # node1's two slot rows are shaded before it joined and after it left
    assert d.rows[2:] == ["node1 slot 1", "node1 slot 2"]
    assert d.node_absent == [(2, 3, 0.0, 6.0), (2, 3, 12.0, d.window_s)]
    assert "Nodes joined the cluster 1 time(s)" in timeline.caption(res, d)
    fig = timeline.interactive(res, d)
    assert [a.text for a in fig.layout.annotations] == ["node1 joined", "node1 left"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert sorted(s.x0 for s in lines) == [6.0, 12.0]
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.y0, s.y1) for s in shaded][0] == (0.0, -0.5, 1.5)  # rows listed bottom-up
    assert {t.name for t in fig.data} >= {"node joined", "node left", "node not in the cluster"}
    png = timeline.png(res, d)
    _render(png)
    ax = png.axes[0]
    assert {t.get_text() for t in ax.texts} == {"node1 joined", "node1 left"}
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {
        "node joined", "node left", "node not in the cluster"}
    # beyond WEBGL_ABOVE trials, the same marks on the WebGL figure (rows top-down there)
    webgl = timeline._interactive_webgl(res, d)
    assert [a.text for a in webgl.layout.annotations] == ["node1 joined", "node1 left"]
    assert [(s.y0, s.y1) for s in webgl.layout.shapes if s.type == "rect"][0] == (1.5, 3.5)


def test_timeline_of_nodes_that_never_changed_marks_nothing(tmp_path):
    res = _with_nodes(tmp_path, [("join", 0.5, "node0", True), ("join", 0.5, "node1", True)],
                      n=6, concurrent=2, nodes=2)
    d = timeline.data(res)
    assert d.node_marks.empty and d.node_absent == []
    fig = timeline.interactive(res, d)
    assert not fig.layout.annotations and not fig.layout.shapes
    assert "Nodes joined" not in timeline.caption(res, d)


def test_timeline_joins_at_one_look_share_a_label_and_a_late_join_widens_the_window(tmp_path):
    res = _with_nodes(tmp_path, [("join", 0.5, "node0", True)] + [
        ("join", 100.0, f"w{i}", False) for i in range(4)], n=3, concurrent=2)
    d = timeline.data(res)
    assert d.node_marks["label"].tolist() == ["w0 and 3 more"]
    assert d.window_s == 100.0  # after the last trial's end
    _render(timeline.png(res, d))


def test_conditional_params_missing_in_some_trials():
    """A param some trials did not have: a "(none)" category, a gap on a numeric axis, and the
    importance leaves those trials out of that param."""
    res = make(20)
    res.trials.loc[res.trials.index[::3], "config/layers"] = math.nan
    res.trials.loc[res.trials.index[::4], "config/optimizer"] = None
    axes = {a.name: a for a in parallel.data(res).axes}
    assert axes["optimizer"].categories == ["adam", "sgd", common.MISSING]
    assert (axes["optimizer"].values == 2).sum() == 5
    assert axes["layers"].values.isna().sum() == 7
    d = importance.data(res)
    assert set(d.importances) == set(PARAMS) and d.top(1) == ["lr"]
    _render(parallel.png(res))
    _render(scatter.png(res, scatter.data(res, ["optimizer", "layers"]), 2))


# ---------------------------------------------------------------------------------------------
# many trials: WebGL instead of an SVG element per point


def test_beyond_webgl_above_trials_points_and_bars_are_webgl():
    many = make(common.WEBGL_ABOVE + 200, max_t=3, errors=5, concurrent=8, nodes=2)
    few = make(50, errors=2)
    for res, kind in ((many, "Scattergl"), (few, "Scatter")):
        fig = history.interactive(res)
        assert {type(t).__name__ for t in fig.data if t.mode == "markers"} == {kind}
        fig = scatter.interactive(res, scatter.data(res, ["lr", "layers"], dims=2), 2)
        assert {type(t).__name__ for t in fig.data} == {kind}
        assert type(scatter.interactive(res, scatter.data(res, ["lr", "layers", "hidden"],
                                                          dims=3), 3).data[0]).__name__ \
            == "Scatter3d"
    d = timeline.data(many)
    fig = timeline.interactive(many, d)
    assert {type(t).__name__ for t in fig.data} == {"Scattergl"}
    # every trial is one segment (its start and end, then a gap) on its slot's row
    assert sum(int(np.isfinite(np.asarray(t.x, dtype=float)).sum()) for t in fig.data) \
        == 2 * len(d.bars)
    for trace in fig.data:
        y = np.asarray(trace.y, dtype=float)
        assert set(y[np.isfinite(y)]) <= set(range(len(d.rows)))
        assert list(trace.hovertext[:2]) == [trace.hovertext[0]] * 2
        assert trace.hovertext[0].startswith("trial ")
    assert list(fig.layout.yaxis.ticktext) == d.rows
    assert {type(t).__name__ for t in timeline.interactive(few).data} == {"Bar"}


def test_page_sample_keeps_the_best_and_is_the_same_each_time():
    ids = [f"t{i:04d}" for i in range(1000)]
    scores = [float(i % 500) if i % 7 else math.nan for i in range(1000)]
    assert common.page_sample(ids, scores, "min", limit=1000) is None
    drawn = common.page_sample(ids, scores, "min", limit=200)
    assert len(drawn) == 200 and drawn == common.page_sample(ids, scores, "min", limit=200)
    best = sorted((s, t) for t, s in zip(ids, scores, strict=True) if not math.isnan(s))[:50]
    assert {t for _, t in best} <= drawn
    top = common.page_sample(ids, scores, "max", limit=200)
    assert {t for t, s in zip(ids, scores, strict=True) if s >= 494} <= top


def test_beyond_page_lines_the_page_draws_a_sample_the_png_all(monkeypatch):
    monkeypatch.setattr(common, "PAGE_LINES", 120)
    res = make(400, errors=3)
    d = curves.data(res)
    fig = curves.interactive(res, d)
    gaps = sum(int(np.isnan(np.asarray(t.y, dtype=float)).sum()) for t in fig.data)
    assert gaps == 120  # one gap closes each curve drawn
    assert all(" of " in t.name for t in fig.data)
    assert "The page draws 120 of the 397 curves: the 30 best" in curves.caption(res, d)
    best = res.best()["trial_id"]
    assert any(f"trial {best}" in list(t.text) for t in fig.data)
    assert len(curves.png(res, d).axes[0].collections[0].get_segments()) > 0
    p = parallel.data(res)
    pfig = parallel.interactive(res, p)
    assert all(len(dim.values) == 120 for dim in pfig.data[0].dimensions)
    assert min(pfig.data[0].line.color) == p.objective.min()  # the best trial is drawn
    assert "The page draws 120 of the 397 lines" in parallel.caption(res, p)
    small = make(100)
    assert "page draws" not in curves.caption(small) + parallel.caption(small)
