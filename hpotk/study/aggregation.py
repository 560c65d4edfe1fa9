"""Aggregating a study: per run, the top-k curve against wall time; per strategy, its band
across repeats, the trials it finished, time-to-target, the speedup over the baseline and a
Mann–Whitney p-value of its final values.

`aggregate` is a pure function of `hpotk.results.Results` objects and uses only their public
fields (``trials``, ``history``, ``meta``), so a simulator can feed it runs made in memory
(`hpotk.replay`).

Conventions:

- Per run, y(t) is the mean ``report_metric`` of the ``top_k`` best trials by the objective
  among the trials that reported by time t, each trial's value taken at its best objective
  iteration so far. It is defined once ``top_k`` trials have reported (the guide's "mean test
  MAE of the top 6 trials"; a smaller set would let one lucky trial decide).
- Times are seconds of running: a run interrupted and resumed is measured without the pause
  (from ``meta["runs"]``, each start and end of the run), and resumes with what is left of its
  time budget.
- Time-to-target: the first time the curve reaches the target (``<=`` for a "min" objective,
  ``>=`` for "max"). A curve that never does is *censored* at the end of its run: its time is
  only known to be longer, so a speedup against it is a bound, written ``≥ 5.2×``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpotk.errors import HpotkError
from hpotk.study._format import count_text, number_text, rounded, sd_text
from hpotk.study.spec import BANDS

#: a trial that ended by itself or by the scheduler (not one cut off by the end of the run)
FINISHED_STATUSES = frozenset({"COMPLETED", "STOPPED", "EARLY_STOPPED", "TIMEOUT"})


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
    """One strategy across its repeats (see `StudySummary.table` for the columns)."""

    label: str
    runs: int
    center: Any  # mean (ci) or median (iqr) curve on the grid
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
    speedup_bound: str = ""  # "=" exact, ">=" lower bound, "<=" upper bound, "" undefined
    p_value: float | None = None

    @property
    def speedup_text(self) -> str:
        if self.speedup is None:
            return "—"
        sign = {"=": "", ">=": "≥ ", "<=": "≤ "}[self.speedup_bound]
        return f"{sign}{self.speedup:.2g}×" if self.speedup < 10 else f"{sign}{self.speedup:.0f}×"

    @property
    def tts_text(self) -> str:
        return f"{self.tts:.0f} s" if self.tts is not None else f"> {self.horizon:.0f} s"

    @property
    def trials_finished_text(self) -> str:
        return count_text(self.trials_finished_mean)


@dataclass
class StudySummary:
    """The aggregated study: every run's curve and every strategy's summary on one time grid."""

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

    def table(self) -> list[dict[str, Any]]:
        """summary.csv's rows, one per strategy."""
        rows = []
        for s in self.strategies.values():
            rows.append({
                "strategy": s.label, "runs": s.runs,
                "trials_finished_mean": rounded(s.trials_finished_mean),
                "trials_finished_sd": rounded(s.trials_finished_sd),
                f"final_{self.report_metric}_mean": rounded(s.final_mean, 6),
                f"final_{self.report_metric}_sd": rounded(s.final_sd, 6),
                "time_to_target_s": rounded(s.tts, 1),
                "time_to_target_censored": s.tts is None,
                "speedup": rounded(s.speedup, 3), "speedup_bound": s.speedup_bound,
                "speedup_text": s.speedup_text,
                "mannwhitney_p": rounded(s.p_value, 4),
            })
        return rows

    def text(self) -> str:
        """A few lines for the terminal."""
        target = "none" if self.target is None else f"{self.target:.4g}"
        lines = [f"[hpotk] study {self.name}: mean {self.report_metric} of the top {self.top_k} "
                 f"trials, target {target}" + ("" if self.target_given else
                                                f" ({self.baseline}'s final value)")]
        for s in self.strategies.values():
            p = "" if s.p_value is None else f", p={s.p_value:.2g}"
            lines.append(f"    {s.label:<16} final {number_text(s.final_mean)} ± "
                         f"{sd_text(s.final_sd)}, {s.trials_finished_text} trials finished, "
                         f"time-to-target {s.tts_text}, speedup {s.speedup_text}{p}")
        short = [f"{c.label} seed {c.seed}" for c in self.runs if math.isnan(c.final)]
        if short:
            lines.append(f"[hpotk] note: fewer than top_k={self.top_k} trials reported in "
                         f"{', '.join(short)}, so no curve there; give the runs more time or "
                         f"lower top_k")
        return "\n".join(lines)


