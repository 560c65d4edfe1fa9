"""Multi-objective ASHA (`hpotk.schedulers.moasha`): decisions on hand-made rungs fed through
``on_trial_result``, the same decisions as ASHA with one objective, options and plan, and one
real two-objective experiment on the session's Ray."""

from __future__ import annotations

import json
import math
import random
import types

import pytest
from ray.tune.schedulers import TrialScheduler

import hpotk
from hpotk import schedulers
from hpotk.errors import ConfigError
from hpotk.experiment import Constraint
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers.moasha import MOASHA, rank_keys
from hpotk.space.param import Param, Space

GO, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP
ERR_TIME = (["err", "time"], ["min", "min"])


def moasha(metrics=ERR_TIME[0], modes=ERR_TIME[1], **options) -> MOASHA:
    options = {"max_t": 9, "grace_period": 1, "reduction_factor": 2, **options}
    return MOASHA(metrics, modes, **options)


def feed(scheduler: MOASHA, rows: list[tuple[str, dict]], t: int = 1) -> list[str]:
    """Each ``(trial_id, metrics)`` reports its result at iteration ``t``; the decisions."""
    decisions = []
    for trial_id, metrics in rows:
        trial = types.SimpleNamespace(trial_id=trial_id)
        scheduler.on_trial_add(None, trial)
        decisions.append(scheduler.on_trial_result(None, trial,
                                                   {"training_iteration": t, **metrics}))
    return decisions


def point(err: float, time: float, **more: float) -> dict:
    return {"err": err, "time": time, **more}


# --- decisions at a rung ---------------------------------------------------------------------


def test_a_dominated_trial_stops_a_non_dominated_one_continues():
    decisions = feed(moasha(), [
        ("a", point(0.5, 5)),   # first at the rung: continues
        ("b", point(0.6, 6)),   # dominated by a
        ("c", point(0.4, 7)),   # better err, slower: on the front with a
        ("d", point(0.9, 1)),   # worst err, fastest: on the front, an extreme of it
    ])
    assert decisions == [GO, STOP, GO, GO]


def test_where_asha_on_the_first_objective_alone_would_stop_the_trial():
    rows = [("a", point(0.5, 5)), ("b", point(0.6, 6)), ("c", point(0.4, 7)),
            ("d", point(0.9, 1))]
    asha_like = moasha(["err"], ["min"])
    assert feed(asha_like, rows)[-1] == STOP
    assert feed(moasha(), rows)[-1] == GO


# One front on err + time = 10: its extremes P1, P2 and two points on the left, M1 and M2.
# Four recorded, eta 2: the cutoff falls between the 2nd and 3rd of them (P2 and M2).
FRONT = [("P1", point(0, 10)), ("P2", point(10, 0)), ("M1", point(2, 8)), ("M2", point(4, 6))]


@pytest.mark.parametrize("tie_break", ["crowding", "hypervolume"])
def test_ties_within_a_front_are_broken_by_crowding_distance_or_hypervolume(tie_break):
    # (7, 3) is alone on the right of the front: crowding 1.2 against M2's 1.0 (exclusive
    # hypervolume 9 against 6); (3, 7) sits between M1 and M2: crowding 0.4 against M2's 1.4
    # (hypervolume 1 against 6). Both are on the Pareto front; only the isolated one goes on.
    isolated = feed(moasha(tie_break=tie_break), [*FRONT, ("X", point(7, 3))])
    crowded = feed(moasha(tie_break=tie_break), [*FRONT, ("X", point(3, 7))])
    assert isolated[-1] == GO
    assert crowded[-1] == STOP


def test_crowding_distance_orders_the_front():
    rows = [((v["err"], v["time"]), 0) for _, v in [*FRONT, ("X", point(7, 3))]]
    keys = rank_keys(rows, ["min", "min"])
    assert {k[2] for k in keys} == {0.0}  # one front
    order = sorted(range(len(rows)), key=keys.__getitem__)
    assert order[:2] == [0, 1] and order[2:] == [4, 3, 2]  # extremes, then (7,3), M2, M1


def test_a_nan_or_missing_objective_ranks_last():
    decisions = feed(moasha(), [
        ("a", point(0.5, 5)),
        ("nan", point(math.nan, 1)),    # faster than a, but its err is unknown
        ("missing", {"time": 0.5}),     # no err at all
    ])
    assert decisions == [GO, STOP, STOP]
    # ranked last, it still counts at the rung: b, dominated by a, is now 2nd of 3 recorded
    scheduler = moasha()
    feed(scheduler, [("a", point(0.5, 5)), ("nan", point(math.nan, 1))])
    assert feed(scheduler, [("b", point(0.6, 6))]) == [GO]


