"""hpotk._stall's watch: a loop step does not scan every trial (that was O(trials^2) a run);
the watch thread's once-a-second look still counts a RUNNING trial that has not reported."""

from __future__ import annotations

import time
from types import SimpleNamespace

from hpotk._stall import RunStopper, StallWatch


class NoScan(list):
    def __iter__(self):
        raise AssertionError("a loop step scanned every trial")


def _watch() -> StallWatch:
    return StallWatch(RunStopper(max_t=1), stall_s=60, verbose=0)


def test_a_loop_step_does_not_scan_the_trials():
    _watch().on_step_begin(0, NoScan([SimpleNamespace(status="TERMINATED")] * 3))


def test_a_running_trial_without_results_keeps_the_run_from_stalling():
    watch = _watch()
    watch.last_active = time.monotonic() - 1000  # nothing reported for long
    watch.on_step_begin(0, [SimpleNamespace(status="TERMINATED", trial_id="a"),
                            SimpleNamespace(status="RUNNING", trial_id="b")])
    watch.check()  # what the watch thread does every second
    assert watch.stopper.reason is None
    assert time.monotonic() - watch.last_active < 5


def test_trials_waiting_with_none_running_end_the_run():
    watch = _watch()
    watch.last_active = time.monotonic() - 1000
    watch.on_step_begin(0, [SimpleNamespace(status="PENDING", trial_id="a", resources=None)])
    watch.check()
    assert watch.stopper.reason and "no trial trained" in watch.stopper.reason
