"""Learning curves: the objective per iteration of every trial, coloured by the trial's status,
with the rungs of the successive-halving schedulers (asha, ahb, hyperband) drawn where trials are
compared (Optuna's ``plot_intermediate_values``; Azure ML's per-run metric chart)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpotk.reporting import common

TITLE = "Learning curves"
#: beyond this many trials, curves are thinner and fainter so the bundle stays readable
MANY = 150


@dataclass
class Rung:
    iteration: int
    label: str


@dataclass
class CurvesData:
    """Attributes:
        curves: trial_id -> (iterations, values) in report order, NaNs dropped.
        status: trial_id -> status.
        rungs: where the scheduler compares trials (empty for other schedulers).
        scheduler: the scheduler's name.
        n_without: trials with no finite objective report.
    """

    curves: dict[str, tuple[list[float], list[float]]]
    status: dict[str, str]
    rungs: list[Rung] = field(default_factory=list)
    scheduler: str = ""
    n_without: int = 0


def rungs(meta: dict[str, Any]) -> list[Rung]:
    """The iterations at which the experiment's scheduler compares trials, from its options.

    asha: its one bracket's rungs; ahb: each bracket's; hyperband: each bracket's budgets below
    max_t. Uses the schedulers' own plan functions so the figure shows what the run did.
    """
    options = dict(meta.get("scheduler") or {})
    name = str(options.pop("name", "") or (meta.get("strategy") or "").split("/")[0])
    max_t = options.get("max_t") or (meta.get("budget") or {}).get("max_t")
    if name not in ("asha", "ahb", "hyperband") or not max_t:
        return []
    max_t = int(max_t)
    eta = float(options.get("reduction_factor") or 3)
    if name == "hyperband":
        from hpotk.schedulers.hyperband import brackets

        trials = int((meta.get("budget") or {}).get("trials") or 1)
        at: dict[int, list[int]] = {}
        for bracket in brackets(max(trials, 1), eta, max_t):
            for rung in bracket["rungs"]:
                if rung["iterations"] < max_t:
                    at.setdefault(int(rung["iterations"]), []).append(bracket["bracket"])
        return [Rung(t, _bracket_label(t, sorted(set(bs)))) for t, bs in sorted(at.items())]
    from hpotk.schedulers.asha import rungs as asha_rungs

    grace = int(options.get("grace_period") or 1)
    if name == "asha":
        return [Rung(t, f"rung at {t}") for t in asha_rungs(grace, eta, max_t)]
    at = {}
    for b in range(int(options.get("brackets") or 3)):
        for t in asha_rungs(grace, eta, max_t, b):
            at.setdefault(t, []).append(b)
    return [Rung(t, _bracket_label(t, bs)) for t, bs in sorted(at.items())]


def _bracket_label(iteration: int, brackets: list[int]) -> str:
    which = "bracket" if len(brackets) == 1 else "brackets"
    return f"{iteration} ({which} {','.join(str(b) for b in brackets)})"


def data(res: Any) -> CurvesData:
    """Every trial's curve of the objective per iteration, its status, and the rungs."""
    h = res.history
    metric = res.metric
    status = {str(t): str(s) for t, s in zip(res.trials.get("trial_id", []),
                                              res.trials.get("status", []), strict=False)}
    curves: dict[str, tuple[list[float], list[float]]] = {}
    if len(h) and metric in h and "iteration" in h:
        values = common.numeric(h[metric])
        iterations = common.numeric(h["iteration"])
        ok = values.notna() & iterations.notna()
        for trial_id, rows in h[ok].assign(_v=values[ok], _i=iterations[ok]).groupby(
                "trial_id", sort=False):
            curves[str(trial_id)] = (rows["_i"].tolist(), rows["_v"].tolist())
    for trial_id in curves:
        status.setdefault(trial_id, "UNFINISHED")
    options = res.meta.get("scheduler") or {}
    name = str(options.get("name", "") or (res.meta.get("strategy") or "").split("/")[0])
    return CurvesData(curves, status, rungs(res.meta), name,
                      sum(1 for t in status if t not in curves))


def caption(res: Any, d: CurvesData | None = None) -> str:
    """The sentence under the figure: what is drawn, the rungs, what is left out."""
    d = d or data(res)
    text = f"{res.metric} at every iteration of every trial, coloured by how the trial ended."
    if d.rungs:
        where = ", ".join(str(r.iteration) for r in d.rungs)
        rungs = "rung (iteration" if len(d.rungs) == 1 else "rungs (iterations"
        text += (f" Dashed lines: the {d.scheduler} {rungs} {where}), where the scheduler "
                 f"compares trials and stops the worse ones.")
    if d.n_without:
        text += f" {d.n_without} trial(s) reported no {res.metric} and are not drawn."
    if len(d.curves) > common.PAGE_LINES:
        text += common.sample_note(common.PAGE_LINES, len(d.curves), "curves")
    return text


def _page_sample(res: Any, d: CurvesData) -> set[str] | None:
    """The curves the page draws (`common.page_sample`; None: all)."""
    ids = list(d.curves)
    if len(ids) <= common.PAGE_LINES:
        return None
    best = dict(zip(res.trials["trial_id"].astype(str), common.objective(res), strict=True))
    return common.page_sample(ids, [best.get(t, math.nan) for t in ids], res.mode)


