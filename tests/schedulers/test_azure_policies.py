"""Hand-computed cases for Azure ML's early-termination policies, as Azure ML's sweep documentation defines them.

Each case feeds results in a fixed arrival order straight into the scheduler (Ray calls
``on_trial_result`` as each trial reports) and checks that exactly the trials the documented rule
names are stopped. Arithmetic is written out in the comments. Values are "accuracy" (mode max);
the min-mode runs feed ``1 - value`` as a loss, which leaves every comparison the same (an
order-reversing affine map keeps medians, averages and ranks in step) — except bandit's ratio
rule, which has its own min-mode numbers.
"""

from __future__ import annotations

import math

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from hpotk import schedulers
from hpotk.errors import ConfigError
from hpotk.schedulers import SchedulerContext
from hpotk.space.param import Space

STOP = TrialScheduler.STOP


def feed(name: str, mode: str, options: dict, events: list, mirror: bool = True) -> set:
    """Run ``events`` — ``(trial, interval, value)`` or ``("end", trial)`` — and return the
    ``(trial, interval)`` pairs answered STOP. With ``mirror`` a min-mode run reports 1 - value."""
    ctx = SchedulerContext(space=Space(), metric="m", mode=mode, max_t=100)
    policy = schedulers.make(name, ctx, options)
    assert policy.set_search_properties("m", mode)
    trials: dict[str, Trial] = {}
    stopped = set()
    for event in events:
        if event[0] == "end":
            policy.on_trial_complete(None, trials[event[1]], {})
            continue
        tid, t, value = event
        if tid not in trials:
            trials[tid] = Trial("sim", trial_id=tid, stub=True)
            policy.on_trial_add(None, trials[tid])
        if mode == "min" and mirror:
            value = 1 - value
        decision = policy.on_trial_result(None, trials[tid], {"m": value, "training_iteration": t})
        assert decision in (TrialScheduler.CONTINUE, STOP)
        if decision == STOP:
            assert (tid, t) not in stopped
            stopped.add((tid, t))
    return stopped


def round_robin(curves: dict[str, list[float]], intervals: range) -> list:
    return [(tid, t, curves[tid][t - 1]) for t in intervals for tid in curves if t <= len(curves[tid])]


@pytest.fixture(params=["max", "min"])
def mode(request) -> str:
    return request.param


# --- median stopping --------------------------------------------------------------------------


def test_median_stops_below_the_median_of_running_averages(mode):
    curves = {
        "A": [0.5, 0.6, 0.7, 0.8],  # average over 1..3 = 0.6, best 0.7
        "B": [0.4, 0.5, 0.6, 0.55],  # average 0.5, best 0.6
        "C": [0.2, 0.3, 0.4],  # average 0.3, best 0.4
        "D": [0.1, 0.1, 0.1],  # average 0.1, best 0.1
    }
    stopped = feed("median", mode, {"delay_evaluation": 3}, round_robin(curves, range(1, 5)))
    # t=1, 2: before delay_evaluation=3, nobody is judged.
    # t=3, in arrival order:
    #   A: reached 3 = {A}: median(0.6) = 0.6; best 0.7 >= 0.6 -> continue
    #   B: {A, B}: median(0.6, 0.5) = 0.55; best 0.6 -> continue
    #   C: {A, B, C}: median(0.6, 0.5, 0.3) = 0.5; best 0.4 < 0.5 -> STOP
    #   D: {A, B, C, D}: median(0.6, 0.5, 0.3, 0.1) = 0.4; best 0.1 < 0.4 -> STOP
    # t=4: A: {A}: average (0.5+0.6+0.7+0.8)/4 = 0.65; best 0.8 -> continue
    #      B: {A, B}: median(0.65, (0.4+0.5+0.6+0.55)/4 = 0.5125) = 0.58125; B's best is 0.6
    #         (not its last value 0.55) -> continue
    assert stopped == {("C", 3), ("D", 3)}


def test_median_counts_ended_trials_with_their_history_up_to_t(mode):
    # E and F ran to interval 4 at 0.9 and ended before G and H started.
    events = round_robin({"E": [0.9] * 4, "F": [0.9] * 4}, range(1, 5))
    events += [("end", "E"), ("end", "F"), ("G", 1, 0.5), ("H", 1, 0.6)]
    # E1: median(0.9) = 0.9, best 0.9 -> continue; F1: median(0.9, 0.9) = 0.9 -> continue; so on.
    # G1: reached 1 = {E, F, G}: averages 0.9, 0.9, 0.5 -> median 0.9; 0.5 < 0.9 -> STOP
    # H1: {E, F, G, H}: averages 0.9, 0.9, 0.5, 0.6 -> median 0.75; 0.6 < 0.75 -> STOP
    #     (were the ended E, F left out, the median of 0.5, 0.6 would be 0.55 and H continue)
    assert feed("median", mode, {}, events) == {("G", 1), ("H", 1)}


