"""Timeline: one row per worker slot, one bar per trial coloured by its status, and the
utilisation (the share of slot-time that was busy). It shows HPC users whether their allocation
idled: Ray starting up, a slow trial setup, or a scheduler waiting (Optuna's ``plot_timeline``,
with slots instead of one row per trial).

Slots are found by greedy interval packing per node: trials sorted by start, each put in the
first slot of its node that is free by then, a new slot when none is. The experiment's
``budget.concurrent`` slots are the capacity (more, if the packing needed more).

Where nodes joined or left the cluster during the run (an elastic Slurm run: worker jobs come and
go; `hpotk.results.Results.nodes`), a vertical line marks each join (dashed) and leave (dotted)
with the node's name, and a node's slot rows are hatched while the node was not there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hpotk.reporting import common

TITLE = "Timeline"
#: a trial starting this soon before a slot frees up still takes that slot (clock granularity)
TOLERANCE_S = 0.25


@dataclass
class TimelineData:
    """Attributes:
        bars: trial_id, status, node, slot (row index), row (its label), start_s, end_s.
        rows: the row labels, top to bottom.
        capacity: slots available (budget.concurrent, or more if the packing needed more).
        window_s: the experiment's span so far (0 to the last end, or to now if running).
        busy_s: the summed duration of the bars.
        utilisation: busy_s / (capacity * window_s) (NaN without bars).
        utilisation_active: the same from the first trial's start (leaves out Ray's start-up).
        first_start_s: when the first trial started.
        n_untimed: trials without a known start (not drawn).
        node_marks: a node joining or leaving during the run: time_s, event (join, leave),
            label (the node names, joined at one time); empty where the nodes never changed.
        node_absent: (first row, last row, start_s, end_s) of a node's slot rows while the
            node was not in the cluster.
    """

    bars: Any
    rows: list[str]
    capacity: int
    window_s: float
    busy_s: float
    utilisation: float
    utilisation_active: float
    first_start_s: float
    n_untimed: int
    node_marks: Any = None
    node_absent: list[tuple[int, int, float, float]] = field(default_factory=list)


def data(res: Any) -> TimelineData:
    """The trials packed onto worker slots, and the utilisation (see the module docstring)."""
    import pandas as pd

    t = res.trials
    start = common.numeric(t["start_s"]) if "start_s" in t else pd.Series(math.nan, t.index)
    end = common.numeric(t["end_s"]) if "end_s" in t else pd.Series(math.nan, t.index)
    status = t["status"].astype(str) if "status" in t else pd.Series("UNFINISHED", t.index)
    now_s = math.nan
    if res.status == "running" and res.meta.get("started"):
        now_s = float(res.freshness.read_at) - float(res.meta["started"])
        end = end.where(status != "RUNNING", other=max(now_s, 0.0))
    end = end.where(end.notna(), start)  # started, nothing reported yet: a sliver
    node = t["node"].fillna("").astype(str) if "node" in t else pd.Series("", t.index)
    frame = pd.DataFrame({"trial_id": t["trial_id"].astype(str) if "trial_id" in t else "",
                          "status": status, "node": node.replace("", "node"),
                          "start_s": start, "end_s": end})
    frame["end_s"] = frame[["start_s", "end_s"]].max(axis=1)
    timed = frame[frame["start_s"].notna()].sort_values(["start_s", "end_s"], kind="stable")
    slot_of: dict[Any, int] = {}
    per_node: dict[str, list[float]] = {}
    for index, row in timed.iterrows():
        frees = per_node.setdefault(row["node"], [])
        for k, free_at in enumerate(frees):
            if row["start_s"] >= free_at - TOLERANCE_S:
                frees[k] = row["end_s"]
                slot_of[index] = k
                break
        else:
            frees.append(row["end_s"])
            slot_of[index] = len(frees) - 1
    nodes = sorted(per_node) or ["node"]
    concurrent = int((res.meta.get("budget") or {}).get("concurrent") or 0)
    used = sum(len(v) for v in per_node.values())
    capacity = max(concurrent, used, 1)
    spare = capacity - used
    if spare:  # slots the budget allowed that no trial used: shown empty on the first node
        per_node.setdefault(nodes[0], []).extend([math.nan] * spare)
    rows, offset = [], {}
    multi = len(nodes) > 1
    for n in nodes:
        offset[n] = len(rows)
        rows += [f"{n} slot {k + 1}" if multi else f"slot {k + 1}"
                 for k in range(len(per_node.get(n, [])))]
    bars = timed.copy()
    bars["slot"] = [offset[n] + slot_of[i] for i, n in zip(bars.index, bars["node"],
                                                           strict=True)]
    bars["row"] = [rows[s] for s in bars["slot"]]
    busy = float((bars["end_s"] - bars["start_s"]).clip(lower=0).sum())
    window = float(bars["end_s"].max()) if len(bars) else 0.0
    if math.isfinite(now_s):
        window = max(window, now_s)
    marks, spans = _node_changes(res)
    if len(marks):  # a node that joined or left after the last trial's end
        window = max(window, float(marks["time_s"].max()))
    first = float(bars["start_s"].min()) if len(bars) else math.nan
    util = busy / (capacity * window) if window > 0 else math.nan
    active = window - first if len(bars) else 0.0
    util_active = busy / (capacity * active) if active > 0 else math.nan
    node_rows = {n: (offset[n], offset[n] + len(per_node.get(n, [])) - 1) for n in nodes
                 if per_node.get(n)}
    if not multi and nodes[0] == "node" and spans["node"].nunique() == 1:
        node_rows = {spans["node"].iloc[0]: node_rows.get("node", (0, 0))}  # no name in trials
    absent = _absent(spans, node_rows, window) if len(marks) else []
    return TimelineData(bars.reset_index(drop=True), rows, capacity, window, busy, util,
                        util_active, first, int(frame["start_s"].isna().sum()), marks, absent)


def _node_changes(res: Any) -> tuple[Any, Any]:
    """The joins and leaves to mark (`TimelineData.node_marks`) and each node's spans in the
    cluster (`hpotk.results.Results.node_spans`)."""
    import pandas as pd

    spans = res.node_spans() if hasattr(res, "node_spans") else pd.DataFrame(
        columns=["node", "join_s", "leave_s", "at_start", "changed"])
    events = [(float(s.join_s), "join", s.node) for s in spans.itertuples() if s.changed]
    events += [(float(s.leave_s), "leave", s.node) for s in spans.itertuples()
               if math.isfinite(s.leave_s)]
    marks = pd.DataFrame(events, columns=["time_s", "event", "node"])
    if len(marks):  # several nodes at one time (one look at the cluster): one line, one label
        marks = (marks.groupby(["time_s", "event"], sort=True)["node"].agg(_names)
                 .reset_index().rename(columns={"node": "label"}))
    else:
        marks = pd.DataFrame(columns=["time_s", "event", "label"])
    return marks, spans


def _names(names: Any) -> str:
    """Node names for one label: two at most, then how many more."""
    names = sorted(set(names))
    return ", ".join(names) if len(names) <= 2 else f"{names[0]} and {len(names) - 1} more"


def _absent(spans: Any, node_rows: dict[str, tuple[int, int]],
            window: float) -> list[tuple[int, int, float, float]]:
    """(first row, last row, start_s, end_s) of each stretch a node with slot rows was not in
    the cluster, within [0, window]."""
    out = []
    for node, (top, bottom) in node_rows.items():
        mine = spans[spans["node"] == node]
        if mine.empty:
            continue
        here = sorted((0.0 if s.at_start else float(s.join_s),
                       float(s.leave_s) if math.isfinite(s.leave_s) else window)
                      for s in mine.itertuples())
        free_from = 0.0
        for start, end in here:
            if start > free_from:
                out.append((top, bottom, free_from, start))
            free_from = max(free_from, end)
        if free_from < window:
            out.append((top, bottom, free_from, window))
    return out


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%" if math.isfinite(value) else "-"


def summary(d: TimelineData) -> str:
    """The utilisation sentence (in the figure's title and the page)."""
    if not len(d.bars):
        return "no trial has started yet"
    return (f"utilisation {_percent(d.utilisation)} of {d.capacity} slot(s) over "
            f"{common.format_seconds(d.window_s)}; {_percent(d.utilisation_active)} from the "
            f"first trial's start at {common.format_seconds(d.first_start_s)}")


def caption(res: Any, d: TimelineData | None = None) -> str:
    """The sentence under the figure, with the utilisation."""
    d = d or data(res)
    text = (f"One row per worker slot ({d.capacity}: budget.concurrent), one bar per trial from "
            f"its start to its last result, coloured by status. {summary(d)[0].upper()}"
            f"{summary(d)[1:]}. Time before the first trial is Ray starting up and the first "
            f"trials setting up.")
    if res.status == "running":
        text += " Running trials extend to the time of reading."
    if d.n_untimed:
        text += f" {d.n_untimed} trial(s) with no known start are not drawn."
    if d.node_marks is not None and len(d.node_marks):
        joins = int((d.node_marks["event"] == "join").sum())
        leaves = len(d.node_marks) - joins
        text += (f" Nodes joined the cluster {joins} time(s) (dashed lines) and left it "
                 f"{leaves} time(s) (dotted); a node's slots are hatched while it was not "
                 f"there.")
    return text


def png(res: Any, d: TimelineData | None = None) -> Any:
    """The timeline as a matplotlib figure (broken bars per slot)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    d = d or data(res)
    n_rows = max(len(d.rows), 1)
    height = min(1.6 + 0.38 * n_rows, 14)
    if d.node_marks is not None and len(d.node_marks):
        height = max(height, 3.4)  # room for the node labels
    fig = Figure(figsize=(11, height), dpi=100, layout="constrained")
    ax = fig.subplots()
    div, unit = common.time_unit(d.window_s)
    thin = n_rows > 40
    for status in common.statuses_in(res):
        rows = d.bars[d.bars["status"] == status]
        if rows.empty:
            continue
        for slot, group in rows.groupby("slot"):
            spans = [(s / div, max((e - s) / div, d.window_s / div * 0.002))
                     for s, e in zip(group["start_s"], group["end_s"], strict=True)]
            ax.broken_barh(spans, (slot - 0.4, 0.8), facecolors=common.status_colour(status),
                           edgecolors="white" if not thin else "none", linewidth=0.5)
    handles = [Patch(color=common.status_colour(s), label=common.status_label(s))
               for s in common.statuses_in(res) if (d.bars["status"] == s).any()]
    handles += _png_nodes(ax, d, div)
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  framealpha=0.9)
    if not len(d.bars):
        ax.text(0.5, 0.5, "no trial has started yet", ha="center", va="center",
                transform=ax.transAxes, color="#555555")
    ax.set_ylim(n_rows - 0.5, -0.5)
    if n_rows <= 40:
        ax.set_yticks(range(len(d.rows)))
        ax.set_yticklabels(d.rows, fontsize=8)
    else:
        ax.set_ylabel(f"{n_rows} worker slots")
    ax.set_xlim(0, max(d.window_s / div, 1e-9) * 1.01)
    ax.set_xlabel(f"wall-clock time since the experiment started ({unit})")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{TITLE}{common.running_note(res)}: {summary(d)}", fontsize=10.5)
    return fig


#: how the node marks look: (matplotlib line style, plotly dash, verb)
NODE_STYLE = {"join": ("--", "dash", "joined"), "leave": (":", "dot", "left")}
NODE_COLOUR = "#222222"
ABSENT = {"facecolor": "#f0f0f0", "edgecolor": "#b0b0b0", "hatch": "///"}
ABSENT_PLOTLY = "rgba(90, 90, 90, 0.22)"  # on plotly's blue-grey plot area


def _png_nodes(ax: Any, d: TimelineData, div: float) -> list[Any]:
    """Draw the node marks and hatch the absent nodes' rows; the legend handles for them."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    if d.node_marks is None or not len(d.node_marks):
        return []
    for top, bottom, start, end in d.node_absent:
        ax.add_patch(Rectangle((start / div, top - 0.5), (end - start) / div, bottom - top + 1,
                               linewidth=0, zorder=0, **ABSENT))
    for mark in d.node_marks.itertuples():
        style, _, verb = NODE_STYLE[mark.event]
        ax.axvline(mark.time_s / div, color=NODE_COLOUR, linestyle=style, linewidth=1.2,
                   zorder=3)
        ax.annotate(f"{mark.label} {verb}", xy=(mark.time_s / div, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(-2, -4),
                    textcoords="offset points", rotation=90, ha="right", va="top", fontsize=8,
                    color=NODE_COLOUR, zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8,
                          "linewidth": 0})
    handles = [Line2D([], [], color=NODE_COLOUR, linestyle=NODE_STYLE[e][0], linewidth=1.2,
                      label=f"node {NODE_STYLE[e][2]}")
               for e in ("join", "leave") if (d.node_marks["event"] == e).any()]
    if d.node_absent:
        handles.append(Patch(label="node not in the cluster", linewidth=0, **ABSENT))
    return handles


def _plotly_nodes(fig: Any, d: TimelineData, div: float, row_y: Callable[[int], float]) -> None:
    """The node marks (vertical lines, labelled), absent rows shaded, and legend entries;
    ``row_y`` gives a row's y coordinate."""
    import plotly.graph_objects as go

    if d.node_marks is None or not len(d.node_marks):
        return
    for top, bottom, start, end in d.node_absent:
        y0, y1 = sorted((row_y(top), row_y(bottom)))
        fig.add_shape(type="rect", xref="x", yref="y", x0=start / div, x1=end / div,
                      y0=y0 - 0.5, y1=y1 + 0.5, layer="below", line={"width": 0},
                      fillcolor=ABSENT_PLOTLY)
    for mark in d.node_marks.itertuples():
        _, dash, verb = NODE_STYLE[mark.event]
        fig.add_vline(x=mark.time_s / div, line={"color": NODE_COLOUR, "dash": dash,
                                                 "width": 1.2},
                      annotation={"text": f"{mark.label} {verb}", "textangle": -90,
                                  "font": {"size": 11, "color": NODE_COLOUR},
                                  "bgcolor": "rgba(255,255,255,0.8)", "xanchor": "left",
                                  "yanchor": "top"},
                      annotation_position="top right")
    for event in ("join", "leave"):
        if (d.node_marks["event"] == event).any():
            _, dash, verb = NODE_STYLE[event]
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"node {verb}",
                                     line={"color": NODE_COLOUR, "dash": dash, "width": 1.2},
                                     hoverinfo="skip"))
    if d.node_absent:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers",
                                 name="node not in the cluster", hoverinfo="skip",
                                 marker={"symbol": "square", "size": 12,
                                         "color": ABSENT_PLOTLY,
                                         "line": {"color": ABSENT["edgecolor"], "width": 1}}))
    fig.update_layout(height=max(fig.layout.height or 0, 320))  # room for the labels


