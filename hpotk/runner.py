"""Experiment -> plan -> ``ray.tune.Tuner`` -> results directory.

`run` does three jobs, each in its own place: the results directory's state (start, resume,
show or refuse: `hpotk.state`), building the Tuner (`build_tuner`, from `hpotk.plan`'s plan),
and the summary (`hpotk.summary`: trials.csv, best.json, history.csv).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk import state as run_state
from hpotk.errors import HpotkError
from hpotk.experiment import Experiment
from hpotk.plan import (  # noqa: F401 - planning lives in hpotk.plan; these names stay here
    PLAN_TEXT,
    Plan,
    build_space,
    format_plan,
    make_plan,
)

STATE_FILE = run_state.STATE_FILE
read_state = run_state.read_state  # kept: tests and the CLI read a directory's state


# ---------------------------------------------------------------------------------------------
# Ray


def ensure_ray(address: str | None = None, verbose: int = 1) -> None:
    """Connect to ``address`` / ``RAY_ADDRESS``, or start an embedded local Ray.

    The embedded Ray uses every core of the machine, no dashboard, and a fresh token for Ray's
    token authentication held in this process's environment (nothing written to ``~/.ray``).
    ``verbose`` sets what Ray prints (`hpotk._output`); a Ray this process already started
    keeps its settings.
    """
    import ray

    if ray.is_initialized():
        return
    from hpotk._output import ray_init_options

    options = ray_init_options(verbose)
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **options)
        return
    if not os.environ.get("RAY_AUTH_TOKEN") and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, configure_logging=True,
             **options)


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class RunOutcome:
    status: str  # "complete" | "interrupted" | "failed" (fail_fast stopped it)
    results_dir: Path
    best: dict[str, Any] | None
    n_trials: int
    error: str = ""
    rows: list[dict[str, Any]] | None = None  # the trials table (trials.csv's rows)
    reason: str = ""  # why it failed
    bad_config: bool = False  # it failed because of the experiment file (a metric not reported)

    @property
    def trials(self) -> Any:
        """The trials table as a pandas DataFrame (one row a trial, as in trials.csv); for an
        experiment shown rather than run (``exist_ok``), read from its results directory."""
        import pandas as pd

        if self.rows is None:
            from hpotk import results

            return results.load(self.results_dir).trials
        return pd.DataFrame(self.rows)


def run(exp: Experiment, *, address: str | None = None, new: bool = False,
        exist_ok: bool = False, verbose: int = 1, plan: Plan | None = None) -> RunOutcome:
    """Run (or resume) an experiment and write its summary.

    Args:
        exp: the validated experiment.
        address: a Ray cluster to connect to (else ``RAY_ADDRESS``, else an embedded Ray).
        new: if ``results/<name>`` holds a complete experiment, run under ``<name>-<timestamp>``.
        exist_ok: if it holds a complete experiment, report it instead of refusing.
        verbose: 0 silent, 1 hpotk's progress line, 2 Ray's status tables too, 3 every result.
        plan: ``make_plan(exp)``, if the caller built it already.
    """
    decision = run_state.decide(exp, new=new, exist_ok=exist_ok)
    exp, results_dir = decision.exp, decision.exp.results_dir
    if decision.action == "show":
        best = layout.read_json_object(results_dir / layout.BEST_JSON)
        return RunOutcome("complete", results_dir, best, decision.state.get("n_trials", 0))
    if plan is None or plan.experiment.name != exp.name:
        plan = make_plan(exp)
    resume = decision.action == "resume"
    if plan.warm_start is not None and verbose and not resume:  # hpotk.warm_start, in one line
        print(f"[hpotk] {plan.warm_start.summary()}", flush=True)
    ensure_ray(address, verbose)
    import ray

    results_dir.mkdir(parents=True, exist_ok=True)
    stopper = make_stopper(exp)
    tuner = build_tuner(exp, plan, resume=resume, verbose=verbose, stopper=stopper)
    if not resume:
        layout.write_json(results_dir / layout.EXPERIMENT, exp.to_dict())
        layout.atomic_write(results_dir / layout.PLAN_TEXT, plan.text() + "\n")
    run_state.record_start(results_dir, exp, expected_trials=plan.expected_trials,
                           ray_nodes=len(ray.nodes()), params=plan.params(),
                           budget=exp.budget.model_dump())
    started = time.time()
    # hpotk checks the metrics itself (hpotk._stall.MetricCheck: one line naming the key)
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    try:
        from hpotk._output import ray_driver_logs

        with _tune_output(verbose), ray_driver_logs(verbose):
            result_grid = tuner.fit()
        elapsed = time.time() - started
        return _finish(exp, plan, result_grid, elapsed, stall=stopper.reason,
                       failure=stopper.failure)
    except Exception as exc:
        from hpotk.recovery import disk_full_error

        full = disk_full_error(exc, results_dir)  # ENOSPC / EDQUOT: one clear line, resumable
        if full is None:
            raise
        raise full from None


def _finish(exp: Experiment, plan: Plan, result_grid: Any, elapsed: float,
            stall: str | None = None, failure: str | None = None) -> RunOutcome:
    """Write the summary and the final state; what the run's outcome was."""
    from hpotk import summary

    results_dir = exp.results_dir
    rows = summary.summarise(exp, result_grid)
    out_of_time = exp.budget.time_s is not None and elapsed >= exp.budget.time_s * 0.98
    unfinished = any(r["status"] == "UNFINISHED" for r in rows)
    interrupted = (unfinished or len(rows) < plan.expected_trials) and not out_of_time
    best = summary.write_summary(exp, rows, results_dir)
    errored = [r for r in rows if r["status"] == "ERROR"]
    stopped = exp.fail_fast and bool(errored)
    # a bug in the trainable: recorded as failed, so a re-run after the fix is not "complete"
    all_errored = bool(rows) and len(errored) == len(rows) and not interrupted
    failed = stopped or all_errored or bool(stall) or bool(failure)
    status = "failed" if failed else "interrupted" if interrupted else "complete"
    error = errored[0]["error"] if errored else ""
    reason = ("it was stopped at a trial error (fail_fast)" if stopped else
              "every trial errored" if all_errored else "")
    if stall:
        reason, error = f"it stalled: {stall}", ""
    if failure:
        reason, error = failure, ""
    run_state.record_end(results_dir, status, n_trials=len(rows),
                         reason=(f"{reason}, the first with: {error}" if error else reason)
                         if failed else "")
    return RunOutcome(status, results_dir, best, len(rows), error, rows, reason,
                      bad_config=bool(failure))


