"""The schedule a PBT trial followed, on two panels (``schedule.png`` of `hpotk schedule`; the
NERSC guide's figure): the objective along the trial's lineage with its perturbations marked,
and the param per iteration with the fitted schedule over it; ``--check`` runs drawn on both.

A pure function of a `hpotk.pbt.analysis.Analysis` (``data(analysis, labels)``, then
``png(analysis, data)``). ``labels`` names the ``--check`` variants in the order they are drawn
(`hpotk.pbt.check.VARIANT_LABELS`: fitted, lineage, constant; default: their names).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COLOURS = {"fitted": "tab:orange", "lineage": "tab:green", "constant": "tab:gray"}


@dataclass
class CheckCurve:
    """One ``--check`` variant: the mean objective of its runs per iteration (and the sd)."""

    label: str
    colour: str
    iterations: list[int]
    mean: list[float]
    sd: list[float] | None  # None for a single run


@dataclass
class ScheduleData:
    """Attributes:
        iterations, objective, values: along the lineage, per iteration (values: the param's).
        fitted: the chosen fit's prediction per iteration; ``fit_label`` its legend entry.
        perturbations: the first iteration trained after each exploit.
        checks: the ``--check`` variants run, in drawing order.
        constant: (lr, label) of the constant-lr check, drawn as a line on the lower panel.
        log_objective, log_param: whether each panel's y axis is logarithmic.
    """

    title: str
    objective_label: str
    trial_label: str
    param: str
    iterations: list[int]
    objective: list[float]
    values: list[float]
    fitted: list[float]
    fit_label: str
    perturbations: list[int] = field(default_factory=list)
    checks: list[CheckCurve] = field(default_factory=list)
    constant: tuple[float, str] | None = None
    log_objective: bool = False
    log_param: bool = False


def log_spaced(param: str) -> bool:
    """Whether ``param`` is one that is searched on a log scale (an lr, a weight decay)."""
    return param in ("lr", "sparse-lr", "weight_decay", "l2norm") or param.endswith("lr")


def _check_curve(label: str, colour: str, runs: list[dict[str, Any]]) -> CheckCurve:
    import numpy as np

    length = min(len(r["objective"]) for r in runs)
    values = np.asarray([r["objective"][:length] for r in runs])
    sd = values.std(axis=0, ddof=1).tolist() if len(runs) > 1 else None
    return CheckCurve(f"retrained: {label} (mean of {len(runs)})", colour,
                      list(range(1, length + 1)), values.mean(axis=0).tolist(), sd)


def data(analysis: Any, labels: Mapping[str, str] | None = None) -> ScheduleData:
    """What the figure shows of ``analysis`` (a `hpotk.pbt.analysis.Analysis`)."""
    res, fit = analysis.results, analysis.best
    labels = labels if labels is not None else {v: v for v in analysis.checks}
    checks = [_check_curve(label, COLOURS.get(variant, "tab:purple"), analysis.checks[variant])
              for variant, label in labels.items() if analysis.checks.get(variant)]
    constant = ((analysis.values[0], labels.get("constant", "constant"))
                if analysis.checks.get("constant") else None)
    drawn = [v for v in analysis.objective if math.isfinite(v)]
    shown = [v for v in analysis.values + list(fit.predicted) if v > 0]
    return ScheduleData(
        title=(f"{res.name}: the best trial's lineage and the {analysis.param} schedule "
               f"it followed"),
        objective_label=(f"{res.metric} "
                         f"({'lower' if res.mode == 'min' else 'higher'} is better)"),
        trial_label=f"PBT trial {analysis.lineage.trial_id} along its lineage",
        param=analysis.param, iterations=list(analysis.iterations),
        objective=list(analysis.objective), values=list(analysis.values),
        fitted=list(fit.predicted), fit_label=f"fitted ({fit.name}, by BIC): {_short(fit)}",
        perturbations=[p["iteration"] for p in analysis.lineage.perturbations],
        checks=checks, constant=constant,
        # a loss over decades: its late progress stays visible
        log_objective=bool(drawn) and min(drawn) > 0 and max(drawn) / min(drawn) > 30,
        log_param=log_spaced(analysis.param) and bool(shown) and max(shown) / min(shown) > 10)


def _short(fit: Any) -> str:
    """The fit's torch text for the legend, wrapped: a warm-up's SequentialLR is too long for
    one line and would squeeze the axes."""
    text = fit.torch.split("; ", 1)[-1].replace("(optimizer, ", "(")
    return "\n".join(textwrap.wrap(text, 60, subsequent_indent="    "))


def png(analysis: Any, d: ScheduleData | None = None) -> Any:
    """The two panels (matplotlib)."""
    from matplotlib.figure import Figure

    d = d or data(analysis)
    fig = Figure(figsize=(8, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.2, 1]})
    for check in d.checks:
        top.plot(check.iterations, check.mean, color=check.colour, lw=1.4, label=check.label)
        if check.sd is not None:
            low = [m - s for m, s in zip(check.mean, check.sd, strict=True)]
            high = [m + s for m, s in zip(check.mean, check.sd, strict=True)]
            top.fill_between(check.iterations, low, high, color=check.colour, alpha=0.15, lw=0)
    top.plot(d.iterations, d.objective, color="tab:blue", lw=2, marker="o", ms=3,
             label=d.trial_label)
    for i, iteration in enumerate(d.perturbations):
        for ax in (top, bottom):
            ax.axvline(iteration - 0.5, color="tab:red", ls=":", lw=1,
                       label="perturbation (exploit + explore)" if i == 0 and ax is top else None)
    if d.log_objective:
        top.set_yscale("log")
    top.set_ylabel(d.objective_label)
    top.set_title(d.title, fontsize=11)
    top.legend(fontsize=8, loc="best")
    top.grid(alpha=0.3)

    bottom.step(d.iterations, d.values, where="mid", color="tab:blue", lw=2,
                label=f"{d.param} along the lineage")
    bottom.plot(d.iterations, d.fitted, color="black", ls="--", lw=1.5, drawstyle="steps-mid",
                label=d.fit_label)
    if d.constant is not None:
        bottom.axhline(d.constant[0], color=COLOURS["constant"], lw=1, ls="-.",
                       label=d.constant[1])
    if d.log_param:
        bottom.set_yscale("log")
    bottom.set_ylabel(d.param)
    bottom.set_xlabel("training iteration (one evaluation each)")
    bottom.legend(fontsize=8, loc="best")
    bottom.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def write_png(analysis: Any, path: str | Path, labels: Mapping[str, str] | None = None) -> Path:
    """Draw the figure of ``analysis`` into ``path`` (PNG)."""
    png(analysis, data(analysis, labels)).savefig(path, dpi=120)
    return Path(path)