def interactive(res: Any, d: TimelineData | None = None) -> Any:
    """The timeline as a plotly figure (hover gives each trial's span)."""
    import plotly.graph_objects as go

    d = d or data(res)
    if len(d.bars) > common.WEBGL_ABOVE:
        return _interactive_webgl(res, d)
    div, unit = common.time_unit(d.window_s)
    fig = go.Figure()
    for status in common.statuses_in(res):
        rows = d.bars[d.bars["status"] == status]
        if rows.empty:
            continue
        duration = ((rows["end_s"] - rows["start_s"]) / div).clip(lower=d.window_s / div * 0.002)
        fig.add_trace(go.Bar(
            base=rows["start_s"] / div, x=duration, y=rows["row"], orientation="h",
            marker={"color": common.status_colour(status), "line": {"width": 0.5,
                                                                     "color": "white"}},
            name=common.status_label(status),
            hovertext=_spans_text(rows), hoverinfo="text"))
    if not len(d.bars):
        fig.add_annotation(text="no trial has started yet", showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        barmode="overlay", height=min(160 + 28 * max(len(d.rows), 1), 1200),
        xaxis_title=f"wall-clock time since the experiment started ({unit})",
        yaxis={"categoryorder": "array", "categoryarray": list(reversed(d.rows)),
               "type": "category"},
        margin={"t": 20, "b": 50, "l": 90, "r": 20})
    fig.update_xaxes(range=[0, max(d.window_s / div, 1e-9) * 1.01])
    n_rows = len(d.rows)
    _plotly_nodes(fig, d, div, lambda row: n_rows - 1 - row)  # categories listed bottom-up
    return fig


