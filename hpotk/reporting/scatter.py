"""Scatter plots of params coloured by the objective: a 2-D one over two params (by default the
two most important) and a 3-D one over three, which can be rotated in the HTML (Azure ML's 2-D
and 3-D scatter charts; Optuna's ``plot_contour`` shows the same pairs as a surface)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpotk.reporting import common

TITLE_2D = "Two params against the objective"
TITLE_3D = "Three params against the objective (3-D)"


@dataclass
class ScatterData:
    """Attributes:
        axes: the params plotted (up to ``dims``); with fewer tuned params than ``dims``, the
            objective is the last axis instead.
        objective: each trial's best objective (NaN: drawn grey as "no value").
        trial_ids: every trial, in the trials table's order.
        best: position of the best trial (None if no trial has a value).
        objective_is_axis: the objective is plotted as the last axis.
    """

    axes: list[common.Axis]
    objective: Any
    trial_ids: list[str]
    best: int | None
    objective_is_axis: bool


def data(res: Any, params: list[str] | None = None, dims: int = 2) -> ScatterData:
    """The trials over ``params`` (default: the first tuned params; the page passes the most
    important ones)."""
    names = [p for p in (params or []) if p in res.param_names]
    names += [p for p in res.param_names if p not in names]
    names = names[:dims]
    axes = [common.param_axis(res, name) for name in names]
    scores = common.objective(res).reset_index(drop=True)
    for axis in axes:
        axis.values = axis.values.reset_index(drop=True)
    on_axis = 0 < len(axes) < dims
    if on_axis:
        axes.append(common.objective_axis(res, scores))
    finite = scores[scores.notna() & scores.map(lambda v: math.isfinite(v))]
    best = None
    if len(finite):
        best = int(finite.idxmin() if res.mode == "min" else finite.idxmax())
    return ScatterData(axes, scores, res.trials["trial_id"].astype(str).tolist(), best,
                       on_axis)


def caption(res: Any, d: ScatterData, dims: int) -> str:
    """The sentence under the 2-D (``dims=2``) or 3-D figure."""
    if not d.axes:
        return "Not drawn: the experiment tunes no params."
    names = " and ".join(a.name for a in d.axes if a.name != res.metric or
                         not d.objective_is_axis)
    if d.objective_is_axis:
        return (f"Each trial's {names} against its best {res.metric} (the experiment tunes "
                f"fewer than {dims} params); the star marks the best trial.")
    missing = int(d.objective.isna().sum())
    text = (f"Each trial at its {names}, coloured by its best {res.metric} (brighter is "
            f"better); the {'diamond' if dims == 3 else 'star'} marks the best trial.")
    if missing:
        mark = "open circles" if dims == 3 else "crosses"
        text += f" Grey {mark}: {missing} trial(s) without a {res.metric} value."
    if dims == 3:
        text += " In the page, drag to rotate and scroll to zoom."
    return text


def _jittered(axis: common.Axis, seed: int) -> Any:
    import numpy as np

    values = axis.values.to_numpy(dtype=float).copy()
    if axis.kind == "category" and len(values) > 1:
        values += np.random.default_rng(seed).uniform(-0.15, 0.15, len(values))
    return values


def _mpl_axis(ax: Any, axis: common.Axis, which: str) -> None:
    low, high = axis.bounds()
    spots, labels = axis.ticks()
    pad = 0.0 if axis.kind == "category" else (high - low) * 0.05
    getattr(ax, f"set_{which}lim")(low - pad, high + pad)
    if axis.kind != "linear" or axis.integer:
        getattr(ax, f"set_{which}ticks")(spots)
        getattr(ax, f"set_{which}ticklabels")(labels)
    getattr(ax, f"set_{which}label")(axis.label)


def png(res: Any, d: ScatterData, dims: int = 2) -> Any:
    """The scatter as a matplotlib figure (3-D with ``dims=3`` and three axes)."""
    import numpy as np
    from matplotlib.figure import Figure

    three = dims == 3 and len(d.axes) == 3
    fig = Figure(figsize=(7.5, 6.0) if three else (7.5, 5.2), dpi=100, layout="constrained")
    ax = fig.add_subplot(projection="3d") if three else fig.subplots()
    title = TITLE_3D if dims == 3 else TITLE_2D
    if not d.axes:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "the experiment tunes no params", ha="center", va="center",
                transform=ax.transAxes, color="#555555")
        ax.set_title(title, fontsize=12)
        return fig
    coords = [_jittered(a, i) for i, a in enumerate(d.axes)]
    values = d.objective.to_numpy(dtype=float)
    ok = np.isfinite(values)
    if d.objective_is_axis:
        ok = ok & np.isfinite(coords[-1])
    cmap = common.OBJECTIVE_CMAP + ("_r" if res.mode == "min" else "")
    size = 40 if len(values) <= 100 else 14
    if ok.any():
        points = ax.scatter(*[c[ok] for c in coords], c=values[ok], cmap=cmap, s=size,
                            edgecolors="#333333", linewidths=0.3, alpha=0.9)
        bar = fig.colorbar(points, ax=ax, pad=0.12 if three else 0.02,
                           shrink=0.7 if three else 1.0)
        bar.set_label(common.objective_label(res))
    if (~ok).any() and not d.objective_is_axis:
        if three:
            ax.scatter(*[c[~ok] for c in coords], marker="o", facecolors="none",
                       edgecolors="#999999", s=size * 0.7, label="no value", linewidths=1)
        else:
            ax.scatter(*[c[~ok] for c in coords], marker="x", color="#999999", s=size * 0.7,
                       label="no value", linewidths=1)
    if d.best is not None:
        ax.scatter(*[[c[d.best]] for c in coords], marker="D" if three else "*",
                   s=size * (3 if three else 6), color="#D55E00",
                   edgecolors="black", linewidths=0.7, label="best trial", zorder=5)
    for axis, which in zip(d.axes, "xyz", strict=False):
        _mpl_axis(ax, axis, which)
    if not three:
        ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", framealpha=0.9)
    ax.set_title(f"{title}: {len(d.trial_ids)} trials", fontsize=12)
    return fig


def interactive(res: Any, d: ScatterData, dims: int = 2) -> Any:
    """The scatter as a plotly figure (Scatter3d, rotatable, with ``dims=3``)."""
    import numpy as np
    import plotly.graph_objects as go

    fig = go.Figure()
    three = dims == 3 and len(d.axes) == 3
    if not d.axes:
        fig.add_annotation(text="the experiment tunes no params", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
        return fig
    coords = [_jittered(a, i) for i, a in enumerate(d.axes)]
    values = d.objective.to_numpy(dtype=float)
    ok = np.isfinite(values)
    hover = []
    for i, trial_id in enumerate(d.trial_ids):
        parts = [f"trial {trial_id}"] + [
            f"{a.name}: {common.format_value(a.raw[i]) if a.raw else ''}" for a in d.axes
            if a.name != res.metric or not d.objective_is_axis]
        parts.append(f"{res.metric}: {common.format_value(values[i])}")
        hover.append("<br>".join(parts))
    hover = np.array(hover, dtype=object)
    trace = go.Scatter3d if three else common.scatter_trace(len(values))
    size = 5 if three else 9 if len(values) <= 100 else 5
    keys = ("x", "y", "z")
    if ok.any():
        fig.add_trace(trace(
            **{k: c[ok] for k, c in zip(keys, coords, strict=False)}, mode="markers",
            name="trials", hovertext=hover[ok], hoverinfo="text",
            marker={"color": values[ok], "colorscale": common.OBJECTIVE_CMAP.capitalize(),
                    "reversescale": res.mode == "min", "size": size, "showscale": True,
                    "colorbar": {"title": {"text": res.metric}},
                    "line": {"width": 0.5, "color": "#333333"}}))
    if (~ok).any() and not d.objective_is_axis:
        fig.add_trace(trace(
            **{k: c[~ok] for k, c in zip(keys, coords, strict=False)}, mode="markers",
            name="no value", hovertext=hover[~ok], hoverinfo="text",
            marker={"color": "#999999", "symbol": "circle-open" if three else "x",
                    "size": size}))
    if d.best is not None:
        fig.add_trace(trace(
            **{k: [c[d.best]] for k, c in zip(keys, coords, strict=False)}, mode="markers",
            name="best trial", hovertext=[hover[d.best]], hoverinfo="text",
            marker={"color": "#D55E00", "symbol": "diamond" if three else "star",
                    "size": size * 2, "line": {"width": 1, "color": "black"}}))
    layout_axes = {}
    for axis, key in zip(d.axes, keys, strict=False):
        low, high = axis.bounds()
        spots, labels = axis.ticks()
        spec: dict[str, Any] = {"title": {"text": axis.label}}
        if axis.kind != "linear" or axis.integer:
            pad = 0.0 if axis.kind == "category" else (high - low) * 0.05
            spec.update(tickvals=spots, ticktext=labels, range=[low - pad, high + pad])
        layout_axes[f"{key}axis"] = spec
    if three:
        layout_axes["camera"] = {"eye": {"x": 1.55, "y": -1.55, "z": 0.9}}
        layout_axes["aspectmode"] = "cube"
        fig.update_layout(scene=layout_axes, height=680, margin={"t": 0, "b": 0, "l": 0,
                                                                 "r": 0})
    else:
        fig.update_layout(**layout_axes, height=520, margin={"t": 20, "b": 50, "l": 60,
                                                             "r": 20})
    fig.update_layout(legend={"orientation": "h", "y": -0.12 if not three else 0})
    return fig