def aggregate(runs: Mapping[str, Sequence[Any]], *, report_metric: str, top_k: int,
              baseline: str, target: float | None = None, band: str = "ci",
              grid_points: int = 200) -> StudySummary:
    """Aggregate a study's runs into curves, time-to-target and speedups.

    Args:
        runs: strategy label -> its repeats, each a `hpotk.results.Results` (only ``trials``,
            ``history`` and ``meta`` are read: metric, mode, budget, runs, seed).
        report_metric: the metric the curve shows (e.g. ``test_mae``); trials are ranked by the
            objective (``meta["metric"]``), in the objective's direction (``meta["mode"]``).
        top_k: how many of the best trials y(t) averages.
        baseline: the label speedups and p-values are relative to.
        target: the value to reach; None: the baseline's final aggregate value.
        band: "ci" (mean ± 95% Student-t confidence interval) or "iqr" (median, quartiles).
        grid_points: points of the common time grid, from 0 to the longest run.

    Returns:
        A `StudySummary`. Raises `HpotkError` for an empty or inconsistent input.
    """
    import numpy as np

    objective, mode = _objective(runs, baseline=baseline, band=band, top_k=top_k)
    events = {label: [_events(res, objective, mode, report_metric, top_k) for res in repeats]
              for label, repeats in runs.items() if repeats}
    horizon = max(ev["horizon"] for evs in events.values() for ev in evs)
    grid = np.linspace(0.0, horizon, grid_points)
    better = np.less_equal if mode == "min" else np.greater_equal
    curves = _run_curves(runs, events, grid)

    summaries = {label: _summarise(label, cs, grid, band) for label, cs in curves.items()}
    given = target is not None
    if target is None:
        center = summaries[baseline].center
        defined = center[~np.isnan(center)]
        target = float(defined[-1]) if len(defined) else None
    for label, cs in curves.items():
        for curve, ev in zip(cs, events[label], strict=True):
            curve.tts = _first_reach(ev["times"], ev["values"], target, better)
        s = summaries[label]
        s.tts = _first_reach(grid, s.center, target, better)
    base = summaries[baseline]
    base_finals = [c.final for c in curves[baseline] if not math.isnan(c.final)]
    for label, s in summaries.items():
        s.speedup, s.speedup_bound = _speedup(base, s)
        if label != baseline:
            finals = [c.final for c in curves[label] if not math.isnan(c.final)]
            s.p_value = _mannwhitney(finals, base_finals)
    return StudySummary(report_metric, objective, mode, top_k, baseline, target, given, band,
                        grid, [c for cs in curves.values() for c in cs], summaries)


def _objective(runs: Mapping[str, Sequence[Any]], *, baseline: str, band: str,
               top_k: int) -> tuple[str, str]:
    """The objective and mode every run shares (the baseline's); HpotkError for a bad band,
    top_k or baseline, or a run that optimises something else."""
    if band not in BANDS:
        raise HpotkError(f"band: expected one of {sorted(BANDS)}, got {band!r}")
    if top_k < 1:
        raise HpotkError(f"top_k: expected >= 1, got {top_k!r}")
    if baseline not in runs or not runs[baseline]:
        raise HpotkError(f"baseline {baseline!r} has no runs; strategies with runs: "
                         f"{[k for k, v in runs.items() if v]}")
    first = runs[baseline][0]
    objective, mode = str(first.meta["metric"]), str(first.meta.get("mode", "min"))
    for label, repeats in runs.items():
        for res in repeats:
            if res.meta["metric"] != objective or res.meta.get("mode", "min") != mode:
                raise HpotkError(f"{label}: run {res.meta.get('name')} optimises "
                                 f"{res.meta['metric']} ({res.meta.get('mode')}), not "
                                 f"{objective} ({mode}) like the baseline")
    return objective, mode