def make_trainable(exp: Experiment, plan: Plan | None = None) -> Any:
    """The trainable with its TrainContext bound (if it takes one) and resources per trial."""
    from ray import tune

    from hpotk.trainables import for_tune, resolve
    from hpotk.trainables.base import TrainContext

    if isinstance(exp.trainable, dict):
        from hpotk.trainables.command import make_command_trainable

        cls = make_command_trainable(exp.trainable)
    else:
        cls = resolve(exp.trainable)
    context = TrainContext(
        data=dict(exp.data), seed=exp.seed, metric=exp.metric.name, mode=exp.metric.mode,
        eval_frequency=exp.eval_frequency.model_dump(), early_stop=exp.early_stop.enabled,
        window=exp.early_stop.window, task=dict(exp.task), lr_schedule=exp.lr_schedule,
    )
    trainable = for_tune(cls, context)
    resources = {"cpu": exp.resources.cpu, "gpu": exp.resources.gpu}
    return tune.with_resources(trainable, resources)


def make_stopper(exp: Experiment) -> Any:
    """Tune's stop rule: ``budget.max_t`` and ``budget.trial_time_s`` per trial, and the whole
    run when `hpotk._stall.StallWatch` finds it stalled."""
    from hpotk._stall import RunStopper

    return RunStopper(exp.budget.max_t, exp.budget.trial_time_s)


