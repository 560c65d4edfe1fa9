"""Several objectives: the trials on two objectives with their Pareto front (Optuna's
``plot_pareto_front``), and the hypervolume of the feasible trials against wall-clock time (how
multi-objective studies compare strategies, `hpotk.objectives.hypervolume`).

Both use each trial's latest reported values: the figure its last report (the trials table),
the curve its latest report by each time (the history), so the curve ends at the hypervolume of
the figure's feasible trials. A trial is feasible when those same values break no constraint.
The report draws them only when the experiment has two or more objectives.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from hpotk import objectives as mo
from hpotk.errors import HpotkError
from hpotk.reporting import common

TITLE = "Pareto front"
TITLE_HV = "Hypervolume against time"
#: the most times the hypervolume is computed at (evenly among the report times beyond it)
HV_POINTS = 1000

FRONT, DOMINATED, INFEASIBLE = "#0072B2", "#8C8C8C", "#D55E00"


def objectives_of(res: Any) -> list[tuple[str, str]]:
    """The experiment's objectives as (name, mode), the primary first."""
    listed = res.meta.get("objectives") or [(res.metric, res.mode)]
    return [(str(name), str(mode)) for name, mode in listed]


def applies(res: Any) -> bool:
    """Whether the report draws these figures: the experiment has two or more objectives."""
    return len(objectives_of(res)) > 1


def constraints_of(res: Any) -> list[Any]:
    """The experiment's constraints (mappings of name, max and/or min)."""
    return list(res.meta.get("constraints") or [])


def axis_label(name: str, mode: str) -> str:
    """``"val_acc (max, better →)"``: the arrow points the better way (up on a y axis)."""
    return f"{name} (max, better →)" if mode == "max" else f"{name} (min, ← better)"


@dataclass
class ParetoData:
    """Attributes:
        objectives: (name, mode) of each objective, the primary first.
        values: (n, k) each trial's last reported value of each objective (NaN: none).
        trial_ids, status: each trial's, in the trials table's order.
        broken: the constraints each trial breaks (empty: feasible), as
            `hpotk.results.mark_objectives` found them (an out-of-memory death included).
        constrained: each constrained metric's last value per trial (for hover text).
        reference: the hypervolume's reference point (k,), each objective's worst last value
            over all trials; None when an objective has no finite value.
    """

    objectives: list[tuple[str, str]]
    values: Any
    trial_ids: list[str]
    status: list[str]
    broken: list[list[str]] = field(default_factory=list)
    reference: Any = None
    constrained: dict[str, Any] = field(default_factory=dict)

    @property
    def modes(self) -> list[str]:
        return [mode for _, mode in self.objectives]

    @property
    def feasible(self) -> Any:
        import numpy as np

        return np.array([not b for b in self.broken], dtype=bool)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """The objective pairs the page offers; the PNG draws the first."""
        return list(itertools.combinations(range(len(self.objectives)), 2))

    def front(self, pair: tuple[int, int] | None = None) -> Any:
        """True for the feasible trials with finite values that no other feasible trial
        dominates, on the objectives of ``pair`` (default: all of them). Ties share it."""
        import numpy as np

        cols = list(pair) if pair is not None else list(range(len(self.objectives)))
        values = np.asarray(self.values, dtype=float)[:, cols].copy()
        values[~self.feasible] = math.nan
        return mo.pareto_mask(values, [self.modes[c] for c in cols])