def _run_curves(runs: Mapping[str, Sequence[Any]], events: dict[str, list[dict[str, Any]]],
                grid: Any) -> dict[str, list[RunCurve]]:
    """Every run's curve and trials finished on ``grid`` (time-to-target is set later)."""
    import numpy as np

    curves: dict[str, list[RunCurve]] = {}
    for label, evs in events.items():
        for repeat, (res, ev) in enumerate(zip(runs[label], evs, strict=True)):
            values = _step(ev["times"], ev["values"], grid)
            finished = np.searchsorted(np.sort(ev["ends"]), grid, side="right")
            defined = ev["values"][~np.isnan(ev["values"])]
            final = float(defined[-1]) if len(defined) else math.nan
            curves.setdefault(label, []).append(RunCurve(
                label, repeat, res.meta.get("seed"), str(getattr(res, "path", "")), values,
                finished, final, int(len(ev["ends"])), None, ev["horizon"]))
    return curves


def _clock(res: Any) -> Any:
    """A function: seconds since the experiment started -> seconds of running (pauses between
    an interruption and its resume left out, from ``meta["runs"]``)."""
    import numpy as np

    started = res.meta.get("started")
    segments = [s for s in (res.meta.get("runs") or []) if s.get("started") is not None]
    if started is None or len(segments) < 2:
        return lambda t: np.asarray(t, dtype=float)
    starts = np.array([float(s["started"]) - float(started) for s in segments])
    ends = np.array([float(s["finished"]) - float(started) if s.get("finished") is not None
                     else math.inf for s in segments])
    before = np.concatenate([[0.0], np.cumsum(np.minimum(ends, np.inf) - starts)[:-1]])
    before = np.where(np.isfinite(before), before, 0.0)

    def active(t: Any) -> Any:
        t = np.asarray(t, dtype=float)
        i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        return before[i] + np.maximum(0.0, t - starts[i])

    return active


def _events(res: Any, objective: str, mode: str, report_metric: str,
            top_k: int) -> dict[str, Any]:
    """One run as events: at each result, y = the top-k mean; and the trials' end times."""
    import numpy as np

    history = res.history
    for column in (objective, report_metric):
        if column not in history.columns and len(history):
            shown = sorted(c for c in history.columns if not c.startswith("config/") and c not in
                           ("trial_id", "iteration", "time_s", "timestamp", "node"))
            raise HpotkError(f"{res.meta.get('name')}: no trial reported {column!r}; the "
                             f"metrics reported are {shown}")
    clock = _clock(res)
    if len(history):
        order = np.argsort(history["time_s"].to_numpy(dtype=float), kind="stable")
        h = history.iloc[order]
        times = clock(h["time_s"].to_numpy(dtype=float))
        ids = h["trial_id"].astype(str).to_numpy()
        objs = h[objective].to_numpy(dtype=float)
        reps = h[report_metric].to_numpy(dtype=float)
    else:
        times = ids = objs = reps = np.array([])
    sign = 1.0 if mode == "min" else -1.0
    best: dict[str, float] = {}  # trial -> signed best objective so far (smaller is better)
    report_at: dict[str, float] = {}  # trial -> report_metric at that iteration
    ranked: list[tuple[float, str]] = []  # (signed best objective, trial), ascending
    values = np.full(len(times), math.nan)
    for i in range(len(times)):
        obj, trial = objs[i], ids[i]
        if not math.isnan(obj):
            key = sign * obj
            held = best.get(trial)
            if held is None or key < held:
                if held is not None:
                    del ranked[bisect.bisect_left(ranked, (held, trial))]
                bisect.insort(ranked, (key, trial))
                best[trial], report_at[trial] = key, float(reps[i])
        if len(ranked) >= top_k:
            values[i] = math.fsum(report_at[t] for _, t in ranked[:top_k]) / top_k
    trials = res.trials
    ends = np.array([])
    if len(trials) and "status" in trials and "end_s" in trials:
        done = trials[trials["status"].isin(FINISHED_STATUSES) & trials["end_s"].notna()]
        ends = clock(done["end_s"].to_numpy(dtype=float))
    budget = (res.meta.get("budget") or {}).get("time_s")
    last = float(times[-1]) if len(times) else 0.0
    horizon = max(float(budget) if budget else 0.0, last)
    return {"times": times, "values": values, "ends": ends, "horizon": horizon}


