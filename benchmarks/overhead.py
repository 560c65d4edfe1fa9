"""hpotk's overhead against plain Ray Tune: the same trainable, trials, concurrency and actor
reuse, run both ways in one run, pairs alternated.

The trainable is a function that reports 3 trivial results (`benchmarks/_trivial.py`), so what
is measured is bookkeeping: Tune's own, and hpotk's on top of it (its logs, Tune state saves,
progress line, summary). Each side is a driver subprocess (``hpotk run`` with its progress line
on, into a file; a plain ``tune.Tuner`` script) connected to one local Ray started here with
``--concurrent`` CPUs, so both drivers see the same cluster. For each size (``--sizes``) it runs
``--repeats`` pairs, alternating which side goes first, and prints per run the wall time and the
driver's user and system CPU (``getrusage(RUSAGE_CHILDREN)`` deltas), then per size the medians,
the ratio of wall times (median and range over the pairs) and hpotk's overhead per trial
((hpotk wall - Ray Tune wall) / trials). It also counts Ray's "may be a performance bottleneck"
warnings in each driver's output.

    .venv/bin/python benchmarks/overhead.py                       # 100, 300, 1000 trials, 2 pairs
    .venv/bin/python benchmarks/overhead.py --sizes 300,3000 --repeats 3
    .venv/bin/python benchmarks/overhead.py --sizes 10000 --repeats 1 --keep

The machine is shared: alternate pairs and read the range, not one number.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINABLE = Path(__file__).resolve().parent / "_trivial.py"

RAY_SCRIPT = """\
import sys
import ray.cloudpickle
from ray import tune
sys.path.insert(0, {bench_dir!r})
import _trivial
ray.cloudpickle.register_pickle_by_value(_trivial)  # the workers get it as hpotk sends it
train = _trivial.train

tuner = tune.Tuner(
    train,
    param_space={{"x": tune.uniform(0.0, 1.0)}},
    tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples={trials},
                                max_concurrent_trials={concurrent}, reuse_actors=True),
    run_config=tune.RunConfig(name="ray", storage_path={storage!r}, verbose=0,
                              stop={{"training_iteration": 3}}),
)
grid = tuner.fit()
assert len(grid) == {trials} and not grid.errors, (len(grid), grid.errors)
"""

HPOTK_EXPERIMENT = """\
name: hpotk
trainable: {trainable}:train
space:
  x: {{type: continuous, min_value: 0.0, max_value: 1.0}}
metric: {{name: loss, mode: min}}
strategy: fifo/random
budget: {{trials: {trials}, concurrent: {concurrent}, max_t: 3}}
reuse_actors: true
results: {storage}
"""

BOTTLENECK = "may be a performance bottleneck"

# hpotk silences Ray Tune's driver loggers below -v (hpotk._output); the loggers that warn of a
# slow loop step or state save get a handler of their own, so their warnings are counted
HPOTK_DRIVER = """\
import logging, sys
for name in ("ray.tune.utils.util", "ray.tune.execution.tune_controller",
             "ray.tune.execution.experiment_state"):
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    logger.addHandler(logging.StreamHandler())
    logger.propagate = False  # counted once