def data(res: Any, reference: Any = None) -> ParetoData:
    """Each trial at its last reported objective values, with the constraints it breaks."""
    import numpy as np

    t = res.trials
    objs = objectives_of(res)
    values = np.column_stack([common.numeric(t[name]).to_numpy() if name in t else
                              np.full(len(t), math.nan) for name, _ in objs]) \
        if len(t) else np.zeros((0, len(objs)))
    constraints = constraints_of(res)
    broken: list[list[str]] = [[] for _ in range(len(t))]
    constrained = {}
    if constraints and len(t):
        if "violates" not in t:  # hand-made results: marked as `hpotk.results.load` marks them
            from hpotk.results import mark_objectives

            t = mark_objectives(t, objs, constraints)
        broken = [[part for part in v.split("; ") if part] if isinstance(v, str) else []
                  for v in t["violates"]]
        names = dict.fromkeys(mo.bounds_of(c)[0] for c in constraints)
        constrained = {n: common.numeric(t[n]).to_numpy() for n in names if n in t}
    if reference is None:
        try:
            reference = mo.reference_point(values, [m for _, m in objs])
        except HpotkError:  # an objective with no finite value: no hypervolume
            reference = None
    ids = t["trial_id"].astype(str).tolist() if "trial_id" in t else []
    status = t["status"].astype(str).tolist() if "status" in t else ["UNFINISHED"] * len(t)
    return ParetoData(objs, values, ids, status, broken, reference, constrained)


def _hover(d: ParetoData, on_all: Any) -> list[str]:
    texts = []
    for i, trial_id in enumerate(d.trial_ids):
        parts = [f"trial {trial_id} ({common.status_label(d.status[i])})"]
        parts += [f"{name}: {_number(d.values[i, j])}"
                  for j, (name, _) in enumerate(d.objectives)]
        parts += [f"{name}: {_number(v[i])}" for name, v in d.constrained.items()]
        if d.broken[i]:
            parts.append("infeasible, breaks " + "; ".join(d.broken[i]))
        elif len(d.objectives) > 2 and on_all[i]:
            parts.append(f"on the front of all {len(d.objectives)} objectives")
        texts.append("<br>".join(parts))
    return texts


def _number(value: Any) -> str:
    """A value for hover text: six significant digits, never an exponent below 1e6."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "-" if math.isnan(value) else f"{value:.6g}"


def staircase(x: Any, y: Any, modes: list[str]) -> tuple[Any, Any]:
    """The front's points joined by steps along the edge of what they dominate."""
    import numpy as np

    sx, sy = (-1.0 if m == "max" else 1.0 for m in modes)
    mx, my = np.asarray(x, dtype=float) * sx, np.asarray(y, dtype=float) * sy
    order = np.lexsort((my, mx))
    mx, my = mx[order], my[order]
    xs, ys = [], []
    for k in range(len(mx)):
        if k:
            xs.append(mx[k])
            ys.append(my[k - 1])
        xs.append(mx[k])
        ys.append(my[k])
    return np.array(xs) * sx, np.array(ys) * sy


def _groups(d: ParetoData, pair: tuple[int, int]) -> dict[str, Any]:
    """Which trials are drawn how on ``pair``: front, dominated, infeasible (finite only)."""
    import numpy as np

    finite = np.isfinite(d.values[:, list(pair)]).all(axis=1)
    front = d.front(pair)
    feasible = d.feasible
    return {"front": front, "dominated": finite & feasible & ~front,
            "infeasible": finite & ~feasible, "missing": int((~finite).sum())}


def caption(res: Any, d: ParetoData) -> str:
    names = [n for n, _ in d.objectives]
    g = _groups(d, d.pairs[0]) if d.pairs else {"missing": 0, "infeasible": []}
    text = ("Each trial at its last reported objective values. Blue, joined by steps: the "
            "Pareto front (feasible trials no other feasible trial beats on both objectives "
            "shown; ties share it); grey: dominated trials.")
    if sum(g["infeasible"]):
        text += (f" Red crosses: {int(sum(g['infeasible']))} infeasible trial(s); hover one "
                 f"for the constraint it breaks.")
    if len(names) > 2:
        text += (f" The PNG shows the first two of the {len(names)} objectives "
                 f"({names[0]}, {names[1]}); on this page, pick any pair above the figure.")
    if g["missing"]:
        text += (f" {g['missing']} trial(s) without a value of {names[0]} or {names[1]} are "
                 f"not drawn.")
    return text


