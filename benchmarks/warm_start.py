"""Does a warm start pay? Trials to reach an earlier run's best, warm against cold, per seed.

One earlier cold run of ``experiments/quickstart.yaml`` (seed ``--earlier-seed``) sets the
target: its best ``val_acc``. Then, for each seed, a cold run and a warm-started run
(``warm_start: {from: <the earlier run>, mode, top}``) with that same seed; each gets the
number of trials (in the order Tune created them) until one reached the target, or "-" when
none did, and the mean best val_acc of its first 3 trials (how well it starts). A trial's seed depends on the experiment's seed and its config
(`hpotk.trainables.base.config_seed`), so an earlier config re-run under another seed scores
differently: reaching the target is not a replay.

    .venv/bin/python benchmarks/warm_start.py                       # ~3 min on 2 shared cores
    .venv/bin/python benchmarks/warm_start.py --mode history --strategy asha/tpe

Overrides of the quickstart: ``--strategy`` fifo/random (the file's asha/random compares the
first trials with one another at its first rung, so under it two of the three earlier top
configs are stopped after 2 epochs: that measures ASHA, not the warm start; pass
``--strategy asha/random`` to see it), ``--max-t`` 10 (budget.max_t, the file says 15),
``--trials`` 16 (budget.trials, as the file); 2 at a time. The strategy applies to the
earlier, cold and warm runs alike.
Ray is started once, with its own auth token and temp dir (nothing under ~/.ray).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
QUICKSTART = REPO / "experiments" / "quickstart.yaml"


def run(name: str, seed: int, out: Path, args: argparse.Namespace,
        warm_from: Path | None = None) -> list[float]:
    """One run of the quickstart; each trial's best val_acc, in the order of creation."""
    from hpotk import experiment, results, runner

    overrides = [f"name={name}", f"seed={seed}", f"results={out}",
                 f"budget.trials={args.trials}", f"budget.max_t={args.max_t}",
                 f"strategy={args.strategy}"]
    if warm_from is not None:
        overrides += [f"warm_start.from={warm_from}", f"warm_start.mode={args.mode}"]
        if args.top is not None:  # history takes every earlier trial unless top is given
            overrides.append(f"warm_start.top={args.top}")
    exp = experiment.load(QUICKSTART, overrides)
    outcome = runner.run(exp, verbose=0)
    if outcome.status != "complete":
        raise SystemExit(f"{name}: {outcome.status} {outcome.reason}")
    trials = results.load(outcome.results_dir).trials.sort_values("trial_id")
    return [float(v) for v in trials["best_val_acc"]]


def trials_to(target: float, values: list[float]) -> int | None:
    """1-based index of the first trial whose best reached ``target``; None if none did."""
    return next((i + 1 for i, v in enumerate(values) if v >= target), None)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--earlier-seed", type=int, default=100)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--max-t", type=int, default=10)
    parser.add_argument("--mode", choices=["configs", "history"], default="configs")
    parser.add_argument("--top", type=int, default=None,
                        help="warm_start.top (default: 3 configs; history: every trial)")
    parser.add_argument("--strategy", default="fifo/random")
    parser.add_argument("--out", type=Path, default=None, help="results here (default: a temp dir)")
    args = parser.parse_args()
    if args.top is None and args.mode == "configs":
        args.top = 3

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    import ray

    temp = Path(tempfile.mkdtemp(prefix="hpotk-ws-", dir="/tmp"))
    out = (args.out or temp / "results").resolve()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             _temp_dir=str(temp / "ray"))
    started = time.perf_counter()
    earlier = run("earlier", args.earlier_seed, out, args)
    target = max(earlier)
    rows = []
    for seed in args.seeds:
        cold = run(f"cold-{seed}", seed, out, args)
        warm = run(f"warm-{seed}", seed, out, args, warm_from=out / "earlier")
        rows.append((seed, trials_to(target, cold), trials_to(target, warm), max(cold),
                     max(warm), _mean(cold[:3]), _mean(warm[:3])))
    ray.shutdown()

    print(f"quickstart, {args.strategy}, budget.trials={args.trials}, budget.max_t={args.max_t}; "
          f"warm start mode {args.mode}, top {args.top or 'all'}, from one earlier cold run "
          f"(seed {args.earlier_seed}): best val_acc {target:.4f}, reached at trial "
          f"{trials_to(target, earlier)} of {len(earlier)}")
    print(f"{'seed':>4}  {'cold: trials to target':>22}  {'warm: trials to target':>22}  "
          f"{'cold best':>9}  {'warm best':>9}  {'cold first 3':>12}  {'warm first 3':>12}")
    for seed, cold_n, warm_n, cold_best, warm_best, cold_3, warm_3 in rows:
        print(f"{seed:>4}  {cold_n or '-':>22}  {warm_n or '-':>22}  {cold_best:>9.4f}  "
              f"{warm_best:>9.4f}  {cold_3:>12.4f}  {warm_3:>12.4f}")
    fewer = sum(1 for _, c, w, *_ in rows if w is not None and (c is None or w < c))
    print(f"warm reached the target in fewer trials than cold in {fewer} of {len(rows)} seeds "
          f"('-': not within {args.trials} trials); {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
