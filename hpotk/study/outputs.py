"""A study's outputs: curves.csv, summary.csv, summary.md and the time-to-solution figure
tts.png (`hpotk.reporting.time_to_solution` draws it), each written whole (to a temporary file,
then renamed: two job-array elements may aggregate at once)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk.study._format import number_text, rounded, sd_text
from hpotk.study.aggregation import StudySummary
from hpotk.study.bands import BOOTSTRAP_FROM, RESAMPLES
from hpotk.study.power import ALPHA, POWER


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
    curves = out_dir / layout.STUDY_CURVES
    layout.atomic_write(curves, comment + pd.DataFrame(_curve_rows(summary)).to_csv(index=False))
    table = out_dir / layout.STUDY_SUMMARY_CSV
    layout.atomic_write(table, comment + pd.DataFrame(summary.table()).to_csv(index=False))
    markdown = out_dir / layout.STUDY_SUMMARY_MD
    layout.atomic_write(markdown, _markdown(summary, note))
    figure = out_dir / layout.STUDY_FIGURE
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


def _reference_text(reference: dict[str, float]) -> str:
    return "(" + ", ".join(f"{n} {v:.4g}" for n, v in reference.items()) + ")"


def _markdown(summary: StudySummary, note: str) -> str:
    s0 = summary
    target = "—" if s0.target is None else f"{s0.target:.4g}"
    how = "given in the study file" if s0.target_given else f"{s0.baseline}'s final value"
    fewest = min((s.runs for s in s0.strategies.values()), default=0)
    lines = [f"# Time-to-solution study: {s0.name}", ""]
    if note:
        lines += [f"> {note}", ""]
    lines += [
        (f"Curve: hypervolume of each run's feasible trials at their latest values of "
         f"{', '.join(f'`{n}`' for n in s0.hypervolume_reference)}, up to the reference point "
         f"{_reference_text(s0.hypervolume_reference)}"
         if s0.hypervolume_reference else
         f"Curve: mean `{s0.report_metric}` of the top {s0.top_k} trials by `{s0.objective}` "
         f"({s0.mode})") + f". Band across repeats: {s0.band_text}. Target: {target} ({how}).",
        "",
        f"Speedup: time-to-target of {s0.baseline} / that of the strategy; `≥` where "
        f"{s0.baseline} never reached the target in its time (censored), `≤` where the strategy "
        f"never did. Its 95% interval resamples each strategy's repeats ({RESAMPLES} "
        f"bootstraps); an end written `≥`/`≤` is a bound, where censored resamples leave it "
        f"open." + (f" With fewer than {BOOTSTRAP_FROM} repeats the bootstrap knows only the "
                    f"runs it was given and its interval is too narrow: read it with the "
                    f"smallest detectable speedup." if fewest < BOOTSTRAP_FROM else ""), "",
        f"Smallest detectable speedup: the factor of time-to-target (either way) that these "
        f"repeat counts would detect at α = {ALPHA:g} with power {POWER:g}, by a two-sided "
        f"t test on log time-to-target ({s0.spread_text or 'no spread known'}); where the "
        f"counts leave the Mann–Whitney test no p-value below α at all (2 and 2 repeats: "
        f"1/3; 3 and 3: 0.1), no effect is detectable by it, which holds for the p-value "
        f"column too.", "",
    ]
    needed = s0.any_repeats_needed
    head = (f"| strategy | runs | trials finished | final {s0.report_metric} | time-to-target | "
            f"speedup vs {s0.baseline} | 95% interval | Mann–Whitney p | smallest detectable "
            f"speedup |" + (" repeats needed |" if needed else ""))
    lines += [head, "|---|---:|---:|---:|---:|---:|---:|---:|---|" + ("---:|" if needed else "")]
    for s in s0.strategies.values():
        p = "—" if s.p_value is None else f"{s.p_value:.3g}"
        row = (f"| {s.label} | {s.runs} | {s.trials_finished_mean:.1f} ± "
               f"{sd_text(s.trials_finished_sd)} | {number_text(s.final_mean)} ± "
               f"{sd_text(s.final_sd)} | {s.tts_text} | {s.speedup_text} | "
               f"{s.speedup_interval_text} | {p} | {s.detectable_text} |")
        lines.append(row + (f" {s.repeats_needed_text} |" if needed else ""))
    if needed:
        lines += [""] + [f"Repeats needed for {s.label} (per strategy, for a two-sided "
                         f"Mann–Whitney test to tell it from {s0.baseline}): "
                         f"{s.repeats_needed_text}, from {s.repeats_needed_from}."
                         for s in s0.strategies.values() if s.repeats_needed_from]
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
    """tts.png, the time-to-solution figure (drawn by `hpotk.reporting.time_to_solution`)."""
    from hpotk.reporting import time_to_solution

    return time_to_solution.write_png(summary, path, note=note)
