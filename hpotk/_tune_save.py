"""Tune's experiment state saved the moment a trial starts or ends (imports Ray: import this
lazily).

Tune saves ``experiment_state-*.json`` every ``TUNE_GLOBAL_CHECKPOINT_S`` (by default at least
10 s apart, more when saving is slow). A driver killed in between restores an older state: trials
created since are unknown to it and run again under new ids, and those that finished since look
unfinished. `SaveOnTrialEvents` asks Tune's controller for a save at the start of the loop step
after a trial started, finished or failed, so the saved state is at most one step (a fraction of
a second) behind; `hpotk.recovery.keep_finished` covers that last window.

Ray 2.60 gives callbacks no handle on the controller: `setup` (which the controller calls) finds
it on the call stack. If it cannot, the callback does nothing and Tune's own period applies.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

from ray.tune import Callback


class SaveOnTrialEvents(Callback):
    """Forces a save of Tune's experiment state after each trial start, completion and error."""

    def __init__(self, results_dir: str | None = None) -> None:
        self._controller: Any = None
        self._pending = False
        self.results_dir = results_dir

    def setup(self, **info: Any) -> None:
        from ray.tune.execution.tune_controller import TuneController

        frame = inspect.currentframe()
        while frame is not None:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, TuneController):
                self._controller = weakref.ref(candidate)
                break
            frame = frame.f_back
        del frame

    def _changed(self, *args: Any, **info: Any) -> None:
        self._pending = True

    on_trial_start = on_trial_complete = on_trial_error = _changed

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        controller = self._controller() if self._controller is not None else None
        if not self._pending or controller is None:
            return
        self._pending = False
        controller.checkpoint(force=True)  # waits until the files are in the results dir
        if self.results_dir:
            from hpotk.recovery import back_up_state

            back_up_state(self.results_dir)  # a copy a kill cannot cut short

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles callbacks with the run config
        return {"_controller": None, "_pending": False, "results_dir": self.results_dir}
