"""What `hpotk.study.aggregate` returns: every run's curve (`RunCurve`), every strategy's
summary (`StrategySummary`) and the study's (`StudySummary`), with the terminal text and the
rows of summary.csv."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpotk.study._format import count_text, number_text, ratio_text, rounded, sd_text


@dataclass
class RunCurve:
    """One run's curve on the common grid and its time-to-target.

    Attributes:
        values: y(t) on the grid (NaN before ``top_k`` trials reported).
        finished: trials finished by each grid time.
        final: the last value of y (NaN if never defined).
        tts: time-to-target in seconds, or None (censored: not reached by ``horizon``).
        horizon: how long the run ran (its time budget, or its last result).
    """

    label: str
    repeat: int
    seed: Any
    path: str
    values: Any
    finished: Any
    final: float
    trials_finished: int
    tts: float | None
    horizon: float


@dataclass
class StrategySummary:
    """One strategy across its repeats (see `StudySummary.table` for the columns).

    Attributes:
        center, low, high: the center curve (mean, or median for the ``iqr`` band) and the band
            on the grid.
        speedup, speedup_bound: T_baseline / T_strategy and "=" (exact), ">=" / "<=" (a bound:
            a time was censored) or "" (undefined).
        speedup_low, speedup_high: the ends of its 95% bootstrap interval (None: unknown or not
            computed); their ``_bound`` markers as ``speedup_bound``'s, for each end.
        p_value: two-sided Mann–Whitney p of the final values against the baseline's.
        detectable_speedup: the smallest factor of time-to-target (either way) that a two-sided
            t test on log times detects at α = 0.05 with power 0.8, for these repeat counts
            and the study's spread (`StudySummary.spread_text`); None for the baseline or an
            unknown spread.
        mannwhitney_min_p: the smallest two-sided Mann–Whitney p these repeat counts allow.
        detectable_text: both, in words.
        repeats_needed: the repeats per strategy a Mann–Whitney test needs to tell this
            strategy from the baseline with power 0.8 (`hpotk.study.power.repeats_needed`, set
            by whoever has a replay to compute it from); None: not computed, or more than
            tried (then ``repeats_needed_from`` says so).
        repeats_needed_from: what ``repeats_needed`` was computed from, e.g. "final test_mae of
            20 replayed seeds each, up to 50 repeats"; "" when not computed.
    """

    label: str
    runs: int
    center: Any
    low: Any
    high: Any
    finished_mean: Any
    trials_finished_mean: float
    trials_finished_sd: float
    final_mean: float
    final_sd: float
    tts: float | None
    horizon: float
    speedup: float | None = None
    speedup_bound: str = ""
    p_value: float | None = None
    speedup_low: float | None = None
    speedup_low_bound: str = ""
    speedup_high: float | None = None
    speedup_high_bound: str = ""
    detectable_speedup: float | None = None
    mannwhitney_min_p: float | None = None
    detectable_text: str = "—"
    repeats_needed: int | None = None
    repeats_needed_from: str = ""

    @property
    def speedup_text(self) -> str:
        return ratio_text(self.speedup, self.speedup_bound)

    @property
    def speedup_interval_text(self) -> str:
        """"[1.3×, 4.2×]", an end that is a bound with its marker, "—" when not computed."""
        if self.speedup_low is None and self.speedup_high is None:
            return "—"
        return (f"[{ratio_text(self.speedup_low, self.speedup_low_bound, '?')}, "
                f"{ratio_text(self.speedup_high, self.speedup_high_bound, '?')}]")

    @property
    def repeats_needed_text(self) -> str:
        if not self.repeats_needed_from:
            return "—"
        return str(self.repeats_needed) if self.repeats_needed is not None else "more than tried"

    @property
    def tts_text(self) -> str:
        return f"{self.tts:.0f} s" if self.tts is not None else f"> {self.horizon:.0f} s"

    @property
    def trials_finished_text(self) -> str:
        return count_text(self.trials_finished_mean)


@dataclass
class StudySummary:
    """The aggregated study: every run's curve and every strategy's summary on one time grid.

    Attributes:
        band: the kind of band drawn: "t", "bootstrap" or "iqr" (`hpotk.study.bands`).
        band_requested: the study's ``band`` option ("auto", "ci", ...).
        spread_text: where the spread behind the detectable speedups came from.
        hypervolume_reference: several objectives: objective -> the reference point's value
            (the curve is then the hypervolume; None with one objective).
    """

    report_metric: str
    objective: str
    mode: str
    top_k: int
    baseline: str
    target: float | None
    target_given: bool
    band: str
    grid: Any
    runs: list[RunCurve]
    strategies: dict[str, StrategySummary]
    name: str = "study"
    band_requested: str = ""
    spread_text: str = ""
    hypervolume_reference: dict[str, float] | None = None

    @property
    def band_text(self) -> str:
        """The band's name, e.g. "mean ± 95% CI of the mean (Student t), chosen by auto for 2
        repeats"."""
        from hpotk.study import bands

        repeats = min((s.runs for s in self.strategies.values()), default=0)
        return bands.describe(self.band, self.band_requested or self.band, repeats)

    @property
    def any_repeats_needed(self) -> bool:
        return any(s.repeats_needed_from for s in self.strategies.values())

    def table(self) -> list[dict[str, Any]]:
        """summary.csv's rows, one per strategy."""
        rows = []
        for s in self.strategies.values():
            rows.append({
                "strategy": s.label, "runs": s.runs, "band": self.band_text,
                "trials_finished_mean": rounded(s.trials_finished_mean),
                "trials_finished_sd": rounded(s.trials_finished_sd),
                f"final_{self.report_metric}_mean": rounded(s.final_mean, 6),
                f"final_{self.report_metric}_sd": rounded(s.final_sd, 6),
                "time_to_target_s": rounded(s.tts, 1),
                "time_to_target_censored": s.tts is None,
                "speedup": rounded(s.speedup, 3), "speedup_bound": s.speedup_bound,
                "speedup_text": s.speedup_text,
                "speedup_low": rounded(s.speedup_low, 3),
                "speedup_low_bound": s.speedup_low_bound,
                "speedup_high": rounded(s.speedup_high, 3),
                "speedup_high_bound": s.speedup_high_bound,
                "speedup_interval_text": s.speedup_interval_text,
                "mannwhitney_p": rounded(s.p_value, 4),
                "mannwhitney_min_p": rounded(s.mannwhitney_min_p, 4),
                "detectable_speedup": rounded(s.detectable_speedup, 3),
                "detectable_text": s.detectable_text,
                "repeats_needed": s.repeats_needed,
                "repeats_needed_from": s.repeats_needed_from,
            })
        return rows

    def text(self) -> str:
        """A few lines for the terminal."""
        target = "none" if self.target is None else f"{self.target:.4g}"
        what = (f"hypervolume of {', '.join(self.hypervolume_reference)} up to ("
                + ", ".join(f"{v:.4g}" for v in self.hypervolume_reference.values()) + ")"
                if self.hypervolume_reference else
                f"mean {self.report_metric} of the top {self.top_k} trials")
        lines = [f"[hpotk] study {self.name}: {what}, target {target}" + ("" if self.target_given else
                                                f" ({self.baseline}'s final value)")
                 + f"; band: {self.band_text}"]
        width = max((len(s.label) for s in self.strategies.values()), default=0)
        width = max(width, 16)
        for s in self.strategies.values():
            p = "" if s.p_value is None else f", p={s.p_value:.2g}"
            interval = ("" if s.speedup_interval_text == "—"
                        else f" (95% {s.speedup_interval_text})")
            lines.append(f"    {s.label:<{width}} final {number_text(s.final_mean)} ± "
                         f"{sd_text(s.final_sd)}, {s.trials_finished_text} trials finished, "
                         f"time-to-target {s.tts_text}, speedup {s.speedup_text}{interval}{p}")
            if s.label != self.baseline:
                lines.append(f"    {'':<{width}} smallest detectable speedup: "
                             f"{s.detectable_text}")
            if s.repeats_needed_from:
                lines.append(f"    {'':<{width}} repeats needed: {s.repeats_needed_text} "
                             f"({s.repeats_needed_from})")
        if self.spread_text:
            lines.append(f"[hpotk] detectable speedups: {self.spread_text}")
        short = [f"{c.label} seed {c.seed}" for c in self.runs if math.isnan(c.final)]
        if short:
            lines.append(f"[hpotk] note: fewer than top_k={self.top_k} trials reported in "
                         f"{', '.join(short)}, so no curve there; give the runs more time or "
                         f"lower top_k")
        return "\n".join(lines)
