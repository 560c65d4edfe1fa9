"""What a finished (or interrupted) run leaves for people: trials.csv, best.json, retrain.yaml
and history.csv, written from Tune's ResultGrid and hpotk's live logs."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk._plain import plain
from hpotk.experiment import Experiment

HISTORY_CSV = layout.HISTORY_CSV


def _bookkeeping() -> frozenset[str]:
    """Result keys Tune fills in itself (``ray.tune.result``): not metrics of the trainable."""
    from ray.tune import result as tune_result

    return frozenset(tune_result.AUTO_RESULT_KEYS) | frozenset(tune_result.DEBUG_METRICS) | {
        tune_result.DONE, tune_result.SHOULD_CHECKPOINT, tune_result.EXPERIMENT_TAG,
        tune_result.TRAINING_ITERATION, tune_result.TIME_THIS_ITER_S,
    }


def summarise(exp: Experiment, result_grid: Any) -> list[dict[str, Any]]:
    """One row per trial: config, final and best objective, iterations, time, status, node."""
    from ray.tune import result as tune_result

    from hpotk.recovery import finished_trials

    bookkeeping = _bookkeeping()
    metric, mode = exp.metric.name, exp.metric.mode
    trials = {t.trial_id: t for t in getattr(result_grid._experiment_analysis, "trials", [])}
    logged, nodes = _logged(exp.results_dir, metric)
    ended = finished_trials(exp.results_dir)  # hpotk's finished.jsonl
    hung = _WatchdogKills()  # watchdog.jsonl, read once per experiment directory
    rows = []
    for result in result_grid:
        last = result.metrics or {}
        trial_id = last.get(tune_result.TRIAL_ID) or _trial_id_from_path(result.path)
        trial = trials.get(trial_id)
        # every value the trial reported, from hpotk's own history log (the one the progress
        # line and hpotk.results see); Ray's per-trial dataframe only for runs without it
        history = result.metrics_dataframe
        values = logged.get(trial_id)
        from_log = values is not None
        if values is None:
            values = []
            if history is not None and metric in history:
                values = history[metric].tolist()
        reported = len(values)
        values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        best = (min(values) if mode == "min" else max(values)) if values else None
        iterations = int(last.get(tune_result.TRAINING_ITERATION, 0) or 0)
        seconds = float(last.get(tune_result.TIME_TOTAL_S, 0.0) or 0.0)
        status = _status(exp, trial, result, last, iterations, seconds,
                         ended.get(trial_id) == "TERMINATED")
        row = {"trial_id": trial_id, "status": status}
        row.update({f"config/{k}": v for k, v in (result.config or {}).items()})
        row[f"{metric}"] = last.get(metric)
        row[f"best_{metric}"] = best
        for key, value in last.items():
            if key not in bookkeeping and key != metric and isinstance(value, (int, float)):
                row.setdefault(key, value)
        row.update({
            "iterations": iterations, "time_s": round(seconds, 3),
            "node": nodes.get(trial_id) or last.get(tune_result.HOSTNAME) or "",
            "node_ip": last.get(tune_result.NODE_IP) or "",
            "error": _first_line(result.error), "path": result.path,
            "checkpoint": _checkpoint_path(result, metric, mode),
        })
        # Ray's dataframe is searched for a NaN only where hpotk's log shows one (or is missing)
        nan_possible = not from_log or len(values) < reported
        row.update(_faults(result, history if nan_possible else None, metric, status, hung))
        rows.append(row)
    rows.sort(key=lambda r: r["trial_id"])
    return rows


OOM_ERROR = "ray.exceptions.OutOfMemoryError"  # hpotk._ray_fixes keeps this name in error.txt


def _faults(result: Any, history: Any, metric: str, status: str,
            hung: _WatchdogKills | None = None) -> dict[str, Any]:
    """``retries`` (failures Tune retried under max_failures, from the trial's error.txt) and
    why (``retried_because``), and a ``note`` when the objective was NaN or infinite, or when
    hpotk's watchdog stopped the trial (``hung``: its kills, read once per directory)."""
    from hpotk.recovery import failures

    causes = failures(Path(result.path)) if result.path else []
    retried = causes[:-1] if status == "ERROR" else causes
    note = ""
    if history is not None and metric in history:
        for iteration, value in zip(history.get("training_iteration", history.index),
                                    history[metric], strict=True):
            if isinstance(value, (int, float)) and not math.isfinite(value):
                note = f"{metric} was {value} at iteration {iteration}"
                break
    if status == "ERROR" and causes and causes[-1].startswith(OOM_ERROR):
        note = ("killed by Ray's OOM killer: its node ran low on memory (give it fewer "
                "concurrent trials or more memory; Ray's threshold is RAY_memory_usage_threshold)")
    out = {"retries": len(retried), "retried_because": " || ".join(retried), "note": note}
    if result.path and status in ("ERROR", "UNFINISHED"):
        trial_dir = Path(result.path)
        why = (hung if hung is not None else _WatchdogKills()).get(trial_dir)
        if why is not None:
            out.update(status="TIMEOUT", note=why)  # hpotk._watchdog stopped it
    return out


class _WatchdogKills:
    """Why hpotk._watchdog killed a trial, from ``watchdog.jsonl`` in the trial's experiment
    directory: each file is read once, however many trials are asked about (it was read once
    per trial, O(trials x kills) a summary)."""

    def __init__(self) -> None:
        self._by_dir: dict[Path, dict[str, str]] = {}

    def get(self, trial_dir: Path) -> str | None:
        kills = self._by_dir.get(trial_dir.parent)
        if kills is None:
            kills = self._by_dir[trial_dir.parent] = _watchdog_kills(trial_dir.parent)
        return kills.get(trial_dir.name)


def _watchdog_kills(results_dir: Path) -> dict[str, str]:
    """trial id -> why hpotk._watchdog killed it (``watchdog.jsonl``; a line cut off by a kill
    is skipped)."""
    return {str(entry.get("trial_id")): str(entry.get("reason", ""))
            for entry in layout.iter_jsonl(results_dir / layout.WATCHDOG_LOG)}


def _logged(results_dir: Path, metric: str) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """From hpotk's history log ({} without one): trial id -> the objective values, and trial
    id -> the node of its last result (the Slurm node's name where it is known)."""
    from hpotk import results

    frame = results.read_history_log(results_dir)
    if frame is None or not len(frame):
        return {}, {}
    nodes = {}
    if "node" in frame:  # whole-column operations: a pandas call per trial took 5 s at 10,000
        last = frame.drop_duplicates("trial_id", keep="last")
        nodes = {str(k): str(v) for k, v in zip(last["trial_id"], last["node"], strict=True)
                 if str(v) not in ("", "None", "nan")}
    if metric not in frame:
        return {}, nodes
    values = frame.groupby("trial_id", sort=False)[metric].agg(list)
    return {str(k): v for k, v in values.items()}, nodes


def _status(exp: Experiment, trial: Any, result: Any, last: dict[str, Any], iterations: int,
            seconds: float, logged_end: bool = False) -> str:
    """COMPLETED, STOPPED (by the scheduler), EARLY_STOPPED (by the trainable), TIMEOUT, ERROR,
    or UNFINISHED (the experiment was interrupted while the trial was pending or running).

    Tune marks the last result of a trial it ends on a result with ``done=True``. A trial
    without it has not ended, unless Tune told the callbacks it ended (``logged_end``: its line
    in finished.jsonl): a scheduler stops a paused trial that way, without another result
    (synchronous hyperband stops the losers of a rung while they wait there). Trials that an
    interrupt or the time budget cuts off get no such line.
    """
    if result.error or (trial is not None and trial.status == "ERROR"):
        return "ERROR"
    if not last.get("done") and not logged_end:
        return "UNFINISHED"
    if exp.budget.trial_time_s and seconds >= exp.budget.trial_time_s:
        return "TIMEOUT"
    if iterations >= exp.budget.max_t or last.get("finished"):
        return "COMPLETED"
    if last.get("early_stopped"):
        return "EARLY_STOPPED"
    return "STOPPED"


def _first_line(error: Any) -> str:
    """The error's own message (from its exception line to the end), on one line, for the CSV."""
    if not error:
        return ""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    start = 0
    for i in range(len(lines) - 1, -1, -1):
        if re.match(r"^[\w.]*(Error|Exception|Failed|Interrupt)\b[^:]*:", lines[i]):
            start = i
            break
    text = " | ".join(lines[start:]) if lines else type(error).__name__
    return text[:500]


def _trial_id_from_path(path: str | None) -> str:
    return Path(path).name if path else ""


def _checkpoint_path(result: Any, metric: str, mode: str) -> str:
    """The trial's best checkpoint by the objective, else its latest, else ""."""
    best = None
    if getattr(result, "best_checkpoints", None):
        try:
            best = result.get_best_checkpoint(metric, mode)
        except (ValueError, KeyError, RuntimeError):
            best = None
    checkpoint = best or result.checkpoint
    return checkpoint.path if checkpoint is not None else ""


def write_summary(exp: Experiment, rows: list[dict[str, Any]],
                  results_dir: Path) -> dict[str, Any] | None:
    """Write trials.csv, history.csv and best.json (plus retrain.yaml); return best.json's
    content (None when no trial reported the objective)."""
    import pandas as pd

    from hpotk.results import mark_objectives

    objectives = [(m.name, m.mode) for m in exp.objectives]
    constraints = [c.model_dump(exclude_none=True) for c in exp.constraints]
    frame = mark_objectives(pd.DataFrame(rows), objectives, constraints)
    layout.write_csv(results_dir / layout.TRIALS_CSV, frame)  # whole or not at all: a kill
    # during the write leaves the previous summary
    write_history(results_dir)
    rows = frame.to_dict("records")
    metric, mode = exp.metric.name, exp.metric.mode
    key = f"best_{metric}"
    if exp.multi_objective:
        front = [r for r in rows if r.get("pareto")]
        if not front:
            return None
        best_row = choose(front, objectives)
    else:  # an infeasible trial is never the best
        scored = [r for r in rows if _number(r.get(key)) is not None
                  and r.get("feasible", True) is not False]
        if not scored:
            return None
        best_row = (min(scored, key=lambda r: r[key]) if mode == "min"
                    else max(scored, key=lambda r: r[key]))
    config = {k[len("config/"):]: v for k, v in best_row.items() if k.startswith("config/")}
    config = {k: plain(v) for k, v in config.items()}
    retrain = results_dir / layout.RETRAIN_YAML
    _write_retrain(exp, config, best_row, retrain)
    best = {
        "name": exp.name,
        "metric": metric,
        "mode": mode,
        "value": best_row[key],
        "final_value": best_row.get(metric),
        "trial_id": best_row["trial_id"],
        "iterations": best_row["iterations"],
        "config": config,
        "metrics": {k: plain(v) for k, v in best_row.items()
                    if not k.startswith("config/") and k not in (
                        "trial_id", "status", "path", "checkpoint", "error", "node", "node_ip")},
        "checkpoint": best_row.get("checkpoint") or None,
        "trial_dir": best_row.get("path"),
        "retrain": f"hpotk run {retrain}",
        "n_trials": len(rows),
    }
    if exp.constraints:
        best["constraints"] = [c.text() for c in exp.constraints]
        best["infeasible_trials"] = sum(1 for r in rows if r.get("feasible") is False)
    if exp.multi_objective:
        best.update(front_fields(rows, objectives, best_row, "the front's best " + metric))
        best["value"] = _number(best_row.get(metric))
    layout.write_json(results_dir / layout.BEST_JSON, best)
    return best


def front_fields(rows: list[dict[str, Any]], objectives: list[tuple[str, str]],
                 chosen: dict[str, Any], how: str) -> dict[str, Any]:
    """best.json's keys for several objectives: the objectives, the Pareto front (each
    trial's objective values, config, iterations, checkpoint) and which member was chosen for
    retrain.yaml and how."""
    front = [r for r in rows if r.get("pareto")]
    return {
        "objectives": [{"name": n, "mode": m} for n, m in objectives],
        "front": [{"trial_id": r["trial_id"],
                   "values": {n: _number(r.get(n)) for n, _ in objectives},
                   "config": {k[len("config/"):]: plain(v) for k, v in r.items()
                              if k.startswith("config/")},
                   "iterations": r.get("iterations"),
                   "checkpoint": r.get("checkpoint") or None}
                  for r in sorted(front, key=lambda r: str(r["trial_id"]))],
        "chosen": {"trial_id": chosen["trial_id"], "how": how},
    }


def parse_pick(text: str, objectives: list[tuple[str, str]]) -> dict[str, float]:
    """``"val_mae=1,epoch_s=0.2"`` -> weights; HpotkError naming a bad part."""
    from hpotk.errors import HpotkError

    names = [n for n, _ in objectives]
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise HpotkError(f"--pick {part!r}: expected OBJECTIVE=WEIGHT with an objective of "
                             f"this run ({', '.join(names)}), e.g. {names[0]}=1,{names[-1]}=0.5")
        try:
            weight = float(raw)
        except ValueError:
            raise HpotkError(f"--pick {part!r}: the weight {raw!r} is not a number") from None
        if not weight >= 0 or math.isinf(weight):
            raise HpotkError(f"--pick {part!r}: a weight must be a finite number >= 0")
        weights[name] = weight
    if not weights or not any(weights.values()):
        raise HpotkError(f"--pick {text!r}: give at least one positive weight, e.g. "
                         f"{names[0]}=1")
    return weights


def choose(front: list[dict[str, Any]], objectives: list[tuple[str, str]],
           weights: dict[str, float] | None = None) -> dict[str, Any]:
    """One trial of a Pareto front: with ``weights`` (objective -> weight >= 0) the largest
    weighted sum of each objective's goodness scaled to [0, 1] over the front (1 the front's
    best), so units do not matter; without, the best on the primary (first) objective. Ties go
    to the better primary value, then the smaller trial id."""
    weights = weights or {objectives[0][0]: 1.0}

    def value(row: dict[str, Any], name: str) -> float:
        number = _number(row.get(name))
        return math.nan if number is None else number

    goodness: dict[str, dict[str, float]] = {}
    for name, mode in objectives:
        column = [value(r, name) for r in front]
        finite = [v for v in column if math.isfinite(v)]
        low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
        span = high - low
        scaled = {}
        for row, v in zip(front, column, strict=True):
            g = 0.0 if not math.isfinite(v) else (1.0 if span == 0 else (v - low) / span)
            scaled[str(row["trial_id"])] = g if mode == "max" else (1.0 - g if span else g)
        goodness[name] = scaled
    primary = objectives[0][0]

    def score(row: dict[str, Any]) -> tuple:
        tid = str(row["trial_id"])
        total = sum(w * goodness[n][tid] for n, w in weights.items())
        return (-total, -goodness[primary][tid], tid)

    return min(front, key=score)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def write_history(results_dir: Path) -> Path | None:
    """history.csv from the live history log: one row per reported result (see
    `hpotk.results.read_history_log`), so no later reader parses Ray's trial directories."""
    from hpotk import results

    frame = results.read_history_log(results_dir)
    if frame is None:
        return None
    path = results_dir / HISTORY_CSV
    layout.write_csv(path, frame)
    return path


def _write_retrain(exp: Experiment, config: dict[str, Any], best_row: dict[str, Any],
                   path: Path) -> None:
    """An experiment file that trains the best config once (fixed space, one trial)."""
    import yaml

    doc = exp.to_dict()
    doc["name"] = f"{exp.name}-best"
    doc["space"] = config
    doc["strategy"] = "fifo/random"
    doc["budget"] = {**doc["budget"], "trials": 1, "concurrent": 1,
                     "max_t": max(int(best_row["iterations"]), 1), "time_s": None}
    from hpotk.trainables import checkpoints_itself

    doc["checkpoint"] = {"every": 0, "at_end": not checkpoints_itself(exp.trainable), "keep": 1}
    doc["results"] = str(exp.results_dir.parent)
    header = f"# Retrain the best trial of {exp.name!r} ({best_row['trial_id']}).\n"
    if exp.strategy.scheduler.name == "pbt":  # the lr it followed, as a fitted lr_schedule
        from hpotk.pbt.retrain import fit_for_retrain

        try:
            header += fit_for_retrain(exp, best_row, doc)
        except Exception as exc:  # a failed fit must not cost the run its summary
            header += f"# (no lr schedule fitted to its PBT lineage: {exc})\n"
    layout.atomic_write(path, header + yaml.safe_dump(doc, sort_keys=False))


def read_json(path: Path) -> dict[str, Any] | None:
    return layout.read_json_object(path)


def repick(results_dir: Path, *, pick: str | None = None, trial: str | None = None
           ) -> dict[str, Any]:
    """Choose another trial for retrain.yaml (``hpotk best --pick`` / ``--trial``): by weights
    over the Pareto front (`choose`), or a named trial; rewrite retrain.yaml and best.json's
    chosen trial. HpotkError for a bad pick, an unknown trial or a run without a summary."""
    from hpotk import results
    from hpotk.errors import HpotkError
    from hpotk.experiment import load

    res = results.load(results_dir)
    best = read_json(results_dir / layout.BEST_JSON)
    if best is None:
        raise HpotkError(f"{results_dir} has no {layout.BEST_JSON} yet: --pick and --trial "
                         f"choose among a finished run's trials")
    exp = load(res.meta["experiment"])
    exp.source = str(results_dir / layout.EXPERIMENT)
    objectives = [(m.name, m.mode) for m in exp.objectives]
    rows = res.trials.to_dict("records")
    if trial is not None:
        found = [r for r in rows if str(r["trial_id"]) == str(trial)]
        if not found:
            raise HpotkError(f"--trial {trial!r}: no such trial in {results_dir} (trials.csv "
                             f"lists {len(rows)}, e.g. {rows[0]['trial_id'] if rows else '-'})")
        chosen, how = found[0], f"--trial {trial}"
        if found[0].get("feasible") is False:
            how += f" (infeasible: {found[0].get('violates')})"
        elif exp.multi_objective and not found[0].get("pareto"):
            how += " (not on the Pareto front)"
    else:
        if not exp.multi_objective:
            raise HpotkError("--pick weighs several objectives; this run has one "
                             f"({exp.metric.name}): its best is already in best.json")
        front = [r for r in rows if r.get("pareto")]
        if not front:
            raise HpotkError(f"{results_dir}: no trial is on the Pareto front (none reported "
                             f"every objective while feasible)")
        weights = parse_pick(pick or "", objectives)
        chosen = choose(front, objectives, weights)
        how = "--pick " + ",".join(f"{k}={v:g}" for k, v in weights.items())
    config = {k[len("config/"):]: plain(v) for k, v in chosen.items() if k.startswith("config/")}
    config = {k: v for k, v in config.items() if not (isinstance(v, float) and math.isnan(v))}
    retrain = results_dir / layout.RETRAIN_YAML
    chosen = {**chosen, "iterations": int(_number(chosen.get("iterations")) or 1)}
    _write_retrain(exp, config, chosen, retrain)
    best.update({
        "trial_id": chosen["trial_id"], "config": config, "iterations": chosen["iterations"],
        "value": _number(chosen.get(exp.metric.name)),
        "checkpoint": chosen.get("checkpoint") or None, "trial_dir": chosen.get("path"),
        "chosen": {"trial_id": chosen["trial_id"], "how": how},
    })
    layout.write_json(results_dir / layout.BEST_JSON, best)
    return best
