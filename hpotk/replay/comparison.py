"""Replay against real runs: how closely replayed runs of a strategy follow real runs of it
(`agreement`, on the study's own curves), how much slower a real machine was than the table
(`time_ratio`), and real runs measured from their first trial's start (`aligned`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk.replay.table import Table, is_missing


@dataclass
class Agreement:
    """How a replayed strategy compares with real runs of it.

    Attributes:
        real_runs, replayed_runs: how many of each.
        trials_real, trials_replayed: trials finished per run (mean, sd, min, max).
        final_real, final_replayed: the final top-k mean per run (mean, sd, min, max).
        within_envelope: share of the time grid (where the replay's mean and at least two real
            runs are defined) at which the replay's mean lies between the lowest and the
            highest real run there.
        within_sd: share at which it lies within one sd of the real runs' mean.
        max_gap_sd: the largest gap between the two mean curves, in real sds at that time (the
            sd floored at a tenth of its median over the grid, where real runs coincide).
        grid, real, replayed: the time grid and each side's mean / low / high curves and mean
            trials finished (for `plot_agreement`).
    """

    report_metric: str
    top_k: int
    real_runs: int
    replayed_runs: int
    trials_real: tuple[float, float, float, float]
    trials_replayed: tuple[float, float, float, float]
    final_real: tuple[float, float, float, float]
    final_replayed: tuple[float, float, float, float]
    within_envelope: float
    within_sd: float
    max_gap_sd: float
    grid: Any = None
    real: dict[str, Any] = field(default_factory=dict)
    replayed: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        def four(v: tuple[float, ...], digits: int) -> str:
            return (f"{v[0]:.{digits}f} ± {v[1]:.{digits}f} (range {v[2]:.{digits}f}-"
                    f"{v[3]:.{digits}f})")

        return "\n".join([
            f"trials finished: real {four(self.trials_real, 1)} over {self.real_runs} runs; "
            f"replayed {four(self.trials_replayed, 1)} over {self.replayed_runs} seeds",
            f"final {self.report_metric} (top {self.top_k}): real {four(self.final_real, 4)}; "
            f"replayed {four(self.final_replayed, 4)}",
            f"top-{self.top_k} curve: the replay's mean is inside the real runs' range at "
            f"{self.within_envelope:.0%} of the time grid, within one real sd of the real mean at "
            f"{self.within_sd:.0%}; largest gap {self.max_gap_sd:.1f} real sd",
        ])


def time_ratio(table: Table, runs: Sequence[Any], *, nearest: bool = False) -> tuple[float, int]:
    """How much longer the real ``runs`` took than the table for the same work: the ratio of
    their seconds to the recorded ones over every (config, iteration) both hold, and how many
    such pairs there were ((nan, 0) if none: the runs tried no recorded config).

    ``nearest``: a config the table lacks is compared with the nearest recorded one in the
    normalised space (`Table.nearest`), so that any run measures its machine's speed; what an
    iteration costs depends on its config (batch size, width), which the nearest shares most.

    A run's seconds are the gaps between its trial's consecutive results (the first result's
    ``time_this_iter_s``), as `load_table` reads them."""
    mine = real = 0.0
    pairs = 0
    for res in runs:
        for trial_id, frame in res.history.groupby("trial_id", sort=False):
            config = res.trials.loc[res.trials["trial_id"] == trial_id]
            if not len(config):
                continue
            row = config.iloc[0].to_dict()
            wanted = {p: row.get(f"config/{p}") for p in table.params}
            recorded = table.find(wanted)
            if recorded is None and nearest:
                recorded = table.nearest(wanted)
            if recorded is None:
                continue
            rows = frame.sort_values("time_s").to_dict("records")
            for i, r in enumerate(rows):
                it = int(r["iteration"])
                if not 1 <= it <= table.max_t:
                    continue
                gap = r["time_s"] - rows[i - 1]["time_s"] if i else r.get("time_this_iter_s")
                if gap is None or is_missing(gap) or gap < 0:
                    continue
                real += float(gap)
                mine += recorded.iter_s[it - 1]
                pairs += 1
    return (real / mine if mine > 0 else math.nan), pairs


def aligned(res: Any, until: float | None = None) -> Any:
    """A copy of a run measured from its first trial's start (the experiment's own start-up
    left out), with the time the trials had as its budget: for comparing runs whose start-up
    differed (Ray starting on a loaded machine) by what the scheduler decided.

    ``until``: cut it there, as if its budget had ended then (what came later dropped, trials
    running then unfinished); the schedulers do not know the budget, so the first ``until``
    seconds of a longer run are a run of ``until`` seconds."""
    import copy

    import numpy as np

    out = copy.copy(res)
    start = float(np.nanmin(res.trials["start_s"])) if len(res.trials) else 0.0
    out.history = res.history.copy()
    out.history["time_s"] = out.history["time_s"] - start
    out.trials = res.trials.copy()
    for column in ("start_s", "end_s"):
        out.trials[column] = out.trials[column] - start
    meta = dict(res.meta)
    finished, started = meta.get("finished"), meta.get("started")
    end = float(finished) - float(started) if finished is not None and started is not None \
        else float(res.history["time_s"].max())
    window = max(end - start, 0.0)
    if until is not None and until < window:
        window = float(until)
        out.history = out.history[out.history["time_s"] <= window]
        late = out.trials["end_s"] > window
        out.trials.loc[late, "status"] = "UNFINISHED"
        out.trials.loc[late, "end_s"] = np.nan
        out.trials = out.trials[~(out.trials["start_s"] > window)]
    meta["budget"] = dict(meta.get("budget") or {}, time_s=window)
    meta["runs"] = []
    out.meta = meta
    return out


def agreement(real: Sequence[Any], replayed: Sequence[Any], *, report_metric: str, top_k: int,
              grid_points: int = 200) -> Agreement:
    """Compare replayed runs of a strategy with real runs of it (all `hpotk.results.Results`),
    on the study's own curves (`hpotk.study.aggregate`)."""
    import numpy as np

    from hpotk.study import aggregate

    summary = aggregate({"real": list(real), "replayed": list(replayed)},
                        report_metric=report_metric, top_k=top_k, baseline="real",
                        grid_points=grid_points)
    curves = {label: [c for c in summary.runs if c.label == label]
              for label in ("real", "replayed")}

    def stats(values: Sequence[float]) -> tuple[float, float, float, float]:
        v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
        if not len(v):
            return (math.nan,) * 4
        return (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, float(v.min()),
                float(v.max()))

    import warnings

    real_stack = np.vstack([c.values for c in curves["real"]])
    with warnings.catch_warnings():  # grid points before top_k trials reported are all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(real_stack, axis=0)
        sd = np.nanstd(real_stack, axis=0, ddof=1)
        low, high = np.nanmin(real_stack, axis=0), np.nanmax(real_stack, axis=0)
    replay_stack = np.vstack([c.values for c in curves["replayed"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        replay_center = np.where((~np.isnan(replay_stack)).sum(axis=0) >= min(2, len(
            replay_stack)), np.nanmean(replay_stack, axis=0), math.nan)
    # compared where the replay's mean and at least two real runs (or the only one) are defined:
    # a real run cut short (its start-up ate its budget) does not blank the whole comparison
    enough = min(2, len(real_stack))
    defined = ~np.isnan(replay_center) & ((~np.isnan(real_stack)).sum(axis=0) >= enough)
    if defined.any():
        r, m, s = replay_center[defined], mean[defined], sd[defined]
        inside = (r >= low[defined] - 1e-12) & (r <= high[defined] + 1e-12)
        near = np.abs(r - m) <= s + 1e-12
        # where the real runs happen to coincide their sd is ~0 and any gap is millions of
        # sds: the sd is floored at a tenth of its median over the grid
        typical = np.nanmedian(s[s > 0]) if (s > 0).any() else math.nan
        floor = np.maximum(s, 0.1 * typical) if math.isfinite(typical) else s
        gaps = np.abs(r - m) / np.where(floor > 0, floor, np.nan)
        within_envelope, within_sd = float(inside.mean()), float(near.mean())
        max_gap = float(np.nanmax(gaps)) if np.isfinite(gaps).any() else 0.0
    else:
        within_envelope = within_sd = max_gap = math.nan
    rep = summary.strategies["replayed"]
    return Agreement(
        report_metric, top_k, len(real), len(replayed),
        stats([c.trials_finished for c in curves["real"]]),
        stats([c.trials_finished for c in curves["replayed"]]),
        stats([c.final for c in curves["real"]]), stats([c.final for c in curves["replayed"]]),
        within_envelope, within_sd, max_gap, grid=summary.grid,
        real={"mean": mean, "low": low, "high": high,
              "finished": summary.strategies["real"].finished_mean},
        replayed={"mean": replay_center, "low": rep.low, "high": rep.high,
                  "finished": rep.finished_mean})


def plot_agreement(a: Agreement, path: str | Path, *, title: str, note: str = "",
                   real_label: str = "real", replay_label: str = "replayed") -> Path:
    """The replayed and the real curves on one figure (drawn by `hpotk.reporting.agreement`):
    each side's mean top-k curve, the real runs' range and the replay's 95% CI, and the trials
    finished below."""
    from hpotk.reporting import agreement as figure

    return figure.write_png(a, path, title=title, note=note, real_label=real_label,
                            replay_label=replay_label)
