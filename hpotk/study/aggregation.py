"""Aggregating a study: per run, the top-k curve against wall time; per strategy, its band
across repeats (`hpotk.study.bands`), the trials it finished, time-to-target, the speedup over
the baseline with its bootstrap interval (`hpotk.study.speedups`), a Mann–Whitney p-value of
its final values and the smallest speedup its repeats could have detected
(`hpotk.study.power`).

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
- The smallest detectable speedup takes the spread of per-run log time-to-target from the
  baseline's runs that reached the target (pooled over every strategy's when fewer than 2
  did), and says too when the repeat counts leave Mann–Whitney no p-value below α at all.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hpotk.errors import HpotkError
from hpotk.study import bands, power, speedups
from hpotk.study._format import ratio_text
from hpotk.study.bands import BANDS
from hpotk.study.summaries import RunCurve, StrategySummary, StudySummary

__all__ = ["FINISHED_STATUSES", "RunCurve", "StrategySummary", "StudySummary", "aggregate"]

#: a trial that ended by itself or by the scheduler (not one cut off by the end of the run)
FINISHED_STATUSES = frozenset({"COMPLETED", "STOPPED", "EARLY_STOPPED", "TIMEOUT"})


def aggregate(runs: Mapping[str, Sequence[Any]], *, report_metric: str, top_k: int,
              baseline: str, target: float | None = None, band: str = "auto",
              grid_points: int = 200, seed: int = 0,
              reference: Mapping[str, float] | None = None) -> StudySummary:
    """Aggregate a study's runs into curves, time-to-target and speedups.

    Args:
        runs: strategy label -> its repeats, each a `hpotk.results.Results` (only ``trials``,
            ``history`` and ``meta`` are read: metric, mode, budget, runs, seed).
        report_metric: the metric the curve shows (e.g. ``test_mae``); trials are ranked by the
            objective (``meta["metric"]``), in the objective's direction (``meta["mode"]``).
        top_k: how many of the best trials y(t) averages.
        baseline: the label speedups and p-values are relative to.
        target: the value to reach; None: the baseline's final aggregate value.
        band: "auto" (Student t below `hpotk.study.bands.BOOTSTRAP_FROM` repeats, bootstrap
            from there), "t" or "ci" (mean ± 95% Student-t interval), "bootstrap" (mean, 95%
            BCa bootstrap interval) or "iqr" (median, quartiles); see `hpotk.study.bands`.
        grid_points: points of the common time grid, from 0 to the longest run.
        seed: the seed of the bootstrap's resamples (bands and speedup intervals), so that the
            same runs give the same outputs.
        reference: several objectives only: the hypervolume's reference point, objective ->
            value; None: each objective's worst last value among the baseline's trials.

    With several objectives (the runs' ``meta["objectives"]``) the curve is not a top-k mean
    but the hypervolume of each run's feasible trials at their latest values by t
    (`hpotk.reporting.pareto.hypervolume_data`), up to one reference point for every run;
    ``report_metric`` and ``top_k`` are then unused, and the objective reads "hypervolume"
    (max).

    Returns:
        A `StudySummary`. Raises `HpotkError` for an empty or inconsistent input.
    """
    import numpy as np

    objective, mode = _objective(runs, baseline=baseline, band=band, top_k=top_k)
    objectives = _objectives(runs, baseline)
    hv_reference = None
    if len(objectives) > 1:
        hv_reference = _reference(runs[baseline], objectives, reference)
        report_metric, objective, mode = "hypervolume", "hypervolume", "max"
        events = {label: [_hv_events(res, hv_reference) for res in repeats]
                  for label, repeats in runs.items() if repeats}
    else:
        events = {label: [_events(res, objective, mode, report_metric, top_k)
                          for res in repeats]
                  for label, repeats in runs.items() if repeats}
    horizon = max(ev["horizon"] for evs in events.values() for ev in evs)
    grid = np.linspace(0.0, horizon, grid_points)
    better = np.less_equal if mode == "min" else np.greater_equal
    curves = _run_curves(runs, events, grid)
    rng = np.random.default_rng(seed)
    kind = bands.resolve(band, min(len(cs) for cs in curves.values()))

    summaries = {label: _summarise(label, cs, grid, kind, rng) for label, cs in curves.items()}
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
    base_stack = np.vstack([c.values for c in curves[baseline]])
    log_sd, spread_text = _spread(curves, baseline)
    for label, s in summaries.items():
        s.speedup, s.speedup_bound = speedups.speedup(base.tts, base.horizon, s.tts, s.horizon)
        if label == baseline:
            continue
        finals = [c.final for c in curves[label] if not math.isnan(c.final)]
        s.p_value = _mannwhitney(finals, base_finals)
        ends = speedups.interval(base_stack, np.vstack([c.values for c in curves[label]]), grid,
                                 target, better, base_horizon=base.horizon, horizon=s.horizon,
                                 center="median" if kind == "iqr" else "mean", rng=rng)
        if ends is not None:
            s.speedup_low, s.speedup_low_bound = ends.low, ends.low_bound
            s.speedup_high, s.speedup_high_bound = ends.high, ends.high_bound
        s.mannwhitney_min_p = power.mannwhitney_min_p(base.runs, s.runs)
        s.detectable_speedup = (None if log_sd is None
                                else power.detectable_ratio(log_sd, base.runs, s.runs))
        s.detectable_text = _detectable_text(base.runs, s.runs, s.mannwhitney_min_p,
                                             s.detectable_speedup)
    summary = StudySummary(report_metric, objective, mode, top_k, baseline, target, given,
                           kind, grid, [c for cs in curves.values() for c in cs], summaries,
                           band_requested=band, spread_text=spread_text)
    if hv_reference is not None:
        summary.hypervolume_reference = {n: float(v) for (n, _), v in
                                         zip(objectives, hv_reference, strict=True)}
    return summary


def _objectives(runs: Mapping[str, Sequence[Any]], baseline: str) -> list[tuple[str, str]]:
    """The objectives every run shares (the baseline's); HpotkError for a run with others."""
    first = runs[baseline][0]
    objectives = [tuple(o) for o in (first.meta.get("objectives") or
                                      [(first.meta["metric"], first.meta.get("mode", "min"))])]
    for label, repeats in runs.items():
        for res in repeats:
            theirs = [tuple(o) for o in (res.meta.get("objectives") or
                                         [(res.meta["metric"], res.meta.get("mode", "min"))])]
            if theirs != objectives:
                raise HpotkError(f"{label}: run {res.meta.get('name')} has objectives {theirs}, "
                                 f"not {objectives} like the baseline")
    return objectives


def _reference(baseline_runs: Sequence[Any], objectives: list[tuple[str, str]],
               given: Mapping[str, float] | None) -> Any:
    """The hypervolume's reference point: ``given`` (every objective named), else each
    objective's worst finite last value among the baseline runs' trials."""
    import numpy as np

    from hpotk.objectives import reference_point

    names = [n for n, _ in objectives]
    if given:
        missing = [n for n in names if n not in given]
        extra = [n for n in given if n not in names]
        if missing or extra:
            raise HpotkError(f"reference_point: give a value for each objective {names}"
                             + (f"; missing {missing}" if missing else "")
                             + (f"; not an objective: {extra}" if extra else ""))
        return np.array([float(given[n]) for n in names])
    rows = []
    for res in baseline_runs:
        t = res.trials
        if len(t):
            rows.append(np.column_stack([
                np.asarray(t[n], dtype=float) if n in t else np.full(len(t), math.nan)
                for n in names]))
    values = np.vstack(rows) if rows else np.zeros((0, len(names)))
    try:
        return reference_point(values, [m for _, m in objectives])
    except HpotkError:
        raise HpotkError(f"no baseline trial reported every objective {names}: no reference "
                         f"point for the hypervolume; give reference_point in the study file"
                         ) from None


def _hv_events(res: Any, reference: Any) -> dict[str, Any]:
    """One run as events for several objectives: y = the hypervolume of its feasible trials'
    latest values up to ``reference``, at each report time; and the trials' end times."""
    import numpy as np

    from hpotk.reporting.pareto import data, hypervolume_data

    clock = _clock(res)
    hv = hypervolume_data(res, data(res, reference))
    times = clock(np.asarray(hv.times, dtype=float))
    values = np.asarray(hv.values, dtype=float)
    return {"times": times, "values": values, **_ends_and_horizon(res, clock, times)}


def _spread(curves: dict[str, list[RunCurve]], baseline: str) -> tuple[float | None, str]:
    """The standard deviation of log time-to-target behind the detectable speedups, and where
    it came from: the baseline's runs that reached the target, or (fewer than 2 did) the
    within-strategy spread pooled over every strategy's runs that did."""
    import numpy as np

    logs = {label: [math.log(c.tts) for c in cs if c.tts is not None and c.tts > 0]
            for label, cs in curves.items()}
    censored = sum(1 for cs in curves.values() for c in cs if c.tts is None)
    caveat = ("; runs that never reached it are left out, which understates the spread when "
              "they are the slow ones" if censored else "")
    base = logs[baseline]
    if len(base) >= 2:
        sd = float(np.std(base, ddof=1))
        return sd, (f"sd of log time-to-target {sd:.2g}, from the {len(base)} of "
                    f"{len(curves[baseline])} {baseline} runs that reached the target" + caveat)
    groups = [v for v in logs.values() if len(v) >= 2]
    if not groups:
        return None, ("spread of time-to-target unknown: in no strategy did 2 runs reach the "
                      "target")
    dof = sum(len(v) - 1 for v in groups)
    sd = math.sqrt(sum((len(v) - 1) * float(np.var(v, ddof=1)) for v in groups) / dof)
    return sd, (f"sd of log time-to-target {sd:.2g}, pooled within {len(groups)} strategies "
                f"over their {sum(len(v) for v in groups)} runs that reached the target "
                f"(fewer than 2 {baseline} runs did)" + caveat)


def _detectable_text(n_base: int, n: int, min_p: float, ratio: float | None) -> str:
    """The smallest detectable speedup in words, naming the test."""
    if min_p > power.ALPHA:
        by_t = ("spread unknown" if ratio is None else
                f"would need {ratio_text(ratio)} either way (power {power.POWER:g})")
        return (f"none by Mann–Whitney at α = {power.ALPHA:g} ({n_base} vs {n} repeats: no "
                f"two-sided p below {min_p:.2g}); a t test on log time-to-target {by_t}")
    if ratio is None:
        return "unknown (t test on log time-to-target: no spread of time-to-target)"
    return (f"{ratio_text(ratio)} either way (t test on log time-to-target, power "
            f"{power.POWER:g})")


def _objective(runs: Mapping[str, Sequence[Any]], *, baseline: str, band: str,
               top_k: int) -> tuple[str, str]:
    """The objective and mode every run shares (the baseline's); HpotkError for a bad band,
    top_k or baseline, or a run that optimises something else."""
    if band not in BANDS:
        raise HpotkError(f"band: expected one of {list(BANDS)}, got {band!r}")
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
    return {"times": times, "values": values, **_ends_and_horizon(res, clock, times)}


def _ends_and_horizon(res: Any, clock: Any, times: Any) -> dict[str, Any]:
    """A run's finished trials' end times (on its running ``clock``) and its horizon: its time
    budget, or its last event if that is later."""
    import numpy as np

    trials = res.trials
    ends = np.array([])
    if len(trials) and "status" in trials and "end_s" in trials:
        done = trials[trials["status"].isin(FINISHED_STATUSES) & trials["end_s"].notna()]
        ends = clock(done["end_s"].to_numpy(dtype=float))
    budget = (res.meta.get("budget") or {}).get("time_s")
    last = float(times[-1]) if len(times) else 0.0
    return {"ends": ends, "horizon": max(float(budget) if budget else 0.0, last)}


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


def _summarise(label: str, curves: list[RunCurve], grid: Any, kind: str,
               rng: Any) -> StrategySummary:
    import numpy as np

    stack = np.vstack([c.values for c in curves])
    complete = ~np.isnan(stack).any(axis=0)  # a point every repeat has
    center = np.full(len(grid), math.nan)
    low = np.full(len(grid), math.nan)
    high = np.full(len(grid), math.nan)
    if complete.any():
        center[complete], low[complete], high[complete] = bands.band(stack[:, complete], kind,
                                                                     rng)
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


def _mannwhitney(values: list[float], baseline: list[float]) -> float | None:
    """Two-sided Mann–Whitney U p-value of final values against the baseline's."""
    if not values or not baseline:
        return None
    from scipy import stats

    if len(set(values) | set(baseline)) == 1:
        return 1.0
    return float(stats.mannwhitneyu(values, baseline, alternative="two-sided").pvalue)
