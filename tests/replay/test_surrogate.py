"""The surrogate of a recorded table (hpotk.replay.surrogate): it recovers a known function
from a synthetic table, its noise has the table's spread, and searchers that propose new
configs (tpe, bo, anneal, sobol) replay on it end to end. No Ray is started."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpotk import replay
from hpotk.errors import HpotkError
from hpotk.replay.surrogate import Surrogate
from hpotk.replay.table import recorded_checkpoint_s
from hpotk.space.param import Fixed, Param, Space
from tests.replay.helpers import Curve, make_table

MAX_T = 10
NOISE_SD = 0.02  # each recorded trial's own offset: what repeats of one config differ by


def true_score(lr: float, width: int, iteration: int) -> float:
    """The known function: a curve rising to a ceiling that peaks at lr = 10**-2.5 and grows a
    little with width."""
    ceiling = 0.9 - 0.1 * (math.log10(lr) + 2.5) ** 2 + 0.02 * math.log2(width / 8)
    return ceiling * (1 - math.exp(-iteration / 3))


def true_seconds(width: int) -> float:
    return 0.1 * width / 8


def synthetic_curves(n: int, seed: int) -> dict[str, Curve]:
    rng = np.random.default_rng(seed)
    curves = {}
    for k in range(n):
        lr, width = 10 ** rng.uniform(-4, -1), int(rng.choice([8, 16, 32]))
        offset = rng.normal(0, NOISE_SD)
        scores = [true_score(lr, width, i) + offset + rng.normal(0, 0.003)
                  for i in range(1, MAX_T + 1)]
        seconds = [true_seconds(width) * (1 + rng.normal(0, 0.03)) for _ in range(MAX_T)]
        curves[f"t{k}"] = Curve(lr, width, scores, seconds, setup_s=0.5 + 0.01 * width)
    return curves


SPACE = Space(params={"lr": Param("lr", "float", "log", low=1e-4, high=1e-1),
                      "width": Param("width", "int", "choice", choices=(8, 16, 32))},
              fixed={"epochs": Fixed("epochs", 10, "fixed-param")})


@pytest.fixture(scope="module")
def table() -> replay.Table:
    return replay.load_table(make_table(synthetic_curves(80, seed=0), max_t=MAX_T))


@pytest.fixture(scope="module")
def surrogate(table) -> Surrogate:
    return Surrogate.fit(table, ["loss"])


def test_it_recovers_the_known_function_within_a_stated_error(surrogate):
    """Mean over seeds of the replayed final score of 30 configs the table never ran: within
    0.03 of the true function (the table's own noise has sd 0.02) for the median config, and
    seconds per iteration within 10%."""
    rng = np.random.default_rng(1)
    configs = [{"lr": float(10 ** rng.uniform(-3.8, -1.2)), "width": int(rng.choice([8, 16, 32]))}
               for _ in range(30)]
    finals = np.array([[r.results[-1]["score"] for r in surrogate.curves(configs, seed)]
                       for seed in range(8)]).mean(axis=0)
    truth = np.array([true_score(c["lr"], c["width"], MAX_T) for c in configs])
    errors = np.abs(finals - truth)
    assert np.median(errors) < 0.03, errors
    assert errors.max() < 0.12, errors
    seconds = np.array([np.mean(surrogate.curve(c, 0).iter_s) for c in configs])
    expected = np.array([true_seconds(c["width"]) for c in configs])
    assert np.median(np.abs(seconds / expected - 1)) < 0.10


def test_its_noise_has_the_tables_spread(surrogate, table):
    """Replayed finals of the recorded configs spread as the recorded ones do (ratio of sds
    near 1), and the same config differs across seeds by about the table's own noise."""
    check = surrogate.check()
    assert 0.7 < check.noise_ratio["score"] < 1.4, check.noise_ratio
    config = {"lr": 10 ** -2.5, "width": 16}
    finals = [surrogate.curve(config, seed).results[-1]["score"] for seed in range(40)]
    assert 0.5 * NOISE_SD < np.std(finals) < 2.5 * NOISE_SD
    assert surrogate.curve(config, 3).results == surrogate.curve(config, 3).results


def test_the_check_names_the_models_and_their_errors(surrogate):
    check = surrogate.check()
    assert set(check.choices) == {"score", "loss", "iter_s", "setup_s"}
    for choice in check.choices.values():
        assert choice.chosen == min(choice.rmse, key=choice.rmse.get)
        assert {"random forest", "gradient boosting", "k-NN"} <= set(choice.rmse)
    assert check.spearman[0] > 0.8
    assert check.time_error[0] < 0.1
    text = check.text()
    assert "Spearman" in text and "held-out" in text and "seconds per iteration" in text


def test_replayed_configs_carry_the_tables_fixed_values(surrogate):
    recorded = surrogate.curve({"lr": 0.01, "width": 8}, 0)
    assert recorded.config["epochs"] == 10
    assert len(recorded.results) == MAX_T and len(recorded.iter_s) == MAX_T
    assert recorded.trial_id.startswith("surrogate-")


@pytest.mark.parametrize("searcher", ["tpe", "bo", "anneal", "sobol", "random"])
def test_every_searcher_replays_on_the_surrogate(table, surrogate, searcher):
    strategy = replay.Strategy(f"asha/{searcher}", scheduler="asha", searcher=searcher,
                               concurrent=3, time_s=40.0, max_t=MAX_T, trials=60, space=SPACE)
    sim = replay.replay(table, strategy, seed=2, surrogate=surrogate)
    res = sim.to_results(label=strategy.label, strategy=strategy, seed=2)
    assert res.meta["replay"]["surrogate"] is True
    assert len(res.trials) >= 10
    assert set(res.trials["status"]) <= {"COMPLETED", "STOPPED", "UNFINISHED"}
    assert (res.trials["status"] == "STOPPED").any()  # ASHA stopped some at a rung
    if searcher != "random":
        # the searcher heard every ended trial (Ray's SearchGenerator tells it on_trial_complete)
        ended = (res.trials["status"] != "UNFINISHED").sum()
        assert sim.search.searcher.n_observed == ended


def test_a_model_searcher_learns_on_the_surrogate(table, surrogate):
    """tpe, after its random start, proposes better configs than random search does: the
    replay feeds it results, so the model matters."""
    def mean_final(searcher: str) -> float:
        values = []
        for seed in range(4):
            strategy = replay.Strategy(f"fifo/{searcher}", searcher=searcher, concurrent=1,
                                       max_t=MAX_T, trials=30, space=SPACE,
                                       searcher_options={"n_initial_points": 8}
                                       if searcher == "tpe" else {})
            res = replay.replay(table, strategy, seed, surrogate=surrogate).to_results(
                label="x", strategy=strategy, seed=seed)
            values.append(res.trials.sort_values("trial_id")["score"].iloc[15:].mean())
        return float(np.mean(values))

    assert mean_final("tpe") > mean_final("random") + 0.02


def test_without_a_surrogate_model_searchers_are_still_refused_and_told_how(table):
    strategy = replay.Strategy("asha/bo", scheduler="asha", searcher="bo", max_t=MAX_T,
                               space=SPACE)
    with pytest.raises(HpotkError, match="surrogate"):
        replay.replay(table, strategy)


def test_checkpoints_cost_their_seconds(table, surrogate):
    """The same strategy and seed with a checkpoint every iteration, charged 0.5 s each,
    finishes fewer trials in the same time, and counts its checkpoints."""
    def run(every: int) -> tuple[int, int]:
        strategy = replay.Strategy("asha/random", scheduler="asha", concurrent=2, time_s=60.0,
                                   max_t=MAX_T, trials=200, space=SPACE,
                                   checkpoint_every=every, checkpoint_s=0.5)
        sim = replay.replay(table, strategy, 0, surrogate=surrogate)
        res = sim.to_results(label="x", strategy=strategy, seed=0)
        return int((res.trials["status"] != "UNFINISHED").sum()), sim.checkpoints

    light, heavy = run(0), run(1)
    assert light[1] == 0 and heavy[1] > 0
    assert heavy[0] < light[0]


def test_a_diverged_trial_keeps_its_nan_and_the_surrogate_reads_it_as_the_worst():
    curves = synthetic_curves(20, seed=3)
    first = next(iter(curves.values()))
    first.scores[5:] = [math.nan] * (MAX_T - 5)
    table = replay.load_table(make_table(curves, max_t=MAX_T))
    recorded = table.trials[0] if table.trials[0].config["lr"] == first.lr else next(
        t for t in table.trials if t.config["lr"] == first.lr)
    assert math.isnan(recorded.results[-1]["score"])
    fitted = Surrogate.fit(table)
    assert all(math.isfinite(r["score"]) for r in fitted.curve({"lr": first.lr,
                                                               "width": first.width}, 0).results)


def test_a_table_too_small_for_a_surrogate_says_so():
    table = replay.load_table(make_table(synthetic_curves(5, seed=0), max_t=MAX_T))
    with pytest.raises(HpotkError, match="at least 10 recorded trials"):
        Surrogate.fit(table)


def test_the_recorded_checkpoint_cost_is_read_from_the_checkpointed_iterations():
    curves = synthetic_curves(12, seed=4)
    for c in curves.values():
        c.iter_s = [1.0 + (0.4 if i % 5 == 0 else 0.0) for i in range(1, MAX_T + 1)]
    res = make_table(curves, max_t=MAX_T)
    res.meta["experiment"]["checkpoint"] = {"every": 5}
    assert recorded_checkpoint_s(replay.load_table(res)) == pytest.approx(0.4)
    res.meta["experiment"]["checkpoint"] = {"every": 0}
    assert recorded_checkpoint_s(replay.load_table(res)) is None


def test_a_metric_within_0_and_1_stays_there(surrogate):
    """score (like an accuracy) is modelled on a logit scale: no replayed value, noise
    included, leaves [0, 1], where log-scale noise once gave accuracies above 1."""
    assert surrogate.check().choices["score"].log == "logit"
    configs = [{"lr": 10 ** -2.5, "width": w} for w in (8, 16, 32)]
    values = [r["score"] for seed in range(30) for rec in surrogate.curves(configs, seed)
              for r in rec.results]
    assert 0.0 <= min(values) and max(values) <= 1.0



def test_a_recorded_config_drawing_its_own_residual_replays_its_recorded_curve(surrogate,
                                                                               table):
    """The drawn residual is added to the model fitted without that trial's fold, the model
    its residual was measured from: a recorded config that draws its own residual (at noise
    factor 1) gets its recorded curve back. Added to the model fitted on every trial, which
    is already pulled toward the trial, its luck counted twice: on the quickstart, replays of
    random search put the top-5 test accuracy 0.8 points above the real runs'."""
    import copy

    s = copy.copy(surrogate)
    s.noise_scale = {m: 1.0 for m in s.metrics}
    j = 7
    recorded = table.trials[j]
    x = s.encoder.encode(recorded.config)
    seed = next(k for k in range(400) if s._neighbour(np.array(x), recorded.config, k) == j
                and s._other(np.array(x), recorded.config, k) == j)
    replayed = s.curve(recorded.config, seed)
    assert [r["score"] for r in replayed.results] == pytest.approx(
        [r["score"] for r in recorded.results], abs=1e-9)
    assert replayed.iter_s == pytest.approx(recorded.iter_s, rel=1e-6)


def test_the_check_compares_a_replayed_top_k_with_the_recorded_one(surrogate):
    """`hpotk replay check` says whether a top-5 chosen by the objective among held-out
    predictions plus noise gets the report metric the recorded top-5 got (here loss = 1 -
    score, so they must agree to the noise)."""
    recorded, replayed = surrogate.check().selection["loss"]
    assert abs(replayed - recorded) < 0.01, (recorded, replayed)
    assert "selection: a top-5 by the objective" in surrogate.check().text()


def test_a_replay_draws_each_recorded_trials_residual_once(surrogate):
    """Configs proposed again and again in one place (what a model-based searcher does where
    the model is best) each get a recorded trial's luck of their own within a replay (``used``),
    not copies of one neighbour's: on the quickstart a tpe replay's top 5 were five copies of
    one recorded trial's residual. Without a replay's set, a config's draw stays its own."""
    configs = [{"lr": 10 ** -2.5 * (1 + 1e-4 * k), "width": 16} for k in range(40)]
    x = [np.array(surrogate.encoder.encode(c)) for c in configs]
    used: set[int] = set()
    once = [surrogate._neighbour(p, c, 3, used) for p, c in zip(x, configs, strict=True)]
    again = [surrogate._neighbour(p, c, 3) for p, c in zip(x, configs, strict=True)]
    assert len(set(once)) == len(configs) and used == set(once)
    assert len(set(again)) <= 5  # with replacement: its 5 nearest, over and over
    # every recorded trial drawn: the set starts again
    rest = [surrogate._neighbour(x[0], configs[0], k, used) for k in range(80)]
    assert len(used) < 80 and set(rest) <= set(range(80))


def test_the_calibration_brings_the_top_predictions_down_to_what_they_were_worth():
    """Where a model predicts highest it is most often wrong upwards (the optimiser's curse);
    mapped through `calibration` (recorded on held-out predicted), the top tenth of the
    predictions is worth what those configs recorded."""
    from hpotk.replay.noise import calibration

    rng = np.random.default_rng(0)
    truth = rng.normal(0.0, 1.0, 4000)
    recorded = truth + rng.normal(0.0, 0.5, truth.size)
    predicted = truth + rng.normal(0.0, 0.8, truth.size)  # a model with its own errors
    top = np.argsort(-predicted)[:400]
    calibrated = calibration(predicted, recorded).predict(predicted)
    gap_raw = predicted[top].mean() - recorded[top].mean()
    gap_calibrated = calibrated[top].mean() - recorded[top].mean()
    assert gap_raw > 0.5  # the curse
    assert abs(gap_calibrated) < 0.1
    assert np.all(np.diff(calibrated[np.argsort(predicted)]) >= 0)  # the ranking is kept


def test_the_searchers_time_is_charged_to_the_simulated_clock(table, surrogate, monkeypatch):
    """What the searcher takes (measured as it runs in the replay) delays the trials, as
    Tune's driver does: a searcher that takes 0.5 s a call finishes fewer trials in the same
    time, and the replay says how long it took. With ``charge_searcher`` off (a study's
    ``charge_searcher: false``) its time is measured but not charged."""
    import itertools
    import types

    from hpotk.replay import search as search_module

    def run(charge: bool = True) -> tuple[int, float]:
        strategy = replay.Strategy("asha/tpe", scheduler="asha", searcher="tpe", concurrent=2,
                                   time_s=40.0, max_t=MAX_T, trials=200, space=SPACE,
                                   charge_searcher=charge)
        sim = replay.replay(table, strategy, 1, surrogate=surrogate)
        res = sim.to_results(label="x", strategy=strategy, seed=1)
        return int((res.trials["status"] != "UNFINISHED").sum()), res.meta["replay"]["searcher_s"]

    quick, quick_s = run()
    ticks = itertools.count(0.0, 0.25)  # two reads a call: 0.5 s a call
    monkeypatch.setattr(search_module, "time",
                        types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    slow, slow_s = run()
    assert slow_s > 10 * quick_s and slow_s >= 0.5 * slow
    assert slow < quick
    free, free_s = run(charge=False)
    assert free_s > 10 * quick_s and free > slow
