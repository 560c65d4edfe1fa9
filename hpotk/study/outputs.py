"""A study's outputs: curves.csv, summary.csv, summary.md and the time-to-solution figure
tts.png, each written whole (to a temporary file, then renamed: two job-array elements may
aggregate at once)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from hpotk.study._format import number_text, rounded, sd_text
from hpotk.study.aggregation import StudySummary
from hpotk.study.spec import BANDS


def write_outputs(summary: StudySummary, out_dir: Path, *, note: str = "") -> list[Path]:
    """Write curves.csv, summary.csv, summary.md and tts.png to ``out_dir``.

    Args:
        summary: `aggregate`'s result.
        out_dir: where to write (created).
        note: a line put on every table and figure, e.g. "replayed from results/x".

    Returns:
        The paths written.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    comment = f"# {note}\n" if note else ""
    curves = out_dir / "curves.csv"
    _atomic_text(curves, comment + pd.DataFrame(_curve_rows(summary)).to_csv(index=False))
    table = out_dir / "summary.csv"
    _atomic_text(table, comment + pd.DataFrame(summary.table()).to_csv(index=False))
    markdown = out_dir / "summary.md"
    _atomic_text(markdown, _markdown(summary, note))
    figure = out_dir / "tts.png"
    plot(summary, figure, note=note)
    return [curves, table, markdown, figure]


