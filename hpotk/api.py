"""hpotk from Python: what `hpotk run` does, one call at a time.

    import hpotk

    exp = hpotk.load("experiment.yaml", overrides=["budget.trials=8"])
    outcome = hpotk.run(exp)              # status, best trial, the trials table
    results = hpotk.results.load(outcome.results_dir)
    tuner = hpotk.tuner(exp)              # the configured ray.tune.Tuner, to drive Ray yourself

Each function validates as the CLI does and raises `hpotk.ConfigError` / `hpotk.HpotkError` with
the same messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpotk.experiment import Experiment


def load(experiment: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Experiment:
    """A validated experiment from a file (YAML/JSON, or a Neptune model-HPO-configuration.json)
    or from a mapping with the same keys.

    Args:
        experiment: the file's path, or the experiment as a dict (relative paths in a dict are
            taken from the current directory).
        overrides: ``"key.path=value"`` items, as ``--set`` takes them, applied in order.

    Raises:
        ConfigError: the first problem, naming the file, the key path and the fix.
    """
    from hpotk import experiment as experiment_module

    return experiment_module.load(experiment, list(overrides or []))


def _experiment(exp: Experiment | str | Path | dict[str, Any]) -> Experiment:
    return exp if isinstance(exp, Experiment) else load(exp)


def run(exp: Experiment | str | Path | dict[str, Any], *, address: str | None = None,
        new: bool = False, exist_ok: bool = False, verbose: int = 1) -> Any:
    """Run (or resume) an experiment, as `hpotk run` does, and write its results directory.

    Args:
        exp: a loaded `Experiment` (or what `load` takes).
        address: a Ray cluster (else ``RAY_ADDRESS``, else the Ray of this process, else an
            embedded one).
        new: if the experiment is complete (or failed) already, run it as ``<name>-<timestamp>``.
        exist_ok: if it is complete already, return its outcome instead of refusing.
        verbose: 0 silent, 1 hpotk's progress line, 2 Ray's tables too.

    Returns:
        A `hpotk.runner.RunOutcome`: ``status`` ("complete", "interrupted" or "failed"),
        ``results_dir``, ``best`` (best.json's content), ``error`` (the first trial error) and
        ``trials`` (the trials table, a pandas DataFrame).
    """
    from hpotk import runner

    return runner.run(_experiment(exp), address=address, new=new, exist_ok=exist_ok,
                      verbose=verbose)


def tuner(exp: Experiment | str | Path | dict[str, Any], *, address: str | None = None,
          verbose: int = 0) -> Any:
    """The ``ray.tune.Tuner`` `run` would fit: trainable (with resources and context), search
    algorithm, scheduler, stopping rule, checkpoints and hpotk's live logs, all configured.

    ``tuner.fit()`` returns Ray's ``ResultGrid``; hpotk writes no summary (trials.csv,
    best.json) for a Tuner driven this way: use `run` for that.
    """
    from hpotk import runner

    exp = _experiment(exp)
    plan = runner.make_plan(exp)
    runner.ensure_ray(address)
    return runner.build_tuner(exp, plan, verbose=verbose)
