"""What hpotk's own searchers record about errored and non-finite trials (their internals, so
not part of the shipped contract suite): hpotk's SpaceSearcher counts them and keeps no trial
pending, bo's GP sees only finite values, hyperopt's trials record errors as fmin does."""

from __future__ import annotations

import math

import pytest

from hpotk.testing.searchers import (
    METRIC,
    driver_for,
    errored_then_mixed,
    objective,
    plan_for,
    run,
)
from tests.searchers.test_conformance import CASES


def _errored_then_mixed(name: str):
    plan, ctx = plan_for(CASES[name])
    errored_then_mixed(driver_for(plan, ctx), ctx)
    return plan.search_alg


@pytest.mark.parametrize("name", ["sobol", "tpe", "anneal", "bo"])
def test_failed_trials_are_counted_and_none_left_pending(name):
    alg = _errored_then_mixed(name)
    assert alg.n_failed == 2 + 5  # the two errors; None, inf, -inf, nan, missing (i=0..8)
    assert alg.n_observed == 12
    assert not alg.pending


def test_bo_models_only_finite_values():
    alg = _errored_then_mixed("bo")
    assert len(alg.observations) == 12 - 7
    assert all(math.isfinite(v) for _, v in alg.observations)


@pytest.mark.parametrize("name", ["tpe", "anneal"])
def test_hyperopt_records_errors_and_failures_as_fmin_does(name):
    """Errors left out of the model, non-finite results "fail" (worst), never a NaN loss."""
    alg = _errored_then_mixed(name)
    losses = [t["result"].get("loss") for t in alg.trials.trials]
    statuses = [t["result"]["status"] for t in alg.trials.trials]
    assert statuses.count("fail") == 5 and statuses.count("ok") == 5
    assert all(loss is None or math.isfinite(loss) for loss in losses)
    assert [t["state"] for t in alg.trials._dynamic_trials].count(3) == 2  # JOB_STATE_ERROR


@pytest.mark.parametrize("name", ["sobol", "tpe", "anneal", "bo"])
def test_min_and_max_are_mirror_images(name):
    plan, _ = plan_for(CASES[name], mode="min")
    plan_max, _ = plan_for(CASES[name], mode="max")
    assert plan.search_alg.loss_of({METRIC: 2.5}) == 2.5
    assert plan_max.search_alg.loss_of({METRIC: 2.5}) == -2.5


@pytest.mark.parametrize("name", ["sobol", "tpe", "anneal", "bo"])
def test_trials_in_flight_are_accepted_after_a_restore(name, tmp_path):
    plan, ctx = plan_for(CASES[name])
    driver = driver_for(plan, ctx)
    run(driver, ctx, 6)
    in_flight = [driver.suggest() for _ in range(2)]
    driver.save(str(tmp_path))
    fresh, _ = plan_for(CASES[name])
    restored = driver_for(fresh, ctx, restore_from=str(tmp_path))
    for trial_id, config in in_flight:
        restored.complete(trial_id, {METRIC: objective(config)})
    run(restored, ctx, 4)
    assert fresh.search_alg.n_observed == 6 + 2 + 4
    assert not fresh.search_alg.pending