#: a trial's name in the PNG, up and right of its point, in fractions of the data's span; and
#: a point's radius
LABEL_W, LABEL_H, POINT_R = 0.055, 0.035, 0.01


def _labelled(x: Any, y: Any, front: Any, most: int = 10) -> list[int]:
    """The front's trials the PNG names: none beyond ``most``, and none whose name would
    cover another front point or an earlier name."""
    import numpy as np

    drawn = np.isfinite(x) & np.isfinite(y)
    if front.sum() > most or not drawn.any():
        return []
    span = [max(float(np.ptp(v[drawn])), 1e-12) for v in (x, y)]
    members = [int(k) for k in front.nonzero()[0]]

    def offset(k: int, j: int) -> tuple[float, float]:
        return (x[j] - x[k]) / span[0], (y[j] - y[k]) / span[1]

    def on_point(k: int, j: int) -> bool:
        dx, dy = offset(k, j)
        return -POINT_R < dx < LABEL_W + POINT_R and -POINT_R < dy < LABEL_H + POINT_R

    def on_name(k: int, j: int) -> bool:
        dx, dy = offset(k, j)
        return abs(dx) < LABEL_W and abs(dy) < LABEL_H

    kept: list[int] = []
    for k in members:
        if not any(on_point(k, j) for j in members if j != k) and \
                not any(on_name(k, j) for j in kept):
            kept.append(k)
    return kept


#: an objective whose finite values are all positive and span this factor is drawn on a log axis
LOG_SPAN = 10.0


