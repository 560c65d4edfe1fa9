"""How docs/replay_vs_real.png was made: real asha/random runs of the quickstart against a
replay of asha/random on a fifo/random table of the same experiment.

    hpotk run experiments/quickstart.yaml --set strategy=fifo/random --set budget.trials=64 \
        --set name=quickstart-fifo64                     # the table (seed 0)
    hpotk study STUDY.yaml                               # the real runs: a study of asha/random
    python docs/replay_vs_real.py TABLE_DIR REAL_STRATEGY_DIR WINDOW_S OUT.png

Both sides are measured from each run's first trial start over the first WINDOW_S seconds (on
a loaded machine Ray's start-up took 50-130 s and varied from run to run), and each replayed
seed runs at the speed of one real run, measured on the nearest recorded configs
(`hpotk.replay.time_ratio`): the check is of the schedulers' decisions, not of the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hpotk import replay, results
from hpotk.experiment import load

REPO = Path(__file__).resolve().parents[1]


def main(table_dir: str, real_dir: str, window: float, out: str, seeds: int = 10) -> None:
    real = [r for r in (results.load(p) for p in sorted(Path(real_dir).glob("seed*")))
            if r.status == "complete"]
    real = [r for r in real if replay.aligned(r).meta["budget"]["time_s"] >= window]
    table = replay.load_table(table_dir)
    speed = [replay.time_ratio(table, [r], nearest=True)[0] for r in real]
    exp = load(REPO / "experiments" / "quickstart.yaml",
               [f"budget.time_s={window}", "budget.trials=1000", "budget.concurrent=2"])
    replayed = []
    for seed in range(seeds):
        scaled = table.scaled(speed[seed % len(speed)])
        scaled.launch_s = 0.0  # measured from the first trial start, like the real runs
        strategy = replay.strategy_of(exp, table=scaled, time_s=window)
        replayed.append(replay.replay(scaled, strategy, seed=seed).to_results(
            label=strategy.label, strategy=strategy, seed=seed))
    a = replay.agreement([replay.aligned(r, until=window) for r in real], replayed,
                         report_metric="test_acc", top_k=5)
    print(f"machine speed of the real runs (x the recording): {[round(s, 2) for s in speed]}")
    print(a.text())
    replay.plot_agreement(
        a, out, title=f"quickstart asha/random, {window:.0f} s: replayed on a fifo/random "
                      f"table vs real runs",
        note=f"time from each run's first trial start; real: {len(real)} hpotk study runs; "
             f"replayed: {seeds} seeds, {len(table.trials)} recorded trials, seconds scaled by "
             f"each real run's measured load")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
