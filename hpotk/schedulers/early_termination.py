"""What Azure ML's early-termination policies share: when a policy is applied, and
each trial's history of the primary metric. `median`, `bandit` and `truncation` subclass it.

An *interval* is one report of the primary metric: the value of ``time_attr``
(``training_iteration``) in the result. A policy is applied at interval ``t`` when
``t % evaluation_interval == 0`` and ``t >= delay_evaluation`` (Azure ML: "every multiple of
evaluation_interval that is greater than or equal to delay_evaluation"). Azure's unspecified
``evaluation_interval`` is 0; hpotk reads 0 as 1 (apply at every interval), like Azure's
examples.

Ray calls ``on_trial_result`` whenever a trial reports, so a decision about trial ``i`` at interval
``t`` is made when ``i`` reports ``t``, against the trials that have reached ``t`` by then (running
or ended). Scores are kept mode-adjusted (higher is better). A NaN or infinite metric is never a
reference for others; a trial's own non-finite value counts as worse than every finite one.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from ray.tune.result import DEFAULT_METRIC
from ray.tune.schedulers.trial_scheduler import FIFOScheduler, TrialScheduler

from hpotk.errors import ConfigError
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers._saved import SavesItsAttributes

INTERVAL_OPTIONS = {"evaluation_interval": int, "delay_evaluation": int}
WORST = -math.inf


def interval_settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, int]:
    """``evaluation_interval`` (>= 0, 0 means 1) and ``delay_evaluation`` (>= 0), checked."""
    interval = options.get("evaluation_interval")
    delay = options.get("delay_evaluation")
    interval = 1 if interval is None else interval
    delay = 0 if delay is None else delay
    if interval < 0:
        raise ConfigError(f"{ctx.path}.evaluation_interval",
                          f"must be >= 0 (0 or 1: apply at every interval), got {interval}")
    if delay < 0:
        raise ConfigError(f"{ctx.path}.delay_evaluation", f"must be >= 0, got {delay}")
    return {"evaluation_interval": max(interval, 1), "delay_evaluation": delay}


def when(s: dict[str, int]) -> str:
    """Plain words for the evaluation points, for `hpotk plan`."""
    every = s["evaluation_interval"]
    step = "every interval" if every == 1 else f"every {every}th interval"
    return f"at {step} from interval {max(s['delay_evaluation'], 1)} on"


class Curve:
    """One trial's primary metric by interval, with running sums so lookups cost O(log n).

    Scores are mode-adjusted (higher is better); ``None`` marks a non-finite value. A report at an
    interval not after the last one (a trial restored from an older checkpoint) rewrites the
    history from there.
    """

    def __init__(self) -> None:
        self.times: list[float] = []
        self.scores: list[float | None] = []
        self.sums: list[float] = []  # sum of finite scores up to each entry
        self.counts: list[int] = []  # number of finite scores up to each entry
        self.bests: list[float] = []  # best finite score up to each entry (WORST if none)

    def add(self, t: float, score: float | None) -> None:
        while self.times and self.times[-1] >= t:
            for column in (self.times, self.scores, self.sums, self.counts, self.bests):
                column.pop()
        finite = score is not None
        self.times.append(t)
        self.scores.append(score)
        self.sums.append((self.sums[-1] if self.sums else 0.0) + (score if finite else 0.0))
        self.counts.append((self.counts[-1] if self.counts else 0) + finite)
        self.bests.append(max(self.bests[-1] if self.bests else WORST,
                              score if finite else WORST))

    @property
    def reached(self) -> float:
        return self.times[-1] if self.times else -math.inf

    def _upto(self, t: float) -> int:
        return bisect.bisect_right(self.times, t) - 1

    def mean_upto(self, t: float) -> float | None:
        """Running average of the finite scores at intervals <= t; None if there are none."""
        i = self._upto(t)
        return self.sums[i] / self.counts[i] if i >= 0 and self.counts[i] else None

    def best_upto(self, t: float) -> float:
        i = self._upto(t)
        return self.bests[i] if i >= 0 else WORST

    def at(self, t: float) -> float:
        """The score of the last report at or before t (WORST if none or non-finite)."""
        i = self._upto(t)
        score = self.scores[i] if i >= 0 else None
        return WORST if score is None else score


class IntervalPolicy(SavesItsAttributes, FIFOScheduler):
    """Base of the Azure policies: bookkeeping and the schedule; subclasses decide.

    Args:
        evaluation_interval: apply the policy at every multiple of this many intervals.
        delay_evaluation: never apply it before this interval.
        time_attr: result key counting intervals.
        metric, mode: normally set later by Ray's ``set_search_properties`` from the TuneConfig.
    """

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0,
                 time_attr: str = "training_iteration", metric: str | None = None,
                 mode: str | None = None):
        super().__init__()
        self.evaluation_interval = max(int(evaluation_interval), 1)
        self.delay_evaluation = int(delay_evaluation)
        self.time_attr = time_attr
        self._metric = metric
        self._mode = mode
        self.history: dict[str, Curve] = {}  # trial_id -> its metric by interval
        self.ended: set[str] = set()  # completed, stopped, errored or removed
        self.stopped: set[str] = set()  # stopped by this policy

    # --- Ray's protocol ---------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        if mode and mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        if self._metric is None and self._mode:
            self._metric = DEFAULT_METRIC
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        if not self._metric or self._mode not in ("min", "max"):
            raise ValueError(f"{type(self).__name__} needs a metric and a mode ('min' or 'max'): "
                             f"pass them to tune.TuneConfig (got {self._metric!r}, {self._mode!r})")
        self.history.setdefault(trial.trial_id, Curve())

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if not self._record(trial.trial_id, result):
            return TrialScheduler.CONTINUE
        t = result[self.time_attr]
        if t % self.evaluation_interval != 0 or t < self.delay_evaluation:
            return TrialScheduler.CONTINUE
        if self.should_stop(trial.trial_id, t):
            self.stopped.add(trial.trial_id)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        if result:
            self._record(trial.trial_id, result)
        self.ended.add(trial.trial_id)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self.ended.add(trial.trial_id)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self.ended.add(trial.trial_id)

    def debug_string(self) -> str:
        return f"Using {type(self).__name__}: {len(self.stopped)} trials stopped."

    # --- what subclasses use ----------------------------------------------------------------

    def should_stop(self, trial_id: str, t: float) -> bool:
        raise NotImplementedError

    def reached(self, t: float) -> list[str]:
        """Trials (any state) that have reported interval ``t`` or later."""
        return [tid for tid, curve in self.history.items() if curve.reached >= t]

    def raw(self, score: float) -> float:
        """A mode-adjusted score back as the metric's value."""
        return score if self._mode == "max" else -score

    def _record(self, trial_id: str, result: dict) -> bool:
        if self.time_attr not in result or self._metric not in result:
            return False
        t, value = result[self.time_attr], result[self._metric]
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = math.nan
        score = (value if self._mode == "max" else -value) if math.isfinite(value) else None
        self.history.setdefault(trial_id, Curve()).add(t, score)
        return True