def log_axis(values: Any) -> bool:
    """Whether an objective's values are best drawn on a log axis: every finite one positive,
    the largest at least `LOG_SPAN` times the smallest (a parameter count from 3e3 to 8e4, an
    MAE from 0.02 to 0.4 with a diverged trial: on a linear axis the front is a dot in a
    corner)."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(len(v) >= 2 and (v > 0).all() and v.max() >= LOG_SPAN * v.min())


def png(res: Any, d: ParetoData, pair: tuple[int, int] = (0, 1)) -> Any:
    """The trials on the objectives of ``pair`` as a matplotlib figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 6.4), dpi=100, layout="constrained")
    ax = fig.subplots()
    i, j = pair
    (xn, xm), (yn, ym) = d.objectives[i], d.objectives[j]
    g = _groups(d, pair)
    x, y = d.values[:, i], d.values[:, j]
    many = len(x) > 300
    size = 14 if many else 36
    if g["dominated"].any():
        ax.scatter(x[g["dominated"]], y[g["dominated"]], s=size, color=DOMINATED, alpha=0.45,
                   edgecolors="none", label=f"dominated ({int(g['dominated'].sum())})")
    if g["infeasible"].any():
        ax.scatter(x[g["infeasible"]], y[g["infeasible"]], s=size * 1.2, marker="x",
                   color=INFEASIBLE, alpha=0.8, linewidths=1.2,
                   label=f"infeasible: breaks a constraint ({int(g['infeasible'].sum())})")
    if g["front"].any():
        sx, sy = staircase(x[g["front"]], y[g["front"]], [xm, ym])
        ax.plot(sx, sy, color=FRONT, lw=1.6, zorder=4)
        ax.scatter(x[g["front"]], y[g["front"]], s=size * 1.8, color=FRONT,
                   edgecolors="black", linewidths=0.7, zorder=5,
                   label=f"Pareto front ({int(g['front'].sum())})")
        for k in _labelled(x, y, g["front"]):
            ax.annotate(common.short_id(d.trial_ids[k]), (x[k], y[k]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points", color="#333333", zorder=6)
    else:
        ax.text(0.5, 0.5, "no feasible trial has reported both objectives yet", ha="center",
                va="center", transform=ax.transAxes, color="#555555")
    ax.set_xlabel(axis_label(xn, xm) + (", log scale" if log_axis(x) else ""))
    ax.set_ylabel(axis_label(yn, ym) + (", log scale" if log_axis(y) else ""))
    if log_axis(x):
        ax.set_xscale("log")
    if log_axis(y):
        ax.set_yscale("log")
    ax.margins(0.06)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside lower center", ncols=3, fontsize=9, frameon=False)
    title = f"{TITLE}: {res.name} ({len(d.trial_ids)} trials){common.running_note(res)}"
    if len(d.objectives) > 2:
        rest = ", ".join(n for k, (n, _) in enumerate(d.objectives) if k not in pair)
        title += (f"\n{xn} and {yn} of {len(d.objectives)} objectives (also {rest}); "
                  f"pick any pair on the report page")
    ax.set_title(title, fontsize=12)
    return fig


def _axis_type(values: Any) -> str:
    return "log" if log_axis(values) else "linear"


def interactive(res: Any, d: ParetoData) -> Any:
    """The trials on a pair of objectives as a plotly figure; with more than two objectives,
    a menu above it picks the pair (one group of traces per pair, shown one at a time)."""
    import numpy as np
    import plotly.graph_objects as go

    fig = go.Figure()
    hover = np.array(_hover(d, d.front()), dtype=object)
    points = common.scatter_trace(len(d.trial_ids))
    size = 9 if len(d.trial_ids) <= 300 else 5
    owner: list[int] = []
    for p, (i, j) in enumerate(d.pairs):
        g = _groups(d, (i, j))
        x, y = d.values[:, i], d.values[:, j]
        shown = p == 0
        if g["front"].any():
            sx, sy = staircase(x[g["front"]], y[g["front"]], [d.modes[i], d.modes[j]])
            fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", line={"color": FRONT,
                                     "width": 2}, hoverinfo="skip", showlegend=False,
                                     visible=shown, legendgroup="front"))
            owner.append(p)
        for key, name, marker in (
                ("dominated", "dominated", {"color": DOMINATED, "opacity": 0.5, "size": size}),
                ("infeasible", "infeasible (breaks a constraint)",
                 {"color": INFEASIBLE, "symbol": "x", "size": size, "opacity": 0.85}),
                ("front", "Pareto front", {"color": FRONT, "size": size * 1.4,
                                           "line": {"width": 1, "color": "black"}})):
            mask = g[key]
            if not mask.any():
                continue
            fig.add_trace(points(x=x[mask], y=y[mask], mode="markers", marker=marker,
                                 name=f"{name} ({int(mask.sum())})", hovertext=hover[mask],
                                 hoverinfo="text", visible=shown, legendgroup=key))
            owner.append(p)
    if not owner:
        fig.add_annotation(text="no trial has reported two objectives yet", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    top = 40
    if len(d.pairs) > 1:
        buttons = [{"label": f"{d.objectives[i][0]} × {d.objectives[j][0]}",
                    "method": "update",
                    "args": [{"visible": [o == p for o in owner]},
                             {"xaxis.title.text": axis_label(*d.objectives[i]),
                              "yaxis.title.text": axis_label(*d.objectives[j]),
                              "xaxis.type": _axis_type(d.values[:, i]),
                              "yaxis.type": _axis_type(d.values[:, j]),
                              "xaxis.autorange": True, "yaxis.autorange": True}]}
                   for p, (i, j) in enumerate(d.pairs)]
        fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down",
                                        "showactive": True, "x": 0.0, "xanchor": "left",
                                        "y": 1.02, "yanchor": "bottom", "pad": {"t": 0}}],
                          annotations=[*fig.layout.annotations, {
                              "text": "objectives shown:", "showarrow": False,
                              "xref": "paper", "yref": "paper", "x": 0.0, "y": 1.1,
                              "xanchor": "left", "yanchor": "bottom"}])
        top = 100
    fig.update_layout(height=560, xaxis_title=axis_label(*d.objectives[0]),
                      yaxis_title=axis_label(*d.objectives[1]),
                      xaxis_type=_axis_type(d.values[:, 0]),
                      yaxis_type=_axis_type(d.values[:, 1]),
                      margin={"t": top, "b": 60, "l": 70, "r": 20},
                      legend={"orientation": "h", "x": 1.0, "xanchor": "right", "y": 1.02,
                              "yanchor": "bottom"})
    return fig


