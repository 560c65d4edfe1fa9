"""A study's time-to-solution figure (tts.png), as the NERSC Ray Tune guide draws it: per
strategy a mean curve of the top-k trials with its band across repeats (the band's kind named in
the subtitle), each repeat thin when there are few, the target and each strategy's
time-to-target, and the trials each strategy finished (in the corner box and a panel of trials
finished against time).

One wide band must not flatten the others: the value axis spans the center curves and the
target (not the bands, nor the runs when there are many), so a band wider than that is cut at
the axes; and it is logarithmic when the values are positive and span more than a factor of
`LOG_FROM` (an MAE falling from 0.2 to 0.02).

A pure function of a `hpotk.study.StudySummary` (``data(summary)``, then ``png(summary, data)``);
`write_png` saves it whole (a temporary file, then renamed: two job-array elements may aggregate
at once).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TITLE = "Time to solution"
#: a value axis is logarithmic when the center curves (all positive) span more than this factor
LOG_FROM = 4.0
#: each run is drawn thin up to this many runs of a strategy, faintly above
FEW_RUNS = 5


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
        ylim: the top panel's value range: the center curves and the target, padded (a 95%
            CI of two repeats is wide enough to flatten every curve, so the band is cut at the
            axes rather than the curves squeezed); None when nothing is defined.
        log_y: whether the value axis is logarithmic (positive values over more than a factor
            of `LOG_FROM`).
        run_style: how each run is drawn: "thin" (few runs) or "faint" (many).
        subtitle: what the lines and the band are (the band's kind by name).
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
    subtitle: str = ""
    log_y: bool = False
    run_style: str = "thin"
    empty: str = ""
    counts_on_top: bool = True


def data(summary: Any) -> TimeToSolutionData:
    """What the figure shows of ``summary`` (a `hpotk.study.StudySummary`)."""
    import numpy as np

    minutes = float(summary.grid[-1]) >= 300
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    what = "median" if summary.band == "iqr" else "mean"
    lines = []
    for s in summary.strategies.values():
        if s.label == summary.baseline:
            versus = "baseline"
        else:
            interval = s.speedup_interval_text
            versus = f"speedup {s.speedup_text}" + ("" if interval == "—" else f" {interval}")
        lines.append(StrategyLines(
            s.label, f"{s.label} ({s.runs} runs): {versus}", s.center, s.low, s.high,
            [run.values for run in summary.runs if run.label == s.label],
            None if s.tts is None else s.tts / scale, s.finished_mean,
            f"{s.label}: {s.trials_finished_text}"))
    empty = ""
    if all(np.isnan(s.center).all() for s in summary.strategies.values()):
        empty = f"no curve: in no strategy did {summary.top_k} trials report in every run"
    most = max((len(line.runs) for line in lines), default=0)
    run_style = "thin" if most <= FEW_RUNS else "faint"
    ylim, log_y = _value_range(summary, [line.runs for line in lines])
    runs = "thin: each run" if run_style == "thin" else "faint: each run"
    subtitle = (f"thick: {what}; band: {_band_name(summary)}; {runs}; dotted: time-to-target")
    return TimeToSolutionData(summary.grid / scale, unit, lines, summary.target, ylim,
                              (f"hypervolume of {', '.join(hv)}" if (hv := getattr(
                                  summary, "hypervolume_reference", None)) else
                               f"{summary.report_metric}: mean of top {summary.top_k}")
                              + (" (log scale)" if log_y else ""),
                              f"{summary.name}: time to solution", subtitle, log_y, run_style,
                              empty, summary.mode == "min")


def _band_name(summary: Any) -> str:
    """The band in a few words, e.g. "95% CI of the mean, Student t (auto: 2 runs)"."""
    name = {"t": "95% CI of the mean, Student t", "bootstrap": "95% CI of the mean, BCa "
            "bootstrap", "iqr": "interquartile range"}.get(summary.band, summary.band)
    if getattr(summary, "band_requested", "") == "auto":
        runs = min((s.runs for s in summary.strategies.values()), default=0)
        name += f" (auto: {runs} runs)"
    return name


def _value_range(summary: Any, runs: list[list[Any]]) -> tuple[tuple[float, float] | None,
                                                                 bool]:
    """The top panel's value range and whether it is logarithmic: the center curves and the
    target, padded; with few runs the runs too (they are the data), as long as that does not
    stretch the range more than twice (one stray run does not flatten the rest)."""
    import numpy as np

    centers = [s.center for s in summary.strategies.values()]
    target = [[summary.target]] if summary.target is not None else []
    seen = np.concatenate([np.asarray(c, dtype=float).ravel() for c in centers] + target
                          + [np.array([])])
    seen = seen[np.isfinite(seen)]
    if not len(seen):
        return None, False
    lo, hi = float(seen.min()), float(seen.max())
    if max((len(r) for r in runs), default=0) <= FEW_RUNS:
        each = np.concatenate([np.asarray(v, dtype=float) for r in runs for v in r]
                              + [np.array([])])
        each = each[np.isfinite(each)]
        if len(each):
            wide_lo, wide_hi = min(lo, float(each.min())), max(hi, float(each.max()))
            if lo > 0 and wide_lo > 0 and hi / lo > LOG_FROM:
                stretch = np.log(wide_hi / wide_lo) / np.log(hi / lo)
            else:
                stretch = (wide_hi - wide_lo) / (hi - lo) if hi > lo else math.inf
            if stretch <= 2:
                lo, hi = wide_lo, wide_hi
    if lo > 0 and hi / lo > LOG_FROM:
        pad = (hi / lo) ** 0.06
        return (lo / pad, hi * pad), True
    pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1e-3)
    return (lo - pad, hi + pad), False


def png(summary: Any, d: TimeToSolutionData | None = None, *, note: str = "") -> Any:
    """The figure (matplotlib): curves and bands above, trials finished below; ``note`` (e.g.
    "replayed from results/x") in the bottom corner."""
    import textwrap

    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    d = d or data(summary)
    entries = len(d.strategies) + (d.target is not None)
    longest = max([len(s.legend) for s in d.strategies] + [0])
    # two columns only when both fit the figure's width (about 55 characters each at 8.5 pt)
    ncols = 1 if entries <= 3 or longest > 55 else 2
    rows = math.ceil(entries / ncols)
    note_lines = textwrap.wrap(note, 150) if note else []
    fig = Figure(figsize=(9, 6.6 + 0.2 * rows + 0.15 * len(note_lines)), layout="constrained")
    ax, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    t = d.t
    if d.log_y:
        from matplotlib import ticker

        ax.set_yscale("log")
        plain = ticker.FuncFormatter(lambda v, _: f"{v:.3g}")
        ax.yaxis.set_major_formatter(plain)  # 0.06, not 6×10⁻²
        ax.yaxis.set_minor_formatter(ticker.FuncFormatter(
            lambda v, _: f"{v:.3g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5)
            else ""))
    run_lw, run_alpha = (0.8, 0.5) if d.run_style == "thin" else (0.5, 0.12)
    band_alpha = 0.08 if d.run_style == "thin" else 0.18  # few runs: wide bands, lighter
    for i, s in enumerate(d.strategies):
        color = colors[i % len(colors)]
        ax.plot(t, s.center, color=color, lw=2.2, label=s.legend, zorder=3)
        if not np.isnan(s.low).all():
            low = np.asarray(s.low, dtype=float)
            if d.log_y and d.ylim is not None:  # a band reaching below 0: to the axis
                low = np.where(low > 0, low, d.ylim[0] / 2)
            ax.fill_between(t, low, s.high, color=color, alpha=band_alpha, lw=0)
        for values in s.runs:  # each repeat: where a mean is not defined yet too
            ax.plot(t, values, color=color, lw=run_lw, alpha=run_alpha)
        if s.tts is not None:
            ax.axvline(s.tts, color=color, ls=":", lw=1.2)
        bottom.plot(t, s.finished, color=color, lw=1.5)
    if d.empty:
        ax.text(0.5, 0.5, d.empty, transform=ax.transAxes, ha="center", va="center",
                color="0.4")
    if d.target is not None:
        ax.axhline(d.target, color="0.3", ls="--", lw=1, label=f"target {d.target:.4g}")
    top = d.counts_on_top  # the curves fall (min) or rise (max): keep clear of their end
    ax.text(0.99, 0.97 if top else 0.03,
            "trials finished\n" + "\n".join(s.count for s in d.strategies),
            transform=ax.transAxes, ha="right", va="top" if top else "bottom", fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    if d.ylim is not None:
        ax.set_ylim(*d.ylim)
    ax.set_ylabel(d.ylabel)
    ax.set_title(d.subtitle, fontsize=8.5, color="0.3")
    fig.legend(loc="outside upper center", ncols=ncols, fontsize=8.5,
               frameon=False, title=d.title, title_fontsize=11)  # the title above its legend
    ax.grid(alpha=0.3, which="both" if d.log_y else "major")
    bottom.set_ylabel("trials\nfinished")
    bottom.set_xlabel(f"wall time ({d.unit})")
    bottom.grid(alpha=0.3)
    bottom.set_xlim(0, t[-1])
    bottom.set_ylim(bottom=0)
    if note_lines:
        fig.supxlabel("\n".join(note_lines), x=0.01, ha="left", fontsize=8, color="0.35")
    return fig


def write_png(summary: Any, path: str | Path, *, note: str = "") -> Path:
    """Draw the figure of ``summary`` into ``path`` (PNG, whole files only)."""
    path = Path(path)
    fig = png(summary, note=note)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=130)
    tmp.replace(path)
    return path
