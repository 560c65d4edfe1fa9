"""Optimisation history: each trial's objective when it ended, against wall-clock time and
against trial number, with the best-so-far line (Optuna's ``plot_optimization_history``, with a
wall-clock panel as well since HPC allocations are paid by the hour)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpotk.reporting import common

TITLE = "Optimisation history"


@dataclass
class HistoryData:
    """One row per trial in the order the trials started.

    Attributes:
        frame: trial_id, number (1-based, by start), status, end_s (seconds since the experiment
            started; NaN if unknown), value (objective when the trial ended), best (the trial's
            best value), best_so_far (best of ``best`` over the trials numbered up to this one).
        by_time: the same rows sorted by end_s, with best_so_far over the trials ended by then.
        n_missing: trials without an objective value (errored, or no report yet).
    """

    frame: Any
    by_time: Any
    n_missing: int


def data(res: Any) -> HistoryData:
    """The trials in start order with their objective and the best so far."""
    import pandas as pd

    t = res.trials
    frame = pd.DataFrame({
        "trial_id": t["trial_id"].astype(str) if "trial_id" in t else [],
        "status": t["status"].astype(str) if "status" in t else "UNFINISHED",
        "start_s": common.numeric(t["start_s"]) if "start_s" in t else math.nan,
        "end_s": common.numeric(t["end_s"]) if "end_s" in t else math.nan,
        "value": common.final_objective(res),
        "best": common.objective(res),
    }, index=t.index)
    frame["value"] = frame["value"].fillna(frame["best"])
    order = frame["start_s"].fillna(frame["end_s"]).fillna(math.inf)
    frame = frame.assign(_o=order).sort_values(["_o"], kind="stable").drop(columns="_o")
    frame["number"] = range(1, len(frame) + 1)
    frame["best_so_far"] = common.running_best(frame["best"], res.mode)
    by_time = frame[frame["end_s"].notna()].sort_values("end_s", kind="stable").copy()
    by_time["best_so_far"] = common.running_best(by_time["best"], res.mode)
    return HistoryData(frame.reset_index(drop=True), by_time.reset_index(drop=True),
                       int(frame["value"].isna().sum()))


def caption(res: Any, d: HistoryData | None = None) -> str:
    """The sentence under the figure, with the trials left out."""
    d = d or data(res)
    text = (f"Each point is a trial's {res.metric} when it ended, coloured by status; the line "
            f"is the best value so far (each trial's best, as `hpotk best` ranks them).")
    if d.n_missing:
        text += f" {d.n_missing} trial(s) without a {res.metric} value are not drawn."
    return text


def png(res: Any, d: HistoryData | None = None) -> Any:
    """The two history panels as a matplotlib figure."""
    from matplotlib.figure import Figure

    d = d or data(res)
    fig = Figure(figsize=(11, 4.2), dpi=100, layout="constrained")
    ax_time, ax_num = fig.subplots(1, 2, sharey=True)
    span = float(d.by_time["end_s"].max()) if len(d.by_time) else 0.0
    div, unit = common.time_unit(span)
    size = _marker_size(len(d.frame))
    for status in common.statuses_in(res):
        rows = d.frame[(d.frame["status"] == status) & d.frame["value"].notna()]
        if rows.empty:
            continue
        kw = {"s": size, "color": common.status_colour(status), "alpha": 0.85,
              "edgecolors": "none", "zorder": 3}
        timed = rows[rows["end_s"].notna()]
        ax_time.scatter(timed["end_s"] / div, timed["value"], **kw)
        ax_num.scatter(rows["number"], rows["value"], label=common.status_label(status), **kw)
    if len(d.by_time):
        x, y = _extended(d.by_time["end_s"] / div, d.by_time["best_so_far"],
                         d.by_time["end_s"].max() / div * 1.02)
        ax_time.step(x, y, where="post",
                     color="#222222", lw=1.6, zorder=4)
    x, y = _extended(d.frame["number"], d.frame["best_so_far"], len(d.frame) + 0.5)
    ax_num.step(x, y, where="post", color="#222222",
                lw=1.6, zorder=4, label="best so far")
    ax_time.set_xlabel(f"wall-clock time since the experiment started ({unit})")
    ax_num.set_xlabel("trial number (in the order trials started)")
    ax_time.set_ylabel(common.objective_label(res))
    ax_time.set_title("against wall-clock time", fontsize=10)
    ax_num.set_title("against trial number", fontsize=10)
    ax_time.set_xlim(0, span / div * 1.04 if span > 0 else None)
    ax_num.set_xlim(0.5, max(len(d.frame), 1) + 0.5)
    if len(d.frame) <= 12:
        ax_num.set_xticks(list(range(1, len(d.frame) + 1)))
    for ax in (ax_time, ax_num):
        ax.grid(alpha=0.3)
    if d.frame["value"].notna().any():
        ax_num.legend(fontsize=8, loc="best", framealpha=0.9)
    else:
        for ax in (ax_time, ax_num):
            ax.text(0.5, 0.5, f"no trial has reported {res.metric} yet", ha="center",
                    va="center", transform=ax.transAxes, color="#555555")
    fig.suptitle(f"{TITLE}: {res.name}{common.running_note(res)}", fontsize=12)
    return fig


def interactive(res: Any, d: HistoryData | None = None) -> Any:
    """The two history panels as a plotly figure (hover names the trial)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    d = d or data(res)
    span = float(d.by_time["end_s"].max()) if len(d.by_time) else 0.0
    div, unit = common.time_unit(span)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.05,
                        subplot_titles=("against wall-clock time", "against trial number"))
    points = common.scatter_trace(len(d.frame))  # WebGL beyond common.WEBGL_ABOVE trials
    for status in common.statuses_in(res):
        rows = d.frame[(d.frame["status"] == status) & d.frame["value"].notna()]
        if rows.empty:
            continue
        marker = {"color": common.status_colour(status), "size": 7 if len(d.frame) < 300 else 4}
        hover = [f"trial {t}<br>{res.metric} at end: {common.format_value(v)}<br>best: "
                 f"{common.format_value(b)}" for t, v, b in
                 zip(rows["trial_id"], rows["value"], rows["best"], strict=True)]
        timed = rows["end_s"].notna()
        fig.add_trace(points(x=rows["end_s"][timed] / div, y=rows["value"][timed],
                                 mode="markers", marker=marker, legendgroup=status,
                                 name=common.status_label(status), showlegend=False,
                                 hovertext=[h for h, k in zip(hover, timed, strict=True) if k],
                                 hoverinfo="text"), row=1, col=1)
        fig.add_trace(points(x=rows["number"], y=rows["value"], mode="markers",
                                 marker=marker, legendgroup=status,
                                 name=common.status_label(status), hovertext=hover,
                                 hoverinfo="text"), row=1, col=2)
    line = {"color": "#222222", "width": 2, "shape": "hv"}
    if len(d.by_time):
        x, y = _extended(d.by_time["end_s"] / div, d.by_time["best_so_far"],
                         d.by_time["end_s"].max() / div * 1.02)
        fig.add_trace(go.Scatter(x=x, y=y,
                                 mode="lines", line=line, legendgroup="best", showlegend=False,
                                 name="best so far"), row=1, col=1)
    x, y = _extended(d.frame["number"], d.frame["best_so_far"], len(d.frame) + 0.5)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines",
                             line=line, legendgroup="best", name="best so far"), row=1, col=2)
    fig.update_xaxes(title_text=f"wall-clock time since the experiment started ({unit})",
                     rangemode="tozero", row=1, col=1)
    fig.update_xaxes(title_text="trial number (in the order trials started)", row=1, col=2,
                     dtick=1 if len(d.frame) <= 20 else None)
    fig.update_yaxes(title_text=common.objective_label(res), row=1, col=1)
    fig.update_layout(height=430, margin={"t": 40, "b": 50, "l": 60, "r": 20},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def _extended(x: Any, y: Any, right: float) -> tuple[list[float], list[float]]:
    """The best-so-far steps carried on to ``right``, so a single best value still shows."""
    xs, ys = [float(v) for v in x], [float(v) for v in y]
    if xs and ys and math.isfinite(ys[-1]) and right > xs[-1]:
        xs.append(float(right))
        ys.append(ys[-1])
    return xs, ys


def _marker_size(n: int) -> float:
    return 36.0 if n <= 30 else 18.0 if n <= 300 else 8.0
