"""Experiment -> ``ray.tune.Tuner`` -> results directory (resumable), trials.csv and best.json."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpotk.errors import HpotkError
from hpotk.experiment import Experiment

STATE_FILE = "hpotk.json"


@dataclass
class Plan:
    """Everything resolved from an experiment before anything runs (what `hpotk plan` shows)."""

    experiment: Experiment
    space: Any  # hpotk.space.param.Space
    search: Any  # hpotk.searchers.SearchPlan
    scheduler_info: dict[str, Any]
    expected_trials: int

    def describe(self) -> dict[str, Any]:
        exp = self.experiment
        info = self.space.describe()
        return {
            "name": exp.name,
            "trainable": exp.trainable if isinstance(exp.trainable, str) else "command",
            "metric": exp.metric.model_dump(),
            "strategy": exp.strategy.label,
            "tuned": info["tuned"],
            "fixed": info["fixed"],
            "notes": info["notes"] + list(self.search.notes),
            "scheduler": self.scheduler_info,
            "budget": exp.budget.model_dump(),
            "expected_trials": self.expected_trials,
            "resources_per_trial": exp.resources.model_dump(),
            "results_dir": str(exp.results_dir),
        }


def build_space(exp: Experiment) -> Any:
    from hpotk import space as space_module

    nodes, edges = _graph_size(exp)
    return space_module.build(exp.space, trials=exp.budget.trials, base_dir=exp.base_dir,
                              graph_nodes=nodes, graph_edges=edges, path="space")


def _graph_size(exp: Experiment) -> tuple[float | None, float | None]:
    """Nodes and edges of the experiment's graph (for node_/edge_strategy), if it has one."""
    data = exp.data
    if "nodes" in data or "edges" in data:
        return data.get("nodes"), data.get("edges")
    try:
        from hpotk.data import graph_size
    except ImportError:
        return None, None
    try:
        return graph_size(data)
    except (KeyError, ValueError, NotImplementedError):
        return None, None


def make_plan(exp: Experiment) -> Plan:
    """Resolve space, searcher and scheduler; errors name the experiment file they came from."""
    from hpotk.errors import ConfigError

    try:
        return _make_plan(exp)
    except ConfigError as exc:
        if exc.source is None and exp.source:
            raise ConfigError(exc.path, exc.message, exp.source) from None
        raise


def _make_plan(exp: Experiment) -> Plan:
    from hpotk import schedulers, searchers

    if isinstance(exp.trainable, str):
        from hpotk.trainables import resolve

        resolve(exp.trainable)  # an unknown name fails here, before anything starts
    space = build_space(exp)
    search_ctx = searchers.SearchContext(
        space=space, metric=exp.metric.name, mode=exp.metric.mode, seed=exp.seed,
        trials=exp.budget.trials, concurrent=exp.budget.concurrent,
    )
    search = searchers.make(exp.strategy.searcher.name, search_ctx, exp.strategy.searcher.options)
    sched_ctx = _schedule_context(exp, space)
    scheduler = schedulers.make(exp.strategy.scheduler.name, sched_ctx,
                                exp.strategy.scheduler.options)
    _check_checkpointing(exp, scheduler)
    info = schedulers.describe(exp.strategy.scheduler.name, sched_ctx,
                               exp.strategy.scheduler.options)
    expected = search.num_samples * _grid_size(search.param_space)
    return Plan(exp, space, search, info, expected)


def needs_checkpoints(scheduler: Any) -> bool:
    """True for schedulers that pause or clone trials (PBT, synchronous HyperBand)."""
    from ray.tune.schedulers import HyperBandScheduler, PopulationBasedTraining

    return bool(getattr(scheduler, "hpotk_requires_checkpoints", False)) or isinstance(
        scheduler, (HyperBandScheduler, PopulationBasedTraining))


def _check_checkpointing(exp: Experiment, scheduler: Any) -> None:
    """A command trainable checkpoints only if its script can: refuse what needs it otherwise."""
    if not isinstance(exp.trainable, dict):
        return
    from hpotk.trainables.command import refuse_without_checkpoints

    if needs_checkpoints(scheduler):
        refuse_without_checkpoints(exp.trainable, f"strategy.scheduler {exp.strategy.scheduler.name}")
    elif exp.checkpoint.every or exp.checkpoint.at_end:
        refuse_without_checkpoints(exp.trainable, "checkpoint.every / checkpoint.at_end")


