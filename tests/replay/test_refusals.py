"""What replay refuses, with the reason: a table whose trials stopped early, PBT, searchers that
propose new configs, and configs the table never ran."""

from __future__ import annotations

import pytest

from hpotk import replay
from hpotk.errors import HpotkError
from hpotk.experiment import load
from tests.replay.helpers import Curve, make_table

CURVES = {
    "a": Curve(0.01, 8, [0.1, 0.2, 0.3], [1.0, 1.0, 1.0]),
    "b": Curve(0.02, 16, [0.5, 0.6, 0.9], [2.0, 2.0, 2.0]),
}


@pytest.fixture
def table() -> replay.Table:
    return replay.load_table(make_table(CURVES, max_t=3))


def test_a_table_with_trials_stopped_early_names_them():
    curves = dict(CURVES, c=Curve(0.03, 32, [0.2, 0.25], [1.0, 1.0], status="STOPPED"),
                  d=Curve(0.04, 8, [0.2], [1.0], status="EARLY_STOPPED"))
    with pytest.raises(HpotkError) as err:
        replay.load_table(make_table(curves, max_t=3))
    message = str(err.value)
    assert "2 of 4 trials did not run to max_t=3" in message
    assert "c (STOPPED, 2/3 iterations)" in message and "d (EARLY_STOPPED, 1/3" in message
    assert "a (" not in message
    assert "fifo/random" in message  # how to record a table that can be replayed


def test_a_trial_missing_an_iteration_is_incomplete_even_if_marked_completed():
    results = make_table(CURVES, max_t=3)
    history = results.history
    results.history = history[~((history["trial_id"] == "b") & (history["iteration"] == 2))]
    with pytest.raises(HpotkError, match=r"b \(COMPLETED, 3/3 iterations\)"):
        replay.load_table(results)


def test_a_running_experiment_is_refused():
    results = make_table(CURVES, max_t=3)
    results.meta["status"] = "running"
    with pytest.raises(HpotkError, match="still running"):
        replay.load_table(results)


def test_pbt_is_refused_with_the_reason(table):
    strategy = replay.Strategy("pbt/random", scheduler="pbt", concurrent=2, max_t=3)
    with pytest.raises(HpotkError) as err:
        replay.replay(table, strategy)
    assert "pbt cannot be replayed" in str(err.value)
    assert "another trial's weights" in str(err.value)


@pytest.mark.parametrize("searcher", ["tpe", "bo", "anneal", "sobol"])
def test_searchers_that_propose_new_configs_are_refused(table, searcher):
    strategy = replay.Strategy(f"asha/{searcher}", scheduler="asha", searcher=searcher,
                               concurrent=2, max_t=3)
    with pytest.raises(HpotkError) as err:
        replay.replay(table, strategy)
    assert f"searcher {searcher!r} cannot be replayed" in str(err.value)
    assert "proposes new configs" in str(err.value)


def test_a_study_is_refused_before_any_replay_runs(table):
    good = replay.Strategy("asha/random", scheduler="asha", concurrent=2, max_t=3)
    bad = replay.Strategy("pbt/random", scheduler="pbt", concurrent=2, max_t=3)
    with pytest.raises(HpotkError, match="pbt"):
        replay.replay_strategies(table, {"asha": [(good, 0)], "pbt": [(bad, 0)]})


def test_an_unknown_config_is_refused(table):
    assert table.lookup({"lr": 0.02, "width": 16}).trial_id == "b"
    with pytest.raises(HpotkError) as err:
        table.lookup({"lr": 0.05, "width": 16})
    assert "{'lr': 0.05, 'width': 16} is not in the replay table" in str(err.value)
    with pytest.raises(HpotkError, match="not in the replay table"):
        replay.replay(table, replay.Strategy("fifo/random", max_t=3), order=["a", "zz"])


def experiment(**space) -> object:
    doc = {"name": "x", "trainable": "mlp-digits", "data": {"seed": 0},
           "space": {"lr": {"type": "continuous", "min_value": 1e-4, "max_value": 0.1,
                            "scaling": "log"},
                     "width": {"type": "categorical", "values": [8, 16, 32]},
                     "epochs": 10, **space},
           "metric": {"name": "score", "mode": "max"}, "budget": {"max_t": 3},
           "strategy": {"scheduler": {"name": "asha"}, "searcher": {"name": "random"}}}
    return load(doc)


def test_a_strategy_of_the_tables_space_is_accepted(table):
    strategy = replay.strategy_of(experiment(), table=table, time_s=30, concurrent=2)
    assert (strategy.scheduler, strategy.searcher, strategy.max_t) == ("asha", "random", 3)
    assert replay.replay(table, strategy).history


def test_a_fixed_value_the_table_never_ran_is_an_unknown_config(table):
    with pytest.raises(HpotkError) as err:
        replay.strategy_of(experiment(epochs=20), table=table)
    assert "epochs=20 is a config the replay table" in str(err.value)
    assert "it ran epochs=10" in str(err.value)


def test_a_space_other_than_the_tables_is_refused(table):
    wider = {"type": "continuous", "min_value": 1e-5, "max_value": 0.1, "scaling": "log"}
    with pytest.raises(HpotkError, match="space.lr is loguniform"):
        replay.strategy_of(experiment(lr=wider), table=table)
    with pytest.raises(HpotkError, match="tunes .* but the replay table"):
        replay.strategy_of(experiment(depth={"type": "integer", "min_value": 1,
                                             "max_value": 3}), table=table)


def test_grid_points_missing_from_the_table_are_unknown_configs(table):
    exp = experiment(lr=0.01)  # grid over width alone: (0.01, 8) is in the table, 16 and 32 not
    with pytest.raises(HpotkError, match="tunes"):
        replay.strategy_of(exp, table=table)  # the table tuned lr too
    small = replay.load_table(make_table({"a": CURVES["a"]}, max_t=3))
    strategy = replay.Strategy("fifo/grid", searcher="grid", max_t=3,
                               space=_space(width=[8, 16]))
    with pytest.raises(HpotkError, match="'width': 16} is not in the replay table"):
        replay.replay(small, strategy)


def test_max_t_beyond_the_recorded_curves_is_refused(table):
    exp = experiment()
    exp = exp.model_copy(update={"budget": exp.budget.model_copy(update={"max_t": 5})})
    with pytest.raises(HpotkError, match="max_t=5 is beyond the replay table's curves"):
        replay.strategy_of(exp, table=table)


def _space(width: list[int]) -> object:
    from hpotk.space.param import Param, Space

    return Space(params={"lr": Param("lr", "float", "log", choices=(0.01,)),
                         "width": Param("width", "int", "choice", choices=tuple(width))})
