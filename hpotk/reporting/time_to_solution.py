"""A study's time-to-solution figure (tts.png), as the NERSC Ray Tune guide draws it: per
strategy a mean curve of the top-k trials with its band across repeats, each repeat thin, the
target and each strategy's time-to-target, and the trials each strategy finished (in the legend,
the top corner and a panel of trials finished against time).

A pure function of a `hpotk.study.StudySummary` (``data(summary)``, then ``png(summary, data)``);
`write_png` saves it whole (a temporary file, then renamed: two job-array elements may aggregate
at once).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TITLE = "Time to solution"


@dataclass
class StrategyLines:
    """One strategy's lines, times in the figure's unit.

    Attributes:
        legend: its legend entry (the center's statistic, its runs, its speedup).
        center, low, high: its mean (or median) curve and band on the grid.
        runs: each repeat's curve on the grid.
        tts: its time-to-target, None when it never reached the target.
        finished: the mean number of trials finished at each grid time.
        count: "label: trials finished", for the corner box.
    """

    label: str
    legend: str
    center: Any
    low: Any
    high: Any
    runs: list[Any]
    tts: float | None
    finished: Any
    count: str


@dataclass
class TimeToSolutionData:
    """Attributes:
        t: the time grid in ``unit`` (minutes from 300 s on, else seconds).
        strategies: each strategy's lines, in the summary's order.
        target: the target value (None: none).
        ylim: the top panel's value range: the runs' own values and the target, padded (a 95%
            CI of two repeats is wide enough to flatten every curve, so the band is clipped
            rather than the curves squeezed); None when nothing is defined.
        empty: the message when no strategy has a curve, else "".
        counts_on_top: whether the corner box sits at the top (the curves fall: "min").
    """

    t: Any
    unit: str
    strategies: list[StrategyLines]
    target: float | None
    ylim: tuple[float, float] | None
    ylabel: str
    title: str
    empty: str = ""
    counts_on_top: bool = True


def data(summary: Any) -> TimeToSolutionData:
    """What the figure shows of ``summary`` (a `hpotk.study.StudySummary`)."""
    import numpy as np

    minutes = float(summary.grid[-1]) >= 300
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    what = "mean" if summary.band == "ci" else "median"
    lines = []
    for s in summary.strategies.values():
        versus = "baseline" if s.label == summary.baseline else f"speedup {s.speedup_text}"
        lines.append(StrategyLines(
            s.label, f"{s.label} ({what} of {s.runs} runs; {versus})", s.center, s.low, s.high,
            [run.values for run in summary.runs if run.label == s.label],
            None if s.tts is None else s.tts / scale, s.finished_mean,
            f"{s.label}: {s.trials_finished_text}"))
    empty = ""
    if all(np.isnan(s.center).all() for s in summary.strategies.values()):
        empty = f"no curve: in no strategy did {summary.top_k} trials report in every run"
    seen = np.concatenate([c.values for c in summary.runs] + (
        [[summary.target]] if summary.target is not None else []))
    seen = seen[np.isfinite(seen)]
    ylim = None
    if len(seen):
        lo, hi = float(seen.min()), float(seen.max())
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1e-3)
        ylim = (lo - pad, hi + pad)
    band = "95% CI" if summary.band == "ci" else "interquartile range"
    title = (f"{summary.name}: time to solution (thick: {what}, band: {band}, thin: each run; "
             f"dotted: time-to-target)")
    return TimeToSolutionData(summary.grid / scale, unit, lines, summary.target, ylim,
                              f"{summary.report_metric}: mean of top {summary.top_k}", title,
                              empty, summary.mode == "min")


def png(summary: Any, d: TimeToSolutionData | None = None, *, note: str = "") -> Any:
    """The figure (matplotlib): curves and bands above, trials finished below; ``note`` (e.g.
    "replayed from results/x") in the bottom corner."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    d = d or data(summary)
    fig = Figure(figsize=(8.5, 6.4))
    ax, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    t = d.t
    for i, s in enumerate(d.strategies):
        color = colors[i % len(colors)]
        ax.plot(t, s.center, color=color, lw=2, label=s.legend)
        if not np.isnan(s.low).all():
            ax.fill_between(t, s.low, s.high, color=color, alpha=0.2, lw=0)
        for values in s.runs:  # each repeat, thin: where a mean is not defined yet too
            ax.plot(t, values, color=color, lw=0.7, alpha=0.45)
        if s.tts is not None:
            ax.axvline(s.tts, color=color, ls=":", lw=1)
        bottom.plot(t, s.finished, color=color, lw=1.5)
    if d.empty:
        ax.text(0.5, 0.5, d.empty, transform=ax.transAxes, ha="center", va="center",
                color="0.4")
    if d.target is not None:
        ax.axhline(d.target, color="0.3", ls="--", lw=1, label=f"target {d.target:.4g}")
    top = d.counts_on_top  # the curves fall (min) or rise (max): keep clear of their end
    ax.text(0.99, 0.97 if top else 0.03,
            "trials finished\n" + "\n".join(s.count for s in d.strategies),
            transform=ax.transAxes, ha="right", va="top" if top else "bottom", fontsize=8.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    if d.ylim is not None:
        ax.set_ylim(*d.ylim)
    ax.set_ylabel(d.ylabel)
    ax.set_title(d.title, fontsize=10)
    ax.legend(loc="best", fontsize=8.5, framealpha=0.9)
    ax.grid(alpha=0.3)
    bottom.set_ylabel("trials\nfinished")
    bottom.set_xlabel(f"wall time ({d.unit})")
    bottom.grid(alpha=0.3)
    bottom.set_xlim(0, t[-1])
    if note:
        fig.text(0.01, 0.005, note, fontsize=8, color="0.35", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    return fig


def write_png(summary: Any, path: str | Path, *, note: str = "") -> Path:
    """Draw the figure of ``summary`` into ``path`` (PNG, whole files only)."""
    path = Path(path)
    fig = png(summary, note=note)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=130)
    tmp.replace(path)
    return path