def _schedule_context(exp: Experiment, space: Any) -> Any:
    from hpotk import schedulers

    return schedulers.ScheduleContext(
        space=space, metric=exp.metric.name, mode=exp.metric.mode, max_t=exp.budget.max_t,
        trials=exp.budget.trials, seed=exp.seed, searcher=exp.strategy.searcher.name,
    )


def _grid_size(param_space: dict[str, Any]) -> int:
    size = 1
    for value in param_space.values():
        if isinstance(value, dict) and set(value) == {"grid_search"}:
            size *= len(value["grid_search"])
    return size


# ---------------------------------------------------------------------------------------------
# Ray


def ensure_ray(address: str | None = None) -> None:
    """Connect to ``address`` / ``RAY_ADDRESS``, or start an embedded local Ray.

    The embedded Ray uses every core of the machine, no dashboard, and a fresh token for Ray's
    token authentication held in this process's environment (nothing written to ``~/.ray``).
    """
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
        return
    if not os.environ.get("RAY_AUTH_TOKEN") and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=True,
             configure_logging=True, logging_level="WARNING")


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class RunOutcome:
    status: str  # "complete" | "interrupted" | "failed" (fail_fast stopped it)
    results_dir: Path
    best: dict[str, Any] | None
    n_trials: int
    error: str = ""


def read_state(results_dir: Path) -> dict[str, Any] | None:
    path = results_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _write_state(results_dir: Path, **fields: Any) -> None:
    state = read_state(results_dir) or {}
    state.update(fields)
    results_dir.mkdir(parents=True, exist_ok=True)
    tmp = results_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    tmp.replace(results_dir / STATE_FILE)


def run(exp: Experiment, *, address: str | None = None, new: bool = False,
        exist_ok: bool = False, verbose: int = 1) -> RunOutcome:
    """Run (or resume) an experiment and write its summary.

    Args:
        exp: the validated experiment.
        address: a Ray cluster to connect to (else ``RAY_ADDRESS``, else an embedded Ray).
        new: if ``results/<name>`` holds a complete experiment, run under ``<name>-<timestamp>``.
        exist_ok: if it holds a complete experiment, report it instead of refusing.
        verbose: Tune's verbosity (0 silent, 1 status tables, 2 every result).
    """
    results_dir = exp.results_dir
    state = read_state(results_dir)
    resume = False
    if results_dir.exists() and any(results_dir.iterdir()):
        if state is None:
            raise HpotkError(
                f"{results_dir} exists but holds no hpotk experiment; choose another name "
                f"(--set name=...) or results directory (--set results=...)"
            )
        if state.get("status") == "failed" and not new:
            raise HpotkError(
                f"experiment {exp.name!r} in {results_dir} was stopped by fail_fast at a trial "
                f"error (see its trials.csv); after fixing the cause, run it again under a new "
                f"name with --new"
            )
        if state.get("status") in ("complete", "failed"):
            if new:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                exp = exp.model_copy(update={"name": f"{exp.name}-{stamp}"})
                return run(exp, address=address, verbose=verbose)
            if exist_ok:
                best = _read_json(results_dir / "best.json")
                return RunOutcome("complete", results_dir, best, state.get("n_trials", 0))
            raise HpotkError(
                f"experiment {exp.name!r} is already complete in {results_dir}; see it with "
                f"`hpotk best {results_dir}`, or run it again under a new name with --new"
            )
        resume = True

    plan = make_plan(exp)
    trainable = make_trainable(exp, plan)
    ensure_ray(address)
    import ray
    from ray import tune

    results_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        if not tune.Tuner.can_restore(str(results_dir)):
            raise HpotkError(
                f"{results_dir} was started but Tune saved no state to resume from; remove it "
                f"or run with --new"
            )
        print(f"[hpotk] resuming interrupted experiment {exp.name!r} from {results_dir}",
              flush=True)
        tuner = tune.Tuner.restore(str(results_dir), trainable=trainable,
                                   resume_unfinished=True, resume_errored=False,
                                   restart_errored=False)
    else:
        tuner = _make_tuner(exp, plan, trainable)
        (results_dir / "experiment.json").write_text(json.dumps(exp.to_dict(), indent=2))
    _write_state(results_dir, status="running", name=exp.name, source=exp.source,
                 started=time.time(), expected_trials=plan.expected_trials,
                 ray_nodes=len(ray.nodes()))
    started = time.time()
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "0")
    result_grid = tuner.fit()
    elapsed = time.time() - started
    rows = summarise(exp, result_grid)
    out_of_time = exp.budget.time_s is not None and elapsed >= exp.budget.time_s * 0.98
    unfinished = any(r["status"] == "UNFINISHED" for r in rows)
    interrupted = (unfinished or len(rows) < plan.expected_trials) and not out_of_time
    best = write_summary(exp, rows, results_dir)
    failed = exp.fail_fast and any(r["status"] == "ERROR" for r in rows)
    status = "failed" if failed else "interrupted" if interrupted else "complete"
    _write_state(results_dir, status=status, finished=time.time(), n_trials=len(rows))
    error = next((r["error"] for r in rows if r["status"] == "ERROR"), "")
    return RunOutcome(status, results_dir, best, len(rows), error)


