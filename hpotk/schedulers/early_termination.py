"""What Azure ML's early-termination policies (seed 003) share: when a policy is applied, and
each trial's history of the primary metric. `median`, `bandit` and `truncation` subclass it.

An *interval* is one report of the primary metric: the value of ``time_attr``
(``training_iteration``) in the result. A policy is applied at interval ``t`` when
``t % evaluation_interval == 0`` and ``t >= delay_evaluation`` (the seed: "every multiple of
evaluation_interval that is greater than or equal to delay_evaluation"). The seed's unspecified
``evaluation_interval`` is 0; hpotk reads 0 as 1 (apply at every interval), like the seed's
examples.

Ray calls ``on_trial_result`` whenever a trial reports, so a decision about trial ``i`` at interval
``t`` is made when ``i`` reports ``t``, against the trials that have reached ``t`` by then (running
or ended). Scores are kept mode-adjusted (higher is better). A NaN or infinite metric is never a
reference for others; a trial's own non-finite value counts as worse than every finite one.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

from ray.tune.result import DEFAULT_METRIC
from ray.tune.schedulers.trial_scheduler import FIFOScheduler, TrialScheduler

from hpotk.errors import ConfigError
from hpotk.schedulers import ScheduleContext

INTERVAL_OPTIONS = {"evaluation_interval": int, "delay_evaluation": int}
WORST = -math.inf


def interval_settings(ctx: ScheduleContext, options: dict[str, Any]) -> dict[str, int]:
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


class IntervalPolicy(FIFOScheduler):
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
        # trial_id -> [(interval, mode-adjusted score or None if non-finite)], in report order
        self.history: dict[str, list[tuple[float, float | None]]] = {}
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
        self.history.setdefault(trial.trial_id, [])

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

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))

    # --- what subclasses use ----------------------------------------------------------------

    def should_stop(self, trial_id: str, t: float) -> bool:
        raise NotImplementedError

    def reached(self, t: float) -> list[str]:
        """Trials (any state) that have reported interval ``t`` or later."""
        return [tid for tid, h in self.history.items() if h and max(x for x, _ in h) >= t]

    def scores_upto(self, trial_id: str, t: float) -> list[float]:
        """The trial's finite scores at intervals <= t."""
        return [s for x, s in self.history.get(trial_id, []) if x <= t and s is not None]

    def best_upto(self, trial_id: str, t: float) -> float:
        return max(self.scores_upto(trial_id, t), default=WORST)

    def score_at(self, trial_id: str, t: float) -> float:
        """The trial's score at interval t (its last report at or before t)."""
        before = [(x, s) for x, s in self.history.get(trial_id, []) if x <= t]
        if not before:
            return WORST
        score = max(before, key=lambda xs: xs[0])[1]
        return WORST if score is None else score

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
        entries = self.history.setdefault(trial_id, [])
        if entries and entries[-1][0] == t:
            entries[-1] = (t, score)  # the same interval again (on_trial_complete's last result)
        else:
            entries.append((t, score))
        return True
