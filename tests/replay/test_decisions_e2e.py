"""Ray Tune's ASHA decides in replay as it decided in a real run, given the same results in the
same order.

Two tiny real runs of the quickstart with the same seed (so the same configs, in the same order,
trained identically: a trial's seed depends on the experiment seed and its config): fifo/random,
every trial to max_t, is the table; asha/random is the real run. With one worker the results
reach the scheduler in trial order, so the replayed ASHA sees the real run's results in the
real run's order, and must stop the same trials at the same iterations.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpotk import replay, results
from hpotk.experiment import load

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
# rungs at 1 and 2 of max_t 4; seed 0 draws configs ASHA stops some of (checked below)
SETTINGS = ["budget.concurrent=1", "budget.max_t=4", "budget.trials=5", "seed=0"]
ASHA = ["strategy=asha/random", "strategy.scheduler.grace_period=1",
        "strategy.scheduler.reduction_factor=2"]

pytestmark = pytest.mark.e2e


def run(hpotk_cli, tmp_path: Path, name: str, extra: list[str]) -> results.Results:
    args = ["run", QUICKSTART, "--quiet", "--set", f"results={name}"]
    for item in SETTINGS + extra:
        args += ["--set", item]
    code, out, err = hpotk_cli(*args)
    assert code == 0, out + err
    return results.load(tmp_path / name / "quickstart")


def test_asha_decides_in_replay_as_in_the_real_run(hpotk_cli, tmp_path):
    table = replay.load_table(run(hpotk_cli, tmp_path, "table", ["strategy=fifo/random"]))
    real = run(hpotk_cli, tmp_path, "real", ASHA)

    # the real run's trials are the table's configs (an unknown one would raise here)
    real_trials = real.trials.sort_values("start_s")
    params = table.params
    to_table = {row["trial_id"]: table.lookup({p: row[f"config/{p}"] for p in params}).trial_id
                for row in real_trials.to_dict("records")}
    assert len(set(to_table.values())) == len(real_trials) == 5

    # ... and trained identically: the curves agree where the real run has them
    recorded = {t.trial_id: t for t in table.trials}
    for row in real.history.to_dict("records"):
        expected = recorded[to_table[row["trial_id"]]].results[int(row["iteration"]) - 1]
        assert row["val_acc"] == pytest.approx(expected["val_acc"], abs=1e-6)

    exp = load(QUICKSTART, [*SETTINGS, *ASHA])
    strategy = replay.strategy_of(exp, table=table)
    sim = replay.replay(table, strategy, seed=0,
                        order=[to_table[t] for t in real_trials["trial_id"]])
    names = {run.trial.trial_id: run.recorded.trial_id for run in sim.runs.values()}

    # the same results in the same order ...
    assert [(names[h["trial_id"]], h["iteration"]) for h in sim.history] == \
        [(to_table[r["trial_id"]], int(r["iteration"])) for r in real.history.to_dict("records")]
    # ... so the same decisions: every trial stopped at the same iteration
    real_iterations = {to_table[r["trial_id"]]: int(r["iterations"])
                       for r in real.trials.to_dict("records")}
    assert sim.stopped_at() == real_iterations
    assert min(real_iterations.values()) < 4, "ASHA stopped nothing: the test shows nothing"
    replayed = sim.to_results(label="asha/random", strategy=strategy, seed=0).trials
    assert dict(zip(replayed["replayed_from"], replayed["status"], strict=True)) == {
        to_table[r["trial_id"]]: r["status"] for r in real.trials.to_dict("records")}
