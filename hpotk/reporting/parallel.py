"""Parallel coordinates over the tuned params and the objective (Azure ML's sweep view, Optuna's
``plot_parallel_coordinate``): one line per trial, coloured by its objective. Log-scaled params
get log axes and choices category axes. In the HTML (plotly's ``Parcoords``) dragging along an
axis brushes it: only the trials inside every brushed range stay highlighted."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpotk.reporting import common

TITLE = "Parallel coordinates"


@dataclass
class ParallelData:
    """Attributes:
        axes: one per tuned param, then the objective (trials with an objective only).
        objective: the objective of each trial drawn.
        trial_ids: the trials drawn.
        n_missing: trials left out for having no objective value.
    """

    axes: list[common.Axis]
    objective: Any
    trial_ids: list[str]
    n_missing: int


def data(res: Any) -> ParallelData:
    """The axes (params, then the objective) over the trials that have an objective."""
    scores = common.objective(res)
    keep = scores.notna() & scores.map(lambda v: math.isfinite(v))
    frame = res.trials[keep]
    axes = [common.param_axis(res, name, frame) for name in res.param_names]
    axes.append(common.objective_axis(res, scores[keep]))
    return ParallelData(axes, scores[keep], frame["trial_id"].astype(str).tolist(),
                        int((~keep).sum()))


def caption(res: Any, d: ParallelData | None = None) -> str:
    """The sentence under the figure: how to read and brush it, what is left out."""
    d = d or data(res)
    text = (f"One line per trial through its params and its best {res.metric}; brighter is "
            f"better. In the page, drag along an axis to keep only the trials in that range "
            f"(drag again elsewhere to add a range, click the axis outside it to clear).")
    if d.n_missing:
        text += f" {d.n_missing} trial(s) without a {res.metric} value are not drawn."
    if len(d.trial_ids) > common.PAGE_LINES:
        text += common.sample_note(common.PAGE_LINES, len(d.trial_ids), "lines")
    return text


def _colour_scale(res: Any) -> tuple[str, bool]:
    return common.OBJECTIVE_CMAP, res.mode == "min"


def png(res: Any, d: ParallelData | None = None) -> Any:
    """Parallel coordinates as a matplotlib figure (each axis scaled to its own range)."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    d = d or data(res)
    n_axes = len(d.axes)
    fig = Figure(figsize=(max(6.0, 1.7 * n_axes + 1.5), 4.8), dpi=100, layout="constrained")
    ax = fig.subplots()
    cmap_name, reverse = _colour_scale(res)
    cmap = colormaps[cmap_name + ("_r" if reverse else "")]
    scaled = []
    for axis in d.axes:
        low, high = axis.bounds()
        scaled.append(((axis.values - low) / (high - low)).to_numpy(dtype=float))
    ys = np.vstack(scaled).T if scaled and len(d.trial_ids) else np.zeros((0, n_axes))
    xs = np.arange(n_axes, dtype=float)
    if len(ys):
        values = d.objective.to_numpy(dtype=float)
        norm = Normalize(float(np.nanmin(values)), float(np.nanmax(values)) or 1.0)
        if norm.vmax - norm.vmin < 1e-12:
            norm = Normalize(norm.vmin - 0.5, norm.vmin + 0.5)
        jitter = np.zeros_like(ys)
        for j, axis in enumerate(d.axes):  # spread category lines a little so counts show
            if axis.kind == "category" and len(ys) > 1:
                rng = np.random.default_rng(j)
                jitter[:, j] = rng.uniform(-0.08, 0.08, len(ys)) / max(len(axis.categories), 1)
        order = np.argsort(values if not reverse else -values)  # best drawn last, on top
        segments = [np.column_stack([xs, ys[i] + jitter[i]]) for i in order]
        many = len(ys) > 200
        lines = LineCollection(segments, colors=cmap(norm(values[order])),
                               linewidths=0.6 if many else 1.4, alpha=0.5 if many else 0.85)
        ax.add_collection(lines)
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01)
        bar.set_label(common.objective_label(res))
    else:
        ax.text(0.5, 0.5, f"no trial has reported {res.metric} yet", ha="center", va="center",
                transform=ax.transAxes, color="#555555")
    for j, axis in enumerate(d.axes):
        ax.axvline(j, color="#333333", lw=1, zorder=4)
        low, high = axis.bounds()
        spots, labels = axis.ticks()
        for spot, label in zip(spots, labels, strict=True):
            y = (spot - low) / (high - low)
            if -0.01 <= y <= 1.01:
                ax.plot([j - 0.03, j], [y, y], color="#333333", lw=0.8)
                ax.text(j - 0.05, y, label, ha="right", va="center", fontsize=8, zorder=5,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                              "alpha": 0.8})
    ax.set_xlim(-0.55, n_axes - 0.75)
    ax.set_ylim(-0.04, 1.04)
    ax.set_xticks(xs)
    ax.set_xticklabels([a.label for a in d.axes], fontsize=9)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{TITLE}: {len(d.trial_ids)} trials", fontsize=12)
    return fig


def interactive(res: Any, d: ParallelData | None = None) -> Any:
    """Parallel coordinates as plotly's Parcoords, whose axes can be brushed."""
    import numpy as np
    import plotly.graph_objects as go

    d = d or data(res)
    cmap_name, reverse = _colour_scale(res)
    drawn = common.page_sample(d.trial_ids, d.objective, res.mode)
    keep = np.ones(len(d.trial_ids), dtype=bool) if drawn is None else np.array(
        [t in drawn for t in d.trial_ids], dtype=bool)
    dims = []
    for axis in d.axes:  # the axes keep the ranges of every trial, drawn or not
        low, high = axis.bounds()
        spots, labels = axis.ticks()
        values = axis.values.to_numpy(dtype=float)[keep]
        dim = {"label": axis.label, "values": values, "range": [low, high]}
        if axis.kind in ("log", "category") or axis.integer:
            dim.update(tickvals=spots, ticktext=labels)
        dims.append(dim)
    values = d.objective.to_numpy(dtype=float)[keep]
    fig = go.Figure(go.Parcoords(
        dimensions=dims,
        line={"color": values, "colorscale": cmap_name.capitalize(), "reversescale": reverse,
              "showscale": True, "colorbar": {"title": {"text": res.metric}}},
        labelangle=0, labelside="top"))
    if not d.trial_ids:
        fig.add_annotation(text=f"no trial has reported {res.metric} yet", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(height=460, margin={"t": 70, "b": 30, "l": 70, "r": 40})
    return fig