def make_trainable(exp: Experiment, plan: Plan) -> Any:
    """The Trainable class with its TrainContext bound and resources per trial."""
    from ray import tune

    from hpotk.trainables import resolve
    from hpotk.trainables.base import TrainContext

    if isinstance(exp.trainable, dict):
        from hpotk.trainables.command import make_command_trainable

        cls = make_command_trainable(exp.trainable)
    else:
        cls = resolve(exp.trainable)
    context = TrainContext(
        data=dict(exp.data), seed=exp.seed, metric=exp.metric.name, mode=exp.metric.mode,
        eval_frequency=exp.eval_frequency.model_dump(), early_stop=exp.early_stop.enabled,
        window=exp.early_stop.window, task=dict(exp.task),
    )
    trainable = tune.with_parameters(cls, context=context)
    resources = {"cpu": exp.resources.cpu, "gpu": exp.resources.gpu}
    return tune.with_resources(trainable, resources)


def _make_tuner(exp: Experiment, plan: Plan, trainable: Any) -> Any:
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter, Searcher

    from hpotk import schedulers

    search_alg = plan.search.search_alg
    if isinstance(search_alg, Searcher):
        search_alg = ConcurrencyLimiter(search_alg, max_concurrent=exp.budget.concurrent)
    scheduler = schedulers.make(exp.strategy.scheduler.name, _schedule_context(exp, plan.space),
                                exp.strategy.scheduler.options)
    checkpoint_every = exp.checkpoint.every
    if checkpoint_every == 0 and getattr(scheduler, "hpotk_requires_checkpoints", False):
        checkpoint_every = int(getattr(scheduler, "hpotk_checkpoint_every", 1))
    stop: dict[str, float] = {"training_iteration": exp.budget.max_t}
    if exp.budget.trial_time_s:
        stop["time_total_s"] = exp.budget.trial_time_s
    tune_config = tune.TuneConfig(
        metric=exp.metric.name, mode=exp.metric.mode, search_alg=search_alg,
        scheduler=scheduler, num_samples=plan.search.num_samples,
        max_concurrent_trials=exp.budget.concurrent, time_budget_s=exp.budget.time_s,
        reuse_actors=exp.reuse_actors, trial_dirname_creator=_trial_dirname,
    )
    run_config = tune.RunConfig(
        name=exp.name,
        storage_path=str(exp.results_dir.parent),
        stop=stop,
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=exp.checkpoint.keep, checkpoint_frequency=checkpoint_every,
            checkpoint_at_end=exp.checkpoint.at_end,
            checkpoint_score_attribute=exp.metric.name if exp.checkpoint.keep else None,
            checkpoint_score_order=exp.metric.mode,
        ),
        failure_config=tune.FailureConfig(max_failures=exp.max_failures,
                                          fail_fast=exp.fail_fast),
        verbose=1,
        callbacks=[_finished_log_callback(exp.results_dir)],
    )
    return tune.Tuner(trainable, param_space=plan.search.param_space, tune_config=tune_config,
                      run_config=run_config)


def _trial_dirname(trial: Any) -> str:
    return f"{trial.trial_id}"