# ---------------------------------------------------------------------------------------------
# hypervolume against wall-clock time


@dataclass
class HypervolumeData:
    """Attributes:
        objectives: (name, mode) of each objective.
        times: seconds since the experiment started at which it was computed (ascending).
        values: the hypervolume at each of ``times``.
        reference: the reference point (k,), or None (then ``why`` says why there is no curve).
        n_times: distinct report times (``times`` holds at most `HV_POINTS` of them).
    """

    objectives: list[tuple[str, str]]
    times: Any
    values: Any
    reference: Any
    n_times: int = 0
    why: str = ""


def hypervolume_data(res: Any, d: ParetoData) -> HypervolumeData:
    """The hypervolume, up to ``d.reference``, of the feasible trials' latest reported values
    at each time a result was reported (a trial's latest report counts, even if worse)."""
    import numpy as np
    import pandas as pd

    objs, modes = d.objectives, d.modes
    empty = np.zeros(0)
    h = res.history
    if d.reference is None:
        return HypervolumeData(objs, empty, empty, None, 0,
                               "an objective has no finite value, so there is no reference")
    if not len(h) or "time_s" not in h:
        return HypervolumeData(objs, empty, empty, d.reference, 0, "no result reported yet")
    times = common.numeric(h["time_s"]).to_numpy()
    ok = np.isfinite(times)
    rows = h[ok]
    times = times[ok]
    values = np.column_stack([common.numeric(rows[n]).to_numpy() if n in rows else
                              np.full(len(rows), math.nan) for n, _ in objs])
    feasible = np.ones(len(rows), dtype=bool)
    constraints = constraints_of(res)
    trial, ids = pd.factorize(rows["trial_id"].astype(str))
    order = np.argsort(times, kind="stable")
    if constraints:
        names = [n for n in dict.fromkeys(mo.bounds_of(c)[0] for c in constraints) if n in rows]
        records = rows[names].to_dict("records")
        feasible = np.array([not mo.violations(r, constraints) for r in records], dtype=bool)
        # what only the trial's end tells (it ran out of memory) counts from its last report
        ended_badly = {i for i, b in zip(d.trial_ids, d.broken, strict=True) if b}
        last = {trial[r]: r for r in order}
        for code, r in last.items():
            if ids[code] in ended_badly:
                feasible[r] = False
    distinct = np.unique(times)
    at = distinct
    if len(distinct) > HV_POINTS:
        at = distinct[np.unique(np.linspace(0, len(distinct) - 1, HV_POINTS).round()
                                .astype(int))]
    latest = np.full((trial.max() + 1 if len(trial) else 0, len(objs)), math.nan)
    latest_ok = np.zeros(len(latest), dtype=bool)
    curve, k = [], 0
    for t in at:
        while k < len(order) and times[order[k]] <= t:
            r = order[k]
            latest[trial[r]] = values[r]
            latest_ok[trial[r]] = feasible[r]
            k += 1
        curve.append(mo.hypervolume(latest[latest_ok], modes, d.reference))
    return HypervolumeData(objs, at, np.array(curve), d.reference, len(distinct))


def reference_text(hv: HypervolumeData) -> str:
    """``"val_acc 0.81 (max), epoch_s 12 (min)"``."""
    return ", ".join(f"{n} {common.format_value(float(v))} ({m})"
                     for (n, m), v in zip(hv.objectives, hv.reference, strict=True))