def test_a_result_without_any_objective_is_not_judged():
    scheduler = moasha()
    assert feed(scheduler, [("a", point(0.5, 5)), ("b", {"loss": 1.0})]) == [GO, GO]
    assert "b" not in scheduler._recorded[0]


def test_an_infeasible_result_ranks_after_every_feasible_one_and_before_nan():
    mem = [Constraint(name="mem", max=100)]
    decisions = feed(moasha(constraints=mem), [
        ("a", point(0.5, 5, mem=50)),
        ("fast", point(0.1, 1, mem=200)),  # dominates a, but breaks the memory bound
    ])
    assert decisions == [GO, STOP]
    rows = [((0.5, 5.0), 0), ((0.1, 1.0), 1), ((math.nan, 0.1), 0), ((0.2, 2.0), 2)]
    keys = rank_keys(rows, ["min", "min"])
    assert sorted(range(4), key=keys.__getitem__) == [0, 1, 3, 2]  # fewer broken first, nan last
    # one objective with a constraint: infeasible behind feasible too
    one = feed(moasha(["err"], ["min"], constraints=mem),
               [("a", point(0.5, 5, mem=50)), ("fast", point(0.1, 1, mem=200))])
    assert one == [GO, STOP]


def test_max_modes_and_a_later_rung():
    scheduler = moasha(["acc", "time"], ["max", "min"])
    assert feed(scheduler, [("a", {"acc": 0.9, "time": 2}), ("b", {"acc": 0.8, "time": 3})]) \
        == [GO, STOP]
    # rung 2 (iteration 2) starts empty: a goes on; c, new, is judged there (as in Ray's ASHA,
    # a trial's result decides at the highest rung it reached), on the front with a
    assert feed(scheduler, [("a", {"acc": 0.95, "time": 2})], t=2) == [GO]
    assert feed(scheduler, [("c", {"acc": 0.99, "time": 3})], t=2) == [GO]
    assert feed(scheduler, [("d", {"acc": 0.9, "time": 4})], t=2) == [STOP]
    assert feed(scheduler, [("a", {"acc": 0.95, "time": 2})], t=9) == [STOP]  # max_t


# --- one objective: ASHA's decisions ---------------------------------------------------------


def context(mode: str = "min", objectives=(), constraints=(), max_t: int = 9) -> SchedulerContext:
    lr = Param("lr", "float", "log", low=1e-4, high=1e-1, role="algorithm")
    return SchedulerContext(space=Space(params={"lr": lr}), metric="loss", mode=mode,
                            max_t=max_t, trials=10, objectives=list(objectives),
                            constraints=list(constraints))


def simulate(scheduler, results: list[tuple[str, int, float]]) -> list[str]:
    """Feed each (trial, iteration, loss) unless the trial was stopped; a stopped trial
    completes (as Tune calls it). The decisions, one per result fed."""
    decisions, stopped, trials = [], set(), {}
    for trial_id, t, value in results:
        if trial_id in stopped:
            continue
        if trial_id not in trials:
            trials[trial_id] = types.SimpleNamespace(trial_id=trial_id)
            scheduler.on_trial_add(None, trials[trial_id])
        result = {"training_iteration": t, "loss": value}
        decision = scheduler.on_trial_result(None, trials[trial_id], result)
        decisions.append(decision)
        if decision == STOP:
            stopped.add(trial_id)
            scheduler.on_trial_complete(None, trials[trial_id], result)
    return decisions


def interleaved(seed: int, trials: int = 12, max_t: int = 9) -> list[tuple[str, int, float]]:
    """Trials reporting iterations 1..max_t in a random interleaving; values on a 0.1 grid so
    ties and values at the cutoff happen."""
    rng = random.Random(seed)
    pending = {f"t{i}": 1 for i in range(trials)}
    base = {trial: rng.randint(1, 30) / 10 for trial in pending}
    out = []
    while pending:
        trial = rng.choice(sorted(pending)[:4])  # a few run at once, in trial order
        t = pending[trial]
        out.append((trial, t, round(base[trial] + rng.choice([-0.1, 0, 0.1]) * t, 1)))
        pending[trial] = t + 1
        if t + 1 > max_t:
            del pending[trial]
    return out


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("eta", [2, 3, 2.5])
def test_one_objective_decides_as_asha(mode, eta):
    options = {"grace_period": 1, "reduction_factor": eta}
    for seed in range(15):
        results = interleaved(seed)
        asha = schedulers.make("asha", context(mode), options)
        ours = schedulers.make("moasha", context(mode), options)
        for scheduler in (asha, ours):
            assert scheduler.set_search_properties("loss", mode)
        expected = simulate(asha, results)
        assert len(expected) < len(results)  # some trials stopped early
        assert simulate(ours, results) == expected, seed


# --- options, plan, building --------------------------------------------------------------