def _spans_text(rows: Any) -> list[str]:
    return [f"trial {t}<br>{common.format_seconds(s)} to {common.format_seconds(e)} "
            f"({common.format_seconds(e - s)})"
            for t, s, e in zip(rows["trial_id"], rows["start_s"], rows["end_s"], strict=True)]


def _interactive_webgl(res: Any, d: TimelineData) -> Any:
    """The timeline beyond `common.WEBGL_ABOVE` trials: each bar a thick WebGL line segment
    (one Scattergl trace per status) instead of an SVG rectangle per trial; rows are numbered
    on a reversed axis labelled with the slots."""
    import numpy as np
    import plotly.graph_objects as go

    div, unit = common.time_unit(d.window_s)
    n_rows = max(len(d.rows), 1)
    height = min(160 + 28 * n_rows, 1200)
    width_px = max(1.0, min(0.8 * (height - 70) / n_rows, 20.0))
    fig = go.Figure()
    for status in common.statuses_in(res):
        rows = d.bars[d.bars["status"] == status]
        if rows.empty:
            continue
        start = rows["start_s"].to_numpy(dtype=float) / div
        end = np.maximum(rows["end_s"].to_numpy(dtype=float) / div,
                         start + d.window_s / div * 0.002)
        x = np.column_stack([start, end, np.full(len(start), np.nan)]).ravel()
        y = np.repeat(rows["slot"].to_numpy(dtype=float), 3)
        y[2::3] = np.nan
        text = np.array(_spans_text(rows), dtype=object)
        hover = np.column_stack([text, text, np.full(len(text), None)]).ravel()
        fig.add_trace(go.Scattergl(
            x=x, y=y, mode="lines", connectgaps=False, hovertext=hover, hoverinfo="text",
            line={"color": common.status_colour(status), "width": width_px},
            name=common.status_label(status)))
    fig.update_layout(
        height=height, xaxis_title=f"wall-clock time since the experiment started ({unit})",
        yaxis={"range": [n_rows - 0.5, -0.5], "tickvals": list(range(len(d.rows))),
               "ticktext": d.rows, "showticklabels": len(d.rows) <= 40, "zeroline": False,
               "title": {"text": "" if len(d.rows) <= 40 else f"{len(d.rows)} worker slots"}},
        margin={"t": 20, "b": 50, "l": 90, "r": 20})
    fig.update_xaxes(range=[0, max(d.window_s / div, 1e-9) * 1.01])
    _plotly_nodes(fig, d, div, float)
    return fig