def build_tuner(exp: Experiment, plan: Plan, *, resume: bool = False, verbose: int = 1,
                stopper: Any = None) -> Any:
    """The configured ``ray.tune.Tuner``: a new one, or (``resume``) the one saved in the
    results directory, restored with its trials, searcher and scheduler state.

    ``stopper`` (`make_stopper`) is the run's stop rule; the runner reads its ``reason``."""
    from ray import tune

    from hpotk import _ray_fixes

    _ray_fixes.install()  # e.g. a trial the OOM killer stops must not end the experiment
    trainable = make_trainable(exp, plan)
    results_dir = exp.results_dir
    stopper = stopper if stopper is not None else make_stopper(exp)
    if not resume:
        return _new_tuner(exp, plan, trainable, verbose, stopper)
    from hpotk.recovery import repair_state

    for note in repair_state(results_dir):  # state files a kill cut short mid-write
        print(f"[hpotk] {note}", flush=True)
    if not tune.Tuner.can_restore(str(results_dir)):
        raise HpotkError(
            f"{results_dir} was started but Tune saved no state to resume from; remove it "
            f"or run with --new"
        )
    print(f"[hpotk] resuming interrupted experiment {exp.name!r} from {results_dir}", flush=True)
    from hpotk.recovery import keep_finished

    kept = keep_finished(results_dir)  # ended after Tune's last save (a killed driver)
    if kept:
        print(f"[hpotk] {len(kept)} trial(s) finished after Tune last saved its state; kept as "
              f"finished, not run again: {', '.join(kept)}", flush=True)
    from hpotk.recovery import repoint_search_state

    repoint_search_state(results_dir)  # a moved directory: trials still to come go here
    tuner = tune.Tuner.restore(str(results_dir), trainable=trainable, resume_unfinished=True,
                               resume_errored=False, restart_errored=False)
    if kept:
        from hpotk.recovery import complete_after_restore

        complete_after_restore(tuner._local_tuner._tune_config.search_alg, kept)
    # Tune restores the RunConfig it pickled; this run's callbacks and verbosity replace its own
    run_config = tuner._local_tuner.get_run_config()
    run_config.callbacks = _callbacks(exp, plan, verbose, stopper)
    run_config.stop = stopper
    run_config.verbose = _tune_verbosity(verbose)
    # Tune restores the pickled time budget in full; this run's budget.time_s replaces it (a
    # study resumes a run with what is left of its time)
    tuner._local_tuner._tune_config.time_budget_s = exp.budget.time_s
    return tuner


@contextlib.contextmanager
def _tune_output(verbose: int) -> Iterator[None]:
    """Below -v, Ray's console output is off altogether: its newer output engine prints the
    experiment's configuration table and paths even at verbosity 0, so the older one (silent
    at 0) is chosen for the fit (``RAY_AIR_NEW_OUTPUT=0``), unless the user set it."""
    if verbose >= 2 or "RAY_AIR_NEW_OUTPUT" in os.environ:
        yield
        return
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        os.environ.pop("RAY_AIR_NEW_OUTPUT", None)


def _tune_verbosity(verbose: int) -> int:
    """hpotk's -v levels -> Tune's: Ray's own tables only from -v (verbose 2) up."""
    return 0 if verbose <= 1 else min(verbose - 1, 3)


def _callbacks(exp: Experiment, plan: Plan, verbose: int, stopper: Any) -> list[Any]:
    from hpotk import _tune_callbacks as cb
    from hpotk._stall import MetricCheck, StallWatch

    results_dir = exp.results_dir
    from hpotk._tune_save import SaveOnTrialEvents

    callbacks = [cb.FinishedLog(str(results_dir / cb.FINISHED_LOG)),
                 cb.HistoryLog(str(results_dir / cb.HISTORY_LOG)),
                 SaveOnTrialEvents(str(results_dir))]  # a killed driver loses no trial
    callbacks.append(StallWatch(stopper, exp.budget.stall_s, verbose))
    callbacks.append(MetricCheck(stopper, _wanted_metrics(exp)))
    if verbose <= 1:  # Ray's own error lines are off below -v (hpotk._output)
        from hpotk._output import TrialErrors

        callbacks.append(TrialErrors())
    if exp.budget.trial_time_s:  # Tune alone never stops a trial that hangs without results
        from hpotk._watchdog import WATCHDOG_LOG, HangWatchdog

        callbacks.append(HangWatchdog(exp.budget.trial_time_s, str(results_dir / WATCHDOG_LOG)))
    # the nodes joining and leaving, and the status line (status.json even with --quiet:
    # `hpotk status` and `hpotk report --watch` read it)
    nodes = cb.NodeLog(str(results_dir / layout.NODES_LOG))
    callbacks.append(nodes)
    callbacks.append(cb.Progress(
        total=plan.expected_trials, metric=exp.metric.name, mode=exp.metric.mode,
        time_budget_s=exp.budget.time_s, state_path=str(results_dir / STATE_FILE),
        nodes=nodes, per_trial={"CPU": exp.resources.cpu, "GPU": exp.resources.gpu},
        status_path=str(results_dir / layout.STATUS_JSON), show=verbose >= 1))
    return callbacks


