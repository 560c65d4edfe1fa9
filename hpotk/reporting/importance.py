"""Parameter importance, computed by Optuna's evaluators (not by hand-written statistics).

The trials are copied into an in-memory Optuna study (``optuna.trial.create_trial`` with the
space's distributions), then:

- up to `FANOVA_MAX` scored trials: fANOVA (Hutter et al. 2014), Optuna's
  ``FanovaImportanceEvaluator``: the share of the objective's variance, over a random forest fit
  to the trials, that each param explains;
- more than that: PED-ANOVA (Watanabe et al. 2023), Optuna's ``PedAnovaImportanceEvaluator``,
  which scales to thousands of trials where fANOVA's forest takes minutes.

The objective is each trial's best value (what `hpotk best` ranks by).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpotk.reporting import common

TITLE = "Parameter importance"
FANOVA_MAX = 200
MIN_TRIALS = 2


@dataclass
class ImportanceData:
    """Attributes:
        importances: param -> importance (normalised to sum to 1), most important first; empty
            when it cannot be computed (see ``reason``).
        method: what computed it (named in the page).
        n_trials: trials used (those with a finite objective).
        reason: why there are no importances ("" when there are).
    """

    importances: dict[str, float]
    method: str
    n_trials: int
    reason: str = ""

    def top(self, k: int) -> list[str]:
        return list(self.importances)[:k]


def _distribution(res: Any, name: str) -> tuple[Any, list[Any]]:
    """An Optuna distribution covering ``values`` of param ``name``, and the values as Optuna
    wants them (categories as their labels)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    axis = common.param_axis(res, name)
    if axis.kind == "category":
        labels = [axis.categories[int(v)] if not math.isnan(v) else None for v in axis.values]
        labels = [None if lab == common.MISSING else lab for lab in labels]
        choices = [c for c in axis.categories if c != common.MISSING]
        return CategoricalDistribution(choices or ["-"]), labels
    numbers = [float(v) for v in common.numeric(res.trials[f"config/{name}"])]
    finite = [v for v in numbers if math.isfinite(v)]
    spec = res.params.get(name) or {}
    low = min(finite + [v for v in (spec.get("low"),) if isinstance(v, (int, float))])
    high = max(finite + [v for v in (spec.get("high"),) if isinstance(v, (int, float))])
    log = axis.kind == "log" and low > 0
    if high <= low:
        high = low + (abs(low) * 1e-6 or 1e-6)
    return FloatDistribution(low, high, log=log), numbers


def data(res: Any) -> ImportanceData:
    """Importance of each tuned param for the objective (see the module docstring)."""
    names = res.param_names
    scores = common.objective(res)
    scored = scores.notna() & scores.map(lambda v: math.isfinite(v))
    n = int(scored.sum())
    method = _method(n)
    if not names:
        return ImportanceData({}, method, n, "no tuned params")
    if n < MIN_TRIALS:
        return ImportanceData({}, method, n, f"needs at least {MIN_TRIALS} trials with a "
                                             f"{res.metric} value, has {n}")
    import optuna
    from optuna.importance import (
        FanovaImportanceEvaluator,
        PedAnovaImportanceEvaluator,
        get_param_importances,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists, columns = {}, {}
    for name in names:
        dists[name], columns[name] = _distribution(res, name)
    study = optuna.create_study(direction="minimize" if res.mode == "min" else "maximize")
    positions = [i for i, ok in enumerate(scored) if ok]
    kept = 0
    for i in positions:
        params, used = {}, {}
        for name in names:
            value = columns[name][i]
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue  # a conditional param this trial did not have
            params[name], used[name] = value, dists[name]
        if not params:
            continue
        study.add_trial(optuna.trial.create_trial(params=params, distributions=used,
                                                  value=float(scores.iloc[i])))
        kept += 1
    varied = [nm for nm in names if len({columns[nm][i] for i in positions}) > 1]
    if kept < MIN_TRIALS or not varied:
        return ImportanceData({}, method, kept, "the trials do not vary any param")
    evaluator = (FanovaImportanceEvaluator(seed=0) if n <= FANOVA_MAX
                 else PedAnovaImportanceEvaluator())
    try:
        found = get_param_importances(study, evaluator=evaluator, params=varied, normalize=True)
    except (ValueError, RuntimeError) as exc:  # e.g. every trial has the same value
        return ImportanceData({}, method, kept, f"Optuna could not compute it: {exc}")
    values = {k: float(v) for k, v in found.items() if math.isfinite(float(v))}
    for name in names:  # a param that does not vary explains nothing
        values.setdefault(name, 0.0)
    ordered = dict(sorted(values.items(), key=lambda kv: -kv[1]))
    return ImportanceData(ordered, method, kept)


def _method(n: int) -> str:
    if n <= FANOVA_MAX:
        return "fANOVA (Optuna's FanovaImportanceEvaluator, random forest, seed 0)"
    return (f"PED-ANOVA (Optuna's PedAnovaImportanceEvaluator; fANOVA is used up to "
            f"{FANOVA_MAX} trials)")


def caption(res: Any, d: ImportanceData | None = None) -> str:
    """The sentence under the figure: the method and the trials used, or why not computed."""
    d = d or data(res)
    if d.reason:
        return f"Not computed: {d.reason}."
    text = (f"Share of the variation in each trial's best {res.metric} explained by each "
            f"param, over {d.n_trials} trials, by {d.method}.")
    if d.n_trials < 10:
        text += " With this few trials, treat it as a rough guide."
    return text


def png(res: Any, d: ImportanceData | None = None) -> Any:
    """The importances as horizontal bars (matplotlib), or why there are none."""
    from matplotlib.figure import Figure

    d = d or data(res)
    names = list(d.importances) or res.param_names
    fig = Figure(figsize=(7.5, 1.2 + 0.42 * max(len(names), 2)), dpi=100, layout="constrained")
    ax = fig.subplots()
    if d.importances:
        shown = list(reversed(names))
        values = [d.importances[n] for n in shown]
        ax.barh(shown, values, color="#0072B2")
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=9)
        ax.set_xlim(0, max(max(values) * 1.18, 0.05))
        ax.set_xlabel("importance (share of the objective's variance, sums to 1)")
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"not computed: {d.reason}", ha="center", va="center",
                transform=ax.transAxes, color="#555555", wrap=True)
    method = d.method.split(" (")[0]
    ax.set_title(f"{TITLE} for {res.metric} ({method}, {d.n_trials} trials)", fontsize=11)
    return fig


def interactive(res: Any, d: ImportanceData | None = None) -> Any:
    """The importances as horizontal bars (plotly), or why there are none."""
    import plotly.graph_objects as go

    d = d or data(res)
    fig = go.Figure()
    if d.importances:
        shown = list(reversed(list(d.importances)))
        values = [d.importances[n] for n in shown]
        fig.add_trace(go.Bar(x=values, y=shown, orientation="h", marker_color="#0072B2",
                             text=[f"{v:.2f}" for v in values], textposition="outside",
                             hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
        fig.update_xaxes(range=[0, max(max(values) * 1.2, 0.05)])
    else:
        fig.add_annotation(text=f"not computed: {d.reason}", showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5)
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    fig.update_layout(height=140 + 36 * max(len(d.importances), 2),
                      xaxis_title="importance (share of the objective's variance, sums to 1)",
                      margin={"t": 20, "b": 50, "l": 120, "r": 30})
    return fig
