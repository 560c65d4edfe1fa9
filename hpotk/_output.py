"""What a person sees while an experiment runs (imports Ray: import this lazily).

hpotk's verbosity levels (``--quiet``, default, ``-v``, ``-vv``):

- ``0`` (``--quiet``): errors and the final summary only. Worker output is not forwarded to the
  driver (it stays in Ray's log files and each trial's ``stdout``/``stderr``), Ray's own driver
  loggers say nothing below CRITICAL, hpotk's progress line is off; a trial error is one line
  on stderr.
- ``1`` (default): hpotk's progress line and hpotk's own messages, plus what the user's code
  prints. Ray's INFO lines, in the workers (``Checkpoint successfully created at: ...``,
  ``Restored on ... from checkpoint``) and in the driver, are off, and so are Ray Tune's
  driver warnings (state-snapshot advice, ``Trials did not complete``, Python warnings such as
  "Consider boosting PBT performance"): hpotk says what matters
  of them in its own words (the outcome, the trials that failed, a stall).
- ``2`` (``-v``): everything Ray says as well, with Ray's status tables.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import ray
from ray.tune import Callback

# the driver-side loggers of the Ray libraries hpotk runs on
RAY_LIBRARY_LOGGERS = ("ray.tune", "ray.train", "ray.air")


def ray_init_options(verbose: int) -> dict[str, Any]:
    """``ray.init`` keyword arguments for this verbosity: whether workers' output reaches the
    terminal, and the level of Ray's loggers in the driver and (``LoggingConfig``) the
    workers."""
    level = "INFO" if verbose >= 2 else "WARNING"
    if verbose <= 1:  # "Token authentication is enabled": hpotk turned it on, on purpose
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR)
    return {"log_to_driver": verbose >= 1,
            "logging_level": level if verbose >= 2 else "ERROR",
            "logging_config": ray.LoggingConfig(encoding="TEXT", log_level=level)}


@contextlib.contextmanager
def ray_driver_logs(verbose: int) -> Iterator[None]:
    """Below ``-v``, Ray's library loggers in the driver stay silent for the run."""
    if verbose >= 2:
        yield
        return
    threshold = logging.CRITICAL if verbose == 0 else logging.ERROR + 1
    loggers = [logging.getLogger(name) for name in RAY_LIBRARY_LOGGERS]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(threshold)
    try:
        with warnings.catch_warnings():  # e.g. "Consider boosting PBT performance by ..."
            warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.")
            yield
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.setLevel(level)


class TrialErrors(Callback):
    """Prints one line on stderr for each trial that fails (Ray's own lines are off)."""

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"[hpotk] trial {trial.trial_id} failed: {first_error_line(trial)} "
              f"(error.txt in its directory has the traceback)", file=sys.stderr, flush=True)


def first_error_line(trial: Any) -> str:
    """The last line of a trial's error file that says what went wrong (the exception)."""
    path = getattr(trial, "error_file", None)
    try:
        with open(path, errors="replace") as f:  # type: ignore[arg-type]
            lines = [ln.strip() for ln in f if ln.strip()]
    except (OSError, TypeError):
        return "see its error.txt"
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "Failure #")) and ":" in line:
            return line[:300]
    return lines[-1][:300] if lines else "see its error.txt"