def _wanted_metrics(exp: Experiment) -> list[tuple[str, str]]:
    """(key path, metric) of every objective and constrained metric a result must hold."""
    objectives = exp.objectives
    wanted = [("metric.name" if len(objectives) == 1 else f"metric[{i}].name", m.name)
              for i, m in enumerate(objectives)]
    wanted += [(f"constraints[{i}].name", c.name) for i, c in enumerate(exp.constraints)]
    return wanted


def _new_tuner(exp: Experiment, plan: Plan, trainable: Any, verbose: int, stopper: Any) -> Any:
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter, Searcher

    from hpotk import trainables

    search_alg = plan.search.search_alg
    if isinstance(search_alg, Searcher):
        search_alg = ConcurrencyLimiter(search_alg, max_concurrent=plan.search_concurrency)
    checkpoint_every = exp.checkpoint.every
    if checkpoint_every == 0 and plan.scheduler_plan.checkpoint_every:
        checkpoint_every = plan.scheduler_plan.checkpoint_every
    if trainables.checkpoints_itself(exp.trainable):
        checkpoint_every = 0  # it checkpoints itself, through ray.tune.report(checkpoint=...)
    # several objectives: Tune's single metric stays unset; the searcher and the scheduler were
    # given every objective when they were built (plan), and Tune would overwrite that
    single = not exp.multi_objective
    tune_config = tune.TuneConfig(
        metric=exp.metric.name if single else None, mode=exp.metric.mode if single else None,
        search_alg=search_alg,
        scheduler=plan.scheduler_plan.scheduler, num_samples=plan.search.num_samples,
        time_budget_s=exp.budget.time_s,
        reuse_actors=trainables.reuses_actors(exp.trainable, exp.reuse_actors),
        trial_dirname_creator=_trial_dirname,
    )
    run_config = tune.RunConfig(
        name=exp.name,
        storage_path=str(exp.results_dir.parent),
        stop=stopper,
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=exp.checkpoint.keep, checkpoint_frequency=checkpoint_every,
            checkpoint_at_end=exp.checkpoint.at_end,
            checkpoint_score_attribute=exp.metric.name if exp.checkpoint.keep else None,
            checkpoint_score_order=exp.metric.mode,
        ),
        failure_config=tune.FailureConfig(max_failures=_max_failures(exp, verbose),
                                          fail_fast=exp.fail_fast),
        verbose=_tune_verbosity(verbose),
        callbacks=_callbacks(exp, plan, verbose, stopper),
    )
    return tune.Tuner(trainable, param_space=plan.search.param_space, tune_config=tune_config,
                      run_config=run_config)


#: retries a trial gets in an elastic Slurm run (at least), where worker jobs come and go
ELASTIC_RETRIES = 3


def _max_failures(exp: Experiment, verbose: int) -> int:
    """``max_failures``; in an elastic Slurm run (``HPOTK_ELASTIC=1``, the head job of
    ``hpotk submit --elastic``) at least `ELASTIC_RETRIES`. A worker job that leaves at its wall
    time drains its node first, and Tune retries the trials it had without counting a failure
    (Ray marks them preempted); a worker job that is cancelled or whose node fails gives no
    such notice, and its trials would otherwise end in ERROR."""
    if os.environ.get("HPOTK_ELASTIC") == "1" and exp.max_failures < ELASTIC_RETRIES:
        if verbose:
            print(f"[hpotk] elastic run: a trial whose node goes without notice is retried up "
                  f"to {ELASTIC_RETRIES} times (max_failures {exp.max_failures} raised)",
                  flush=True)
        return ELASTIC_RETRIES
    return exp.max_failures


def _trial_dirname(trial: Any) -> str:
    return f"{trial.trial_id}"