def test_median_a_lone_trial_is_never_stopped(mode):
    stopped = feed("median", mode, {}, [("A", t, v) for t, v in enumerate([0.9, 0.1, 0.1], 1)])
    # best 0.9 >= its own average at every t
    assert stopped == set()


# --- bandit ---------------------------------------------------------------------------------


def test_bandit_slack_factor_seed_example():
    # Azure ML's example: applied at interval 10, the best trial reports 0.8 there, slack_factor 0.2:
    # a trial whose best metric up to interval 10 is below 0.8 / (1 + 0.2) = 0.6667 stops.
    ramp = [0.08 * t for t in range(1, 11)]  # BEST: 0.08 .. 0.8 at t=10
    events = [("BEST", t, v) for t, v in enumerate(ramp, 1)]
    events += [("X", 10, 0.67)]  # 0.67 >= 0.6667 -> continue
    events += [("Y", 10, 0.665)]  # 0.665 < 0.6667 -> STOP
    events += [("P", 5, 0.7), ("P", 10, 0.5)]  # best up to 10 is 0.7 (at t=5) -> continue
    events += [("N", 10, math.nan)]  # only a NaN so far: worse than any value -> STOP
    stopped = feed("bandit", "max", {"slack_factor": 0.2, "evaluation_interval": 10}, events)
    # BEST itself at t=10: reference = its own 0.8 -> continue. P at t=5: not an evaluation
    # point (5 is not a multiple of evaluation_interval=10).
    assert stopped == {("Y", 10), ("N", 10)}


def test_bandit_reference_is_who_has_reached_the_interval():
    # Z reports interval 10 before BEST does: at that moment the best among trials at 10 is
    # Z's own 0.6, so Z continues; Ray gives no second chance to stop Z at interval 10.
    events = [("Z", 10, 0.6), ("BEST", 10, 0.8), ("W", 10, 0.6)]
    stopped = feed("bandit", "max", {"slack_factor": 0.2, "evaluation_interval": 10}, events)
    # W reports after BEST: 0.6 < 0.8/1.2 = 0.6667 -> STOP
    assert stopped == {("W", 10)}


def test_bandit_slack_factor_min_mode():
    # Mode min, hpotk's mirror of the rule: stop when best > reference * (1 + slack_factor).
    # Reference 0.5, slack_factor 0.2: limit 0.6.
    events = [("BEST", 1, 0.5), ("U", 1, 0.59), ("V", 1, 0.61), ("BEST", 2, 0.45),
              ("U", 2, 0.55)]
    # t=2: reference = BEST's best up to 2 = 0.45 -> limit 0.54; U's best up to 2 = 0.55 > 0.54
    stopped = feed("bandit", "min", {"slack_factor": 0.2}, events, mirror=False)
    assert stopped == {("V", 1), ("U", 2)}


def test_bandit_slack_amount(mode):
    # Absolute slack 0.1 from the best: max stops below 0.8 - 0.1 = 0.7. Mirrored (min): losses
    # 0.2, 0.29, 0.31; min stops above 0.2 + 0.1 = 0.3 -> the same trials.
    events = [("BEST", 1, 0.8), ("K", 1, 0.71), ("L", 1, 0.69)]
    stopped = feed("bandit", mode, {"slack_amount": 0.1}, events)
    assert stopped == {("L", 1)}


def test_bandit_schedule_evaluation_interval_and_delay():
    # evaluation_interval 2, delay_evaluation 3: applied at 4, 6, 8, ... (multiples of 2 that
    # are >= 3). L is hopeless from interval 1 on but is first judged at 4.
    events = round_robin({"BEST": [0.8] * 6, "L": [0.1] * 6}, range(1, 7))
    stopped = feed("bandit", "max", {"slack_amount": 0.1, "evaluation_interval": 2,
                                     "delay_evaluation": 3}, events)
    assert stopped == {("L", 4), ("L", 6)}  # Ray would not report t=6 after a STOP at 4


# --- truncation selection ---------------------------------------------------------------------


def test_truncation_cuts_the_lowest_percentage_at_each_interval(mode):
    values_at_2 = {"A": 0.9, "B": 0.3, "C": 0.8, "D": 0.2, "E": 0.7}
    events = [(tid, 1, 0.5) for tid in values_at_2]  # t=1: before delay_evaluation=2
    events += [(tid, 2, v) for tid, v in values_at_2.items()]
    # truncation_percentage 25; at t=2 in arrival order, k = floor(n * 25 / 100):
    #   A: n=1, k=0 -> continue;  B: n=2, k=0 -> continue (B is the worst, but 25% of 2 < 1)
    #   C: n=3, k=0 -> continue
    #   D: n=4, k=1; D=0.2 is the lowest: trials no better than D = {D} = 1 <= 1 -> STOP
    #   E: n=5, k=1; no better than E=0.7: {B, D, E} = 3 > 1 -> continue
    stopped = feed("truncation", mode, {"truncation_percentage": 25, "delay_evaluation": 2},
                   events)
    assert stopped == {("D", 2)}