def _step(times: Any, values: Any, grid: Any) -> Any:
    """The step function (value of the last event at or before t) sampled on ``grid``."""
    import numpy as np

    if not len(times):
        return np.full(len(grid), math.nan)
    index = np.searchsorted(times, grid, side="right") - 1
    out = np.where(index >= 0, values[np.clip(index, 0, None)], math.nan)
    return out.astype(float)


def _first_reach(times: Any, values: Any, target: float | None, better: Any) -> float | None:
    import numpy as np

    if target is None or not len(times):
        return None
    with np.errstate(invalid="ignore"):
        hit = better(values, target) & ~np.isnan(values)
    return float(times[np.argmax(hit)]) if hit.any() else None


def _summarise(label: str, curves: list[RunCurve], grid: Any, band: str) -> StrategySummary:
    import numpy as np

    stack = np.vstack([c.values for c in curves])
    complete = ~np.isnan(stack).any(axis=0)  # a point every repeat has
    center = np.full(len(grid), math.nan)
    low = np.full(len(grid), math.nan)
    high = np.full(len(grid), math.nan)
    if complete.any():
        data = stack[:, complete]
        if band == "ci":
            center[complete] = data.mean(axis=0)
            if len(curves) > 1:
                from scipy import stats

                half = stats.t.ppf(0.975, len(curves) - 1) * data.std(axis=0, ddof=1) / math.sqrt(
                    len(curves))
                low[complete], high[complete] = center[complete] - half, center[complete] + half
        else:
            center[complete] = np.median(data, axis=0)
            low[complete], high[complete] = np.percentile(data, [25, 75], axis=0)
    finals = np.array([c.final for c in curves], dtype=float)
    counts = np.array([c.trials_finished for c in curves], dtype=float)
    finite = finals[~np.isnan(finals)]
    return StrategySummary(
        label, len(curves), center, low, high,
        np.vstack([c.finished for c in curves]).mean(axis=0),
        float(counts.mean()), float(counts.std(ddof=1)) if len(counts) > 1 else math.nan,
        float(finite.mean()) if len(finite) else math.nan,
        float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
        None, max(c.horizon for c in curves))


def _speedup(base: StrategySummary, s: StrategySummary) -> tuple[float | None, str]:
    """T_baseline / T_strategy; a censored time makes it a bound (or undefined if both are)."""
    if base.tts is not None and s.tts is not None:
        if s.tts <= 0:
            return (None, "") if base.tts > 0 else (1.0, "=")
        return base.tts / s.tts, "="
    if base.tts is None and s.tts is not None:  # the baseline took longer than it ran
        return (base.horizon / s.tts, ">=") if s.tts > 0 else (None, "")
    if base.tts is not None and s.tts is None:  # this strategy took longer than it ran
        return (base.tts / s.horizon, "<=") if s.horizon > 0 else (None, "")
    return None, ""


def _mannwhitney(values: list[float], baseline: list[float]) -> float | None:
    """Two-sided Mann–Whitney U p-value of final values against the baseline's."""
    if not values or not baseline:
        return None
    from scipy import stats

    if len(set(values) | set(baseline)) == 1:
        return 1.0
    return float(stats.mannwhitneyu(values, baseline, alternative="two-sided").pvalue)