def _by_status(d: CurvesData) -> dict[str, list[str]]:
    """Trials grouped by status, in legend order (completed last, so drawn on top)."""
    groups: dict[str, list[str]] = {}
    for trial_id in d.curves:
        groups.setdefault(d.status.get(trial_id, "UNFINISHED"), []).append(trial_id)
    rank = {s: i for i, s in enumerate(reversed(list(common.STATUS_STYLE)))}
    return dict(sorted(groups.items(), key=lambda kv: rank.get(kv[0], -1)))


def png(res: Any, d: CurvesData | None = None) -> Any:
    """The learning curves as a matplotlib figure (one line collection per status)."""
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    d = d or data(res)
    fig = Figure(figsize=(11, 4.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    many = len(d.curves) > MANY
    width, alpha = (0.7, 0.35) if many else (1.4, 0.85)
    groups = _by_status(d)
    for status, ids in groups.items():
        colour = common.status_colour(status)
        lines = [list(zip(*d.curves[t], strict=True)) for t in ids if len(d.curves[t][0]) > 1]
        ax.add_collection(LineCollection(lines, colors=colour, linewidths=width, alpha=alpha))
        ends = [(d.curves[t][0][-1], d.curves[t][1][-1]) for t in ids]
        ax.scatter([e[0] for e in ends], [e[1] for e in ends], color=colour, alpha=alpha,
                   s=8 if many else 16, zorder=3, edgecolors="none")
    seen = list(groups)
    top = max((max(x) for x, _ in d.curves.values() if x), default=1.0)
    for rung in d.rungs:
        ax.axvline(rung.iteration, color="#444444", ls="--", lw=0.9, alpha=0.7, zorder=0)
        ax.annotate(rung.label, (rung.iteration, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(0, 2),
                    textcoords="offset points", fontsize=7.5, ha="center", va="bottom",
                    color="#444444")
    handles = [Line2D([], [], color=common.status_colour(s), lw=2, label=common.status_label(s))
               for s in common.STATUS_STYLE if s in seen]
    if d.rungs:
        handles.append(Line2D([], [], color="#444444", ls="--", lw=1,
                              label=f"{d.scheduler} rung"))
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
    else:
        ax.text(0.5, 0.5, f"no trial has reported {res.metric} yet", ha="center", va="center",
                transform=ax.transAxes, color="#555555")
    ax.set_xlabel("iteration (training_iteration)")
    ax.set_ylabel(common.objective_label(res))
    ax.set_xlim(0.5 if top > 1 else 0, max(top, max((r.iteration for r in d.rungs),
                                                     default=0)) + 0.5)
    if top <= 20:
        ax.set_xticks(list(range(1, int(top) + 1)))
    ax.grid(alpha=0.3)
    ax.set_title(f"{TITLE}: {res.name} ({len(d.curves)} trials){common.running_note(res)}",
                 fontsize=12,
                 pad=14 if d.rungs else 6)
    return fig


def interactive(res: Any, d: CurvesData | None = None) -> Any:
    """The learning curves as a plotly figure (one trace per status; hover names the trial)."""
    import numpy as np
    import plotly.graph_objects as go

    d = d or data(res)
    fig = go.Figure()
    many = len(d.curves) > MANY
    drawn = _page_sample(res, d)
    for status, every in _by_status(d).items():
        ids = every if drawn is None else [t for t in every if t in drawn]
        # one trace per status, curves separated by gaps (NaN); numpy arrays, which plotly
        # writes as binary (lists of 100,000 floats took seconds to validate and MBs of page)
        lengths = [len(d.curves[t][0]) + 1 for t in ids]
        gap = [math.nan]
        xs = np.fromiter((v for t in ids for v in (*d.curves[t][0], *gap)), dtype=float,
                         count=sum(lengths))
        ys = np.fromiter((v for t in ids for v in (*d.curves[t][1], *gap)), dtype=float,
                         count=sum(lengths))
        text = np.repeat(np.array([f"trial {t}" for t in ids], dtype=object), lengths)
        text[np.cumsum(lengths) - 1] = None
        label = common.status_label(status)
        fig.add_trace(go.Scattergl(
            x=xs, y=ys, text=text, mode="lines" if many else "lines+markers",
            line={"color": common.status_colour(status), "width": 1 if many else 1.6},
            marker={"size": 4}, opacity=0.5 if many else 0.9,
            name=f"{label} ({len(every)})" if drawn is None else
            f"{label} ({len(ids):,} of {len(every):,})",
            hovertemplate=f"%{{text}}<br>iteration %{{x}}<br>{res.metric} %{{y:.4g}}"
                          f"<extra>{label}</extra>"))
    for rung in d.rungs:
        fig.add_vline(x=rung.iteration, line_dash="dash", line_color="#444444", line_width=1,
                      annotation_text=rung.label,
                      annotation_font_size=10, annotation_position="top")
    if not d.curves:
        fig.add_annotation(text=f"no trial has reported {res.metric} yet", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    top = max((max(x) for x, _ in d.curves.values() if x), default=1.0)
    if top <= 20:
        fig.update_xaxes(dtick=1)
    fig.update_layout(height=460, xaxis_title="iteration (training_iteration)",
                      yaxis_title=common.objective_label(res),
                      margin={"t": 40, "b": 50, "l": 60, "r": 20},
                      legend={"title": {"text": "status"}})
    return fig