def _curve_rows(summary: StudySummary) -> list[dict[str, Any]]:
    """curves.csv's rows: every run's curve on the grid, then every strategy's center and band."""
    rows = []
    for c in summary.runs:
        for i, t in enumerate(summary.grid):
            rows.append({"strategy": c.label, "repeat": c.repeat, "seed": c.seed,
                         "t_s": round(float(t), 3), "topk_mean": rounded(c.values[i], 6),
                         "band_low": None, "band_high": None,
                         "trials_finished": int(c.finished[i])})
    for s in summary.strategies.values():
        for i, t in enumerate(summary.grid):
            rows.append({"strategy": s.label, "repeat": "all", "seed": None,
                         "t_s": round(float(t), 3), "topk_mean": rounded(s.center[i], 6),
                         "band_low": rounded(s.low[i], 6), "band_high": rounded(s.high[i], 6),
                         "trials_finished": rounded(s.finished_mean[i], 2)})
    return rows


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _markdown(summary: StudySummary, note: str) -> str:
    s0 = summary
    target = "—" if s0.target is None else f"{s0.target:.4g}"
    how = "given in the study file" if s0.target_given else f"{s0.baseline}'s final value"
    lines = [f"# Time-to-solution study: {s0.name}", ""]
    if note:
        lines += [f"> {note}", ""]
    lines += [
        f"Curve: mean `{s0.report_metric}` of the top {s0.top_k} trials by `{s0.objective}` "
        f"({s0.mode}), {BANDS[s0.band]} across repeats. Target: {target} ({how}). Speedup: "
        f"time-to-target of {s0.baseline} / that of the strategy; `≥` where {s0.baseline} never "
        f"reached the target in its time (censored), `≤` where the strategy never did.", "",
        f"| strategy | runs | trials finished | final {s0.report_metric} | time-to-target | "
        f"speedup vs {s0.baseline} | Mann–Whitney p |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in s0.strategies.values():
        p = "—" if s.p_value is None else f"{s.p_value:.3g}"
        lines.append(f"| {s.label} | {s.runs} | {s.trials_finished_mean:.1f} ± "
                     f"{sd_text(s.trials_finished_sd)} | {number_text(s.final_mean)} ± "
                     f"{sd_text(s.final_sd)} | {s.tts_text} | {s.speedup_text} | {p} |")
    lines += ["", "Per run:", "",
              f"| strategy | seed | trials finished | final {s0.report_metric} | "
              f"time-to-target | results |", "|---|---:|---:|---:|---:|---|"]
    for c in s0.runs:
        tts = f"{c.tts:.0f} s" if c.tts is not None else f"> {c.horizon:.0f} s (censored)"
        final = "—" if math.isnan(c.final) else f"{c.final:.4g}"
        lines.append(f"| {c.label} | {c.seed} | {c.trials_finished} | {final} | {tts} | "
                     f"{c.path} |")
    return "\n".join(lines) + "\n"


def plot(summary: StudySummary, path: Path, *, note: str = "") -> Path:
    """The NERSC Ray Tune guide's time-to-solution figure: per strategy a mean curve of the
    top-k trials with its band, the target, and the trials each strategy finished (in the
    legend, the top corner and a panel of trials finished against time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    minutes = float(summary.grid[-1]) >= 300
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    t = summary.grid / scale
    fig, (ax, bottom) = plt.subplots(2, 1, figsize=(8.5, 6.4), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    counts = []
    for i, s in enumerate(summary.strategies.values()):
        color = colors[i % len(colors)]
        what = "mean" if summary.band == "ci" else "median"
        versus = "baseline" if s.label == summary.baseline else f"speedup {s.speedup_text}"
        ax.plot(t, s.center, color=color, lw=2,
                label=f"{s.label} ({what} of {s.runs} runs; {versus})")
        if not np.isnan(s.low).all():
            ax.fill_between(t, s.low, s.high, color=color, alpha=0.2, lw=0)
        for run in summary.runs:  # each repeat, thin: where a mean is not defined yet too
            if run.label == s.label:
                ax.plot(t, run.values, color=color, lw=0.7, alpha=0.45)
        if s.tts is not None:
            ax.axvline(s.tts / scale, color=color, ls=":", lw=1)
        bottom.plot(t, s.finished_mean, color=color, lw=1.5)
        counts.append(f"{s.label}: {s.trials_finished_text}")
    if all(np.isnan(s.center).all() for s in summary.strategies.values()):
        ax.text(0.5, 0.5, f"no curve: in no strategy did {summary.top_k} trials report in "
                f"every run", transform=ax.transAxes, ha="center", va="center", color="0.4")
    if summary.target is not None:
        ax.axhline(summary.target, color="0.3", ls="--", lw=1,
                   label=f"target {summary.target:.4g}")
    top = summary.mode == "min"  # the curves fall (min) or rise (max): keep clear of their end
    ax.text(0.99, 0.97 if top else 0.03, "trials finished\n" + "\n".join(counts),
            transform=ax.transAxes, ha="right", va="top" if top else "bottom", fontsize=8.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    # the axis spans the runs' own values (and the target): a 95% CI of two repeats is wide
    # enough to flatten every curve, so the band is clipped rather than the curves squeezed
    seen = np.concatenate([c.values for c in summary.runs] + (
        [[summary.target]] if summary.target is not None else []))
    seen = seen[np.isfinite(seen)]
    if len(seen):
        lo, hi = float(seen.min()), float(seen.max())
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1e-3)
        ax.set_ylim(lo - pad, hi + pad)
    band = "95% CI" if summary.band == "ci" else "interquartile range"
    ax.set_ylabel(f"{summary.report_metric}: mean of top {summary.top_k}")
    center = "mean" if summary.band == "ci" else "median"
    ax.set_title(f"{summary.name}: time to solution (thick: {center}, band: {band}, thin: each "
                 f"run; dotted: time-to-target)", fontsize=10)
    ax.legend(loc="best", fontsize=8.5,
              framealpha=0.9)
    ax.grid(alpha=0.3)
    bottom.set_ylabel("trials\nfinished")
    bottom.set_xlabel(f"wall time ({unit})")
    bottom.grid(alpha=0.3)
    bottom.set_xlim(0, t[-1])
    if note:
        fig.text(0.01, 0.005, note, fontsize=8, color="0.35", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    tmp = Path(path).with_name(f".{Path(path).stem}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=130)
    tmp.replace(path)  # whole files only: two array elements may aggregate at once
    plt.close(fig)
    return path