from hpotk.cli import main
sys.exit(main())
"""


def run_side(side: str, trials: int, concurrent: int, address: str, work: Path) -> dict:
    """One driver subprocess; its wall time, user and system CPU, and bottleneck warnings."""
    storage = work / f"{side}-{trials}-{time.monotonic_ns()}"
    storage.mkdir(parents=True)
    if side == "ray":
        script = storage / "plain_tune.py"
        script.write_text(RAY_SCRIPT.format(bench_dir=str(TRAINABLE.parent), trials=trials,
                                            concurrent=concurrent, storage=str(storage)))
        argv = [sys.executable, str(script)]
    else:
        exp = storage / "overhead.yaml"
        exp.write_text(HPOTK_EXPERIMENT.format(trainable=TRAINABLE, trials=trials,
                                               concurrent=concurrent, storage=storage))
        argv = [sys.executable, "-c", HPOTK_DRIVER, "run", str(exp)]
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_ADDRESS=address, HPOTK_PROGRESS_S="30")
    log_path = storage / "driver.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        code = subprocess.run(argv, env=env, cwd=storage, stdout=log, stderr=subprocess.STDOUT,
                              check=False).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = log_path.read_text(errors="replace")
    if code != 0:
        raise SystemExit(f"{side} at {trials} trials exited {code}; its output: {log_path}\n"
                         + output[-3000:])
    return {"wall": wall, "user": after.ru_utime - before.ru_utime,
            "sys": after.ru_stime - before.ru_stime,
            "warnings": output.count(BOTTLENECK), "dir": storage}


def _spread(values: list[float], fmt: str) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return format(median, fmt)
    return f"{format(median, fmt)} [{format(min(values), fmt)}..{format(max(values), fmt)}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,300,1000",
                        help="comma-separated trial counts (default 100,300,1000)")
    parser.add_argument("--repeats", type=int, default=2, help="pairs per size (default 2)")
    parser.add_argument("--concurrent", type=int, default=2,
                        help="trials at a time, and the local Ray's CPUs (default 2)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the results directories (else they are deleted)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import ray

    work = Path(tempfile.mkdtemp(prefix="hpotk-overhead-"))
    ray.init(num_cpus=args.concurrent, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False, _temp_dir=f"/tmp/hpotk-oh-{os.getpid()}")
    address = ray.get_runtime_context().gcs_address
    print(f"a function trainable reporting 3 trivial results; fifo/random, {args.concurrent} "
          f"concurrent, reuse_actors; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
          flush=True)
    summary = []
    try:
        for trials in sizes:
            runs: dict[str, list[dict]] = {"hpotk": [], "ray": []}
            for repeat in range(args.repeats):
                order = ("hpotk", "ray") if repeat % 2 == 0 else ("ray", "hpotk")
                for side in order:
                    r = run_side(side, trials, args.concurrent, address, work)
                    runs[side].append(r)
                    print(f"  {trials:>6} trials  {side:<5}  wall {r['wall']:7.1f} s  "
                          f"user {r['user']:6.1f} s  sys {r['sys']:6.1f} s  "
                          f"bottleneck warnings {r['warnings']}  "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
                    if not args.keep:
                        shutil.rmtree(r["dir"], ignore_errors=True)
            summary.append((trials, runs))
    finally:
        ray.shutdown()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nmedian [min..max] over {args.repeats} pair(s); CPU is the driver process's")
    print(f"{'trials':>7} | {'hpotk wall':>10} | {'Tune wall':>10} | {'ratio':>18} | "
          f"{'overhead/trial':>24} | {'hpotk user+sys':>14} | {'Tune user+sys':>13} | warnings")
    for trials, runs in summary:
        h, r = runs["hpotk"], runs["ray"]
        ratios = [a["wall"] / b["wall"] for a, b in zip(h, r, strict=True)]
        per_trial = [(a["wall"] - b["wall"]) / trials * 1000 for a, b in zip(h, r, strict=True)]
        print(f"{trials:>7} | {statistics.median(x['wall'] for x in h):>8.1f} s | "
              f"{statistics.median(x['wall'] for x in r):>8.1f} s | "
              f"{_spread(ratios, '.2f'):>18} | {_spread(per_trial, '.1f') + ' ms':>24} | "
              f"{statistics.median(x['user'] for x in h):>5.1f}+"
              f"{statistics.median(x['sys'] for x in h):<5.1f} s | "
              f"{statistics.median(x['user'] for x in r):>5.1f}+"
              f"{statistics.median(x['sys'] for x in r):<5.1f} s | "
              f"{sum(x['warnings'] for x in h)}")
    if args.keep:
        print(f"results directories and driver logs: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