def hv_caption(res: Any, hv: HypervolumeData) -> str:
    if hv.why:
        return f"Not drawn: {hv.why}."
    text = (f"The hypervolume that the feasible trials' latest reported values dominate, up "
            f"to the reference point ({reference_text(hv)}: each objective's worst last value "
            f"over all trials), at each time a result was reported. It falls when a trial's "
            f"newer report is worse or breaks a constraint.")
    if len(hv.times) < hv.n_times:
        text += f" Computed at {len(hv.times):,} of the {hv.n_times:,} report times."
    return text


def _extended(hv: HypervolumeData, div: float) -> tuple[list[float], list[float]]:
    """The curve from 0 at time 0, in units of ``div`` seconds."""
    xs = [0.0] + [float(t) / div for t in hv.times]
    ys = [0.0] + [float(v) for v in hv.values]
    return xs, ys


def hv_png(res: Any, hv: HypervolumeData) -> Any:
    """The hypervolume's step curve as a matplotlib figure, the reference point stated."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    span = float(hv.times.max()) if len(hv.times) else 0.0
    div, unit = common.time_unit(span)
    if hv.why:
        ax.text(0.5, 0.5, hv.why, ha="center", va="center", transform=ax.transAxes,
                color="#555555")
    else:
        xs, ys = _extended(hv, div)
        ax.step(xs, ys, where="post", color=FRONT, lw=1.8)
        ax.annotate(f"{common.format_value(ys[-1])}", (xs[-1], ys[-1]), xytext=(-4, 6),
                    textcoords="offset points", ha="right", fontsize=9, color=FRONT)
        ax.text(0.01, 0.98, f"reference point: {reference_text(hv)}", transform=ax.transAxes,
                ha="left", va="top", fontsize=9, color="#333333",
                bbox={"facecolor": "white", "edgecolor": "#cccccc", "alpha": 0.9})
        ax.set_xlim(0, xs[-1] * 1.02 if xs[-1] > 0 else None)
        ax.set_ylim(0, max(ys) * 1.15 if max(ys) > 0 else 1)
    names = " × ".join(n for n, _ in hv.objectives)
    ax.set_xlabel(f"wall-clock time since the experiment started ({unit})")
    ax.set_ylabel(f"hypervolume ({names})")
    ax.grid(alpha=0.3)
    ax.set_title(f"{TITLE_HV}: {res.name}{common.running_note(res)}", fontsize=12)
    return fig


def hv_interactive(res: Any, hv: HypervolumeData) -> Any:
    """The hypervolume's step curve as a plotly figure."""
    import plotly.graph_objects as go

    fig = go.Figure()
    span = float(hv.times.max()) if len(hv.times) else 0.0
    div, unit = common.time_unit(span)
    if hv.why:
        fig.add_annotation(text=hv.why, showarrow=False, xref="paper", yref="paper",
                           x=0.5, y=0.5)
    else:
        xs, ys = _extended(hv, div)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": FRONT, "width": 2,
                                                                 "shape": "hv"},
                                 name="hypervolume",
                                 hovertemplate=f"%{{x:.4g}} {unit}: %{{y:.4g}}<extra></extra>"))
        fig.add_annotation(text=f"reference point: {reference_text(hv)}", showarrow=False,
                           xref="paper", yref="paper", x=0.0, y=1.0, xanchor="left",
                           yanchor="bottom")
    names = " × ".join(n for n, _ in hv.objectives)
    fig.update_layout(height=420, xaxis_title=f"wall-clock time since the experiment started "
                                              f"({unit})",
                      yaxis_title=f"hypervolume ({names})", showlegend=False,
                      margin={"t": 40, "b": 50, "l": 70, "r": 20})
    fig.update_xaxes(rangemode="tozero")
    fig.update_yaxes(rangemode="tozero")
    return fig