def test_truncation_exclude_finished_jobs(mode):
    # F1..F3 ran to interval 2 and finished before G and H started.
    done = [(f, t, 0.9) for t in (1, 2) for f in ("F1", "F2", "F3")] + [
        ("end", f) for f in ("F1", "F2", "F3")]
    late = [("G", 1, 0.5), ("H", 1, 0.6), ("G", 2, 0.5), ("H", 2, 0.6)]
    options = {"truncation_percentage": 30, "delay_evaluation": 2}
    # Finished trials included: G2 faces {F1, F2, F3, G}: k = floor(4 * 0.3) = 1, G is the
    # lowest alone -> STOP. H2: {F1, F2, F3, G, H}: k = 1; no better than H: {G, H} -> continue.
    assert feed("truncation", mode, dict(options), done + late) == {("G", 2)}
    # Excluded: G2 faces {G}: k = 0 -> continue; H2 faces {G, H} (G still running): k = 0.
    options["exclude_finished_jobs"] = True
    assert feed("truncation", mode, options, done + late) == set()


def test_truncation_keeps_ties_and_ranks_nan_lowest(mode):
    ties = [(tid, 1, 0.5) for tid in "ABCD"]  # k = 1 at n=4, but 4 trials are no better
    assert feed("truncation", mode, {"truncation_percentage": 25}, ties) == set()
    nan = [(tid, 1, 0.5 + 0.1 * i) for i, tid in enumerate("ABC")] + [("N", 1, math.nan)]
    assert feed("truncation", mode, {"truncation_percentage": 25}, nan) == {("N", 1)}


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, options, path, words", [
    ("bandit", {}, "strategy.scheduler.slack_factor", "exactly one"),
    ("bandit", {"slack_factor": 0.1, "slack_amount": 0.1}, "strategy.scheduler.slack_factor",
     "both"),
    ("bandit", {"slack_factor": 0}, "strategy.scheduler.slack_factor", "> 0"),
    ("bandit", {"slack_amount": -1}, "strategy.scheduler.slack_amount", ">= 0"),
    ("truncation", {"truncation_percentage": 0}, "strategy.scheduler.truncation_percentage",
     "1 to 99"),
    ("truncation", {"truncation_percentage": 100}, "strategy.scheduler.truncation_percentage",
     "1 to 99"),
    ("truncation", {}, "strategy.scheduler.truncation_percentage", "required"),
    ("truncation", {"truncation_percentage": 20.5}, "strategy.scheduler.truncation_percentage",
     "int"),
    ("median", {"delay_evaluation": -1}, "strategy.scheduler.delay_evaluation", ">= 0"),
    ("median", {"evaluation_interval": -2}, "strategy.scheduler.evaluation_interval", ">= 0"),
    ("median", {"grace_period": 3}, "strategy.scheduler.grace_period", "unknown option"),
])
def test_invalid_options(name, options, path, words):
    ctx = SchedulerContext(space=Space(), metric="m", mode="max", max_t=10)
    with pytest.raises(ConfigError, match=words) as error:
        schedulers.make(name, ctx, options)
    assert error.value.path == path


def test_evaluation_interval_zero_means_every_interval():
    # Azure ML's unspecified evaluation_interval is 0; it applies the policy at every interval.
    events = [("BEST", 1, 0.8), ("L", 1, 0.1)]
    assert feed("bandit", "max", {"slack_amount": 0.1, "evaluation_interval": 0}, events) == {
        ("L", 1)}


def test_curve_running_values_and_rewrite_after_restore():
    from hpotk.schedulers.early_termination import WORST, Curve

    curve = Curve()
    for t, score in [(1, 0.2), (2, None), (3, 0.8), (4, 0.5)]:
        curve.add(t, score)
    assert curve.mean_upto(2) == 0.2 and curve.mean_upto(4) == pytest.approx(0.5)
    assert curve.best_upto(2) == 0.2 and curve.best_upto(4) == 0.8 and curve.best_upto(0) == WORST
    assert curve.at(2) == WORST and curve.at(3.5) == 0.8 and curve.reached == 4
    curve.add(3, 0.1)  # restored from the checkpoint at 2: intervals 3, 4 are replaced
    assert curve.times == [1, 2, 3] and curve.best_upto(4) == 0.2
    assert curve.mean_upto(3) == pytest.approx(0.15)


@pytest.mark.parametrize("name, options", [("median", {}), ("bandit", {"slack_amount": 0.1}),
                                           ("truncation", {"truncation_percentage": 10})])
def test_search_properties_come_once_from_the_tune_config(name, options):
    ctx = SchedulerContext(space=Space(), metric="m", mode="max", max_t=10)
    policy = schedulers.make(name, ctx, options)
    assert policy.metric is None  # nothing until Tune passes its TuneConfig's metric and mode
    assert policy.set_search_properties("val_acc", "max")
    assert policy.metric == "val_acc" and policy._mode == "max"
    assert not policy.set_search_properties("loss", "min")  # already set: Ray's convention
    with pytest.raises(ValueError, match="mode"):
        schedulers.make(name, ctx, options).set_search_properties("m", "up")