@pytest.mark.parametrize(("options", "path", "words"), [
    ({"brackets": 2}, "strategy.scheduler.brackets", "unknown option"),
    ({"tie_break": "random"}, "strategy.scheduler.tie_break", "'crowding' or 'hypervolume'"),
    ({"reduction_factor": 1}, "strategy.scheduler.reduction_factor", "must be > 1"),
    ({"grace_period": 0}, "strategy.scheduler.grace_period", ">= 1"),
    ({"grace_period": 20}, "strategy.scheduler.max_t", "must be >= grace_period"),
])
def test_bad_options_name_their_key_path(options, path, words):
    with pytest.raises(ConfigError, match=words) as error:
        schedulers.make("moasha", context(objectives=[("loss", "min"), ("time", "min")]),
                        options)
    assert error.value.path == path


def test_several_objectives_reach_it_through_its_context_and_single_ones_are_refused():
    ctx = context(objectives=[("loss", "min"), ("epoch_s", "min")])
    built = schedulers.make("moasha", ctx, {})
    assert built._metrics == ["loss", "epoch_s"] and built._modes == ["min", "min"]
    assert built.set_search_properties(None, None)  # hpotk's runner leaves Tune's metric unset
    with pytest.raises(ConfigError, match="moasha"):
        schedulers.make("asha", ctx, {})


def test_describe_says_rungs_objectives_and_rule():
    mem = [Constraint(name="mem", max=100)]
    info = schedulers.describe("moasha", context(objectives=[("loss", "min"), ("t", "min")],
                                                 constraints=mem, max_t=9),
                               {"reduction_factor": 3})
    assert [r["iterations"] for r in info["rungs"]] == [1, 3, 9]
    assert "non-dominated sorting of loss (min), t (min)" in info["summary"]
    assert "crowding distance" in info["summary"]
    assert info["constraints"] == ["mem <= 100"]
    single = schedulers.describe("moasha", context(), {})
    assert "as asha" in single["summary"]
    assert schedulers.describe("asha", context(), {})["rungs"] == single["rungs"]


def test_a_ray_user_builds_it_with_metrics_and_modes():
    scheduler = MOASHA(["acc", "time"], ["max", "min"], max_t=9)
    assert scheduler.set_search_properties("acc", "max")  # TuneConfig naming the first one
    assert not scheduler.set_search_properties("time", "min")
    assert MOASHA(["a", "b"], "min")._modes == ["min", "min"]
    for metrics, modes in [(["a", "b"], ["min"]), (["a"], None), (["a", "a"], "min"),
                           (None, "min"), (["a"], ["up"])]:
        with pytest.raises(ValueError):
            MOASHA(metrics, modes)
    with pytest.raises(ValueError, match="metric"):
        MOASHA().on_trial_add(None, types.SimpleNamespace(trial_id="t"))


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_two_objective_experiment_stops_the_trials_its_rungs_say(ray_local, tmp_path):
    # 4 trials of the quickstart MLP, 2 at a time, max_t 3 (rungs at 1 and 2), eta 2
    exp = hpotk.load({
        "name": "moasha", "trainable": "mlp-digits", "data": {"seed": 0},
        "space": {"lr": {"type": "continuous", "min_value": 3e-4, "max_value": 3e-2,
                         "scaling": "log"},
                  "hidden_size": {"type": "categorical", "values": [32, 64]}},
        "metric": [{"name": "val_acc", "mode": "max"}, {"name": "val_loss", "mode": "min"}],
        "strategy": {"scheduler": {"name": "moasha", "grace_period": 1, "reduction_factor": 2},
                     "searcher": "random"},
        "budget": {"trials": 4, "concurrent": 2, "max_t": 3},
        "results": str(tmp_path / "results"), "seed": 0})
    outcome = hpotk.run(exp, verbose=0)
    assert outcome.status == "complete", outcome.error
    assert len(outcome.trials) == 4

    # the results as Tune handed them to the scheduler, fed in that order to a fresh one:
    # the trials it stops are exactly those that ended before max_t
    lines = [json.loads(line) for line in
             (outcome.results_dir / "history.jsonl").read_text().splitlines()]
    fresh = MOASHA(["val_acc", "val_loss"], ["max", "min"], max_t=3, grace_period=1,
                   reduction_factor=2)
    stopped, last = set(), {}
    for line in (x for x in lines if x.get("event") == "result"):
        trial = types.SimpleNamespace(trial_id=line["trial_id"])
        assert line["trial_id"] not in stopped  # nothing reports after it was stopped
        last[trial.trial_id] = line["training_iteration"]
        if line["training_iteration"] < 3 and fresh.on_trial_result(None, trial, line) == STOP:
            stopped.add(trial.trial_id)
    assert len(last) == 4
    assert stopped == {trial for trial, t in last.items() if t < 3}