def _finished_log_callback(results_dir: Path) -> Any:
    from hpotk._tune_callbacks import FINISHED_LOG, FinishedLog

    return FinishedLog(str(results_dir / FINISHED_LOG))


# ---------------------------------------------------------------------------------------------
# Summary

_BOOKKEEPING = {
    "time_this_iter_s", "done", "training_iteration", "trial_id", "date", "timestamp",
    "time_total_s", "pid", "hostname", "node_ip", "time_since_restore",
    "iterations_since_restore", "checkpoint_dir_name", "should_checkpoint", "config",
    "experiment_tag",
}


def summarise(exp: Experiment, result_grid: Any) -> list[dict[str, Any]]:
    """One row per trial: config, final and best objective, iterations, time, status, node."""
    import math

    metric, mode = exp.metric.name, exp.metric.mode
    trials = {t.trial_id: t for t in getattr(result_grid._experiment_analysis, "trials", [])}
    rows = []
    for result in result_grid:
        last = result.metrics or {}
        trial_id = last.get("trial_id") or _trial_id_from_path(result.path)
        trial = trials.get(trial_id)
        history = result.metrics_dataframe
        values = []
        if history is not None and metric in history:
            values = [v for v in history[metric].tolist()
                      if isinstance(v, (int, float)) and math.isfinite(v)]
        best = (min(values) if mode == "min" else max(values)) if values else None
        iterations = int(last.get("training_iteration", 0) or 0)
        seconds = float(last.get("time_total_s", 0.0) or 0.0)
        status = _status(exp, trial, result, last, iterations, seconds)
        row = {"trial_id": trial_id, "status": status}
        row.update({f"config/{k}": v for k, v in (result.config or {}).items()})
        row[f"{metric}"] = last.get(metric)
        row[f"best_{metric}"] = best
        for key, value in last.items():
            if key not in _BOOKKEEPING and key != metric and isinstance(value, (int, float)):
                row.setdefault(key, value)
        row.update({
            "iterations": iterations, "time_s": round(seconds, 3),
            "node": last.get("hostname") or "", "node_ip": last.get("node_ip") or "",
            "error": _first_line(result.error), "path": result.path,
            "checkpoint": _checkpoint_path(result, metric, mode),
        })
        rows.append(row)
    rows.sort(key=lambda r: r["trial_id"])
    return rows


def _status(exp: Experiment, trial: Any, result: Any, last: dict[str, Any], iterations: int,
            seconds: float) -> str:
    """COMPLETED, STOPPED (by the scheduler), EARLY_STOPPED (by the trainable), TIMEOUT, ERROR,
    or UNFINISHED (the experiment was interrupted while the trial was pending or running).

    Tune marks the last result of every trial that ended with ``done=True``; a trial without it
    has not ended.
    """
    if result.error or (trial is not None and trial.status == "ERROR"):
        return "ERROR"
    if not last.get("done"):
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
    import re

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
    """Write trials.csv and best.json (plus retrain.yaml); return best.json's content."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame.to_csv(results_dir / "trials.csv", index=False)
    metric, mode = exp.metric.name, exp.metric.mode
    scored = [r for r in rows if r.get(f"best_{metric}") is not None]
    if not scored:
        return None
    key = f"best_{metric}"
    best_row = min(scored, key=lambda r: r[key]) if mode == "min" else max(scored,
                                                                             key=lambda r: r[key])
    config = {k[len("config/"):]: v for k, v in best_row.items() if k.startswith("config/")}
    config = {k: _plain(v) for k, v in config.items()}
    retrain = results_dir / "retrain.yaml"
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
        "metrics": {k: _plain(v) for k, v in best_row.items()
                    if not k.startswith("config/") and k not in (
                        "trial_id", "status", "path", "checkpoint", "error", "node", "node_ip")},
        "checkpoint": best_row.get("checkpoint") or None,
        "trial_dir": best_row.get("path"),
        "retrain": f"hpotk run {retrain}",
        "n_trials": len(rows),
    }
    (results_dir / "best.json").write_text(json.dumps(best, indent=2, default=str))
    return best


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, for JSON and YAML."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value


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
    doc["checkpoint"] = {"every": 0, "at_end": True, "keep": 1}
    doc["results"] = str(exp.results_dir.parent)
    header = f"# Retrain the best trial of {exp.name!r} ({best_row['trial_id']}).\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
