"""The page's tables and texts: the top trials, the best trial's retrain command, the plan."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpotk import layout
from hpotk.reporting import common

#: columns of the trials table that are bookkeeping, not results
_NOT_METRICS = {"trial_id", "status", "node", "node_ip", "error", "path", "checkpoint",
                "start_s", "end_s", "pid", "date", "done", "timestamp", "time_total_s",
                "time_this_iter_s", "time_since_restore", "iterations_since_restore",
                "training_iteration", "hostname", "experiment_tag", "early_stopped", "finished"}


#: other metrics shown in the top table after the config (the rest are in trials.csv)
MAX_METRICS = 6


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    note: str = ""


def top_table(res: Any, k: int = 10) -> Table:
    """The ``k`` best trials: rank, trial, status, the objective (best and at the end), the
    other metrics, iterations, time, then the config."""
    top = res.top(k)
    metric = res.metric
    params = res.param_names or [c[len("config/"):] for c in res.trials.columns
                                 if c.startswith("config/")]
    metrics = [c for c in res.trials.columns if c not in _NOT_METRICS and not
               c.startswith("config/") and c not in (metric, f"best_{metric}", "iterations",
                                                      "time_s")
               and not c.startswith("best_")
               and common.numeric(res.trials[c]).notna().any()]
    metrics = metrics[:MAX_METRICS]
    columns = (["#", "trial", "status", f"best {metric}", f"{metric} at end"] + params +
               ["iterations", "time"] + metrics)
    rows = []
    for rank, (_, row) in enumerate(top.iterrows(), start=1):
        cells = [str(rank), str(row["trial_id"]), common.status_label(row.get("status")),
                 common.format_value(row.get(f"best_{metric}")),
                 common.format_value(row.get(metric))]
        cells += [common.format_value(row.get(f"config/{p}")) for p in params]
        cells += [common.format_value(row.get("iterations")),
                  common.format_seconds(_float(row.get("time_s")))]
        cells += [common.format_value(row.get(m)) for m in metrics]
        rows.append(cells)
    note = ""
    if len(res.trials) > len(rows):
        note = f"the best {len(rows)} of {len(res.trials)} trials"
    if not rows:
        note = f"no trial has reported {metric} yet"
    return Table(columns, rows, note)


def errors_table(res: Any, k: int = 10) -> Table:
    """Trials that ended in an error, with the first line of each error."""
    t = res.trials
    if "status" not in t:
        return Table([], [])
    failed = t[t["status"].astype(str) == "ERROR"]
    rows = []
    for _, row in failed.head(k).iterrows():
        error = row.get("error")
        text = "" if error is None or (isinstance(error, float) and math.isnan(error)) else \
            str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        rows.append([str(row["trial_id"]), common.format_value(row.get("iterations")), text])
    note = f"{len(failed)} trial(s) ended in an error" + (
        f"; the first {k} are listed" if len(failed) > k else "")
    return Table(["trial", "iterations", "error"], rows, note if rows else "")


def retrain_command(res: Any) -> str:
    """How to train the best config again: best.json's ``retrain``, else retrain.yaml's run."""
    best_file = res.path / layout.BEST_JSON
    if res.status != "running" and best_file.exists():
        command = (layout.read_json_object(best_file) or {}).get("retrain")
        if command:
            return str(command)
    if (res.path / layout.RETRAIN_YAML).exists():
        return f"hpotk run {res.path / layout.RETRAIN_YAML}"
    if res.status == "running":
        return (f"(written when the experiment ends: hpotk run {res.path / layout.RETRAIN_YAML}; "
                f"`hpotk best {res.path}` shows the best trial so far)")
    if res.best() is None:
        return f"(no retrain.yaml in {res.path}: no trial reported {res.metric})"
    return (f"(no retrain.yaml in {res.path}: the run ended before writing its summary; "
            f"`hpotk best {res.path}` shows the best trial, and running the experiment again "
            f"resumes it and writes retrain.yaml)")


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
