"""Trial start latency with and without ``reuse_actors`` (the NERSC Ray Tune guide: reuse_actors + reset_config
saves reloading the dataset each time a trial ends and the next begins).

Runs the same small Tune experiment twice on a local Ray — once starting a fresh actor per trial,
once reusing actors through ``reset_config`` — and prints the median trial start latency of each
and their ratio. A trial's start latency is the time from its slot becoming free (the run starting,
or the slot's previous trial ending) to its first result reaching the driver, minus the first
iteration's own training time: actor start, imports, data loading and model building (or,
reused, ``reset_config``), plus Tune's own scheduling.

    .venv/bin/python benchmarks/reuse_actors.py                # cgcnn on 200 EMT structures
    .venv/bin/python benchmarks/reuse_actors.py --trainable mlp-digits --trials 12

Ray is started with its own auth token and temp dir (nothing under ~/.ray); generated data goes
to $HPOTK_DATA_DIR (default ~/.cache/hpotk) and is built before the timed runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = {
    "cgcnn": {"name": "emt-adsorption", "size": 200, "seed": 0},
    "mlp-digits": {"seed": 0},
}
SPACE = {
    "cgcnn": {"lr": ("loguniform", 1e-3, 1e-2), "batch_size": ("choice", [40, 61, 79]),
              "atom_embedding_size": ("choice", [16]), "num_graph_conv_layers": ("choice", [2]),
              "fc_feat_size": ("choice", [32]), "num_fc_layers": ("choice", [1])},
    "mlp-digits": {"lr": ("loguniform", 1e-3, 1e-2), "batch_size": ("choice", [32, 64]),
                   "hidden_size": ("choice", [64]), "num_layers": ("choice", [1])},
}


def run_once(trainable: str, reuse: bool, trials: int, concurrent: int, iterations: int,
             storage: str) -> dict[str, float]:
    """One experiment; the start latency (s) of each trial and the wall time."""
    from ray import tune

    from hpotk.trainables import TRAINABLES
    from hpotk.trainables.base import TrainContext

    free_since: list[float] = []  # when each slot became free: run start, then trial ends
    latencies: list[float] = []

    class Latency(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            free_since.append(time.time())

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result.get("training_iteration") == 1:
                freed = free_since.pop(0)
                latencies.append(time.time() - freed - result["time_this_iter_s"])

    cls = TRAINABLES.resolve(trainable)
    context = TrainContext(data=DATA[trainable], metric="train_loss", mode="min")
    space = {name: getattr(tune, kind)(*args) for name, (kind, *args) in SPACE[trainable].items()}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(cls, context=context), {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=concurrent,
                                    reuse_actors=reuse),
        run_config=tune.RunConfig(storage_path=storage, name=f"reuse-{reuse}",
                                  stop={"training_iteration": iterations}, callbacks=[Latency()],
                                  verbose=0),
    )
    start = time.perf_counter()
    free_since.extend([time.time()] * concurrent)
    grid = tuner.fit()
    wall = time.perf_counter() - start
    if grid.errors:
        raise SystemExit(f"{len(grid.errors)} trials failed: {grid.errors[0]}")
    return {"median": statistics.median(latencies), "mean": statistics.fmean(latencies),
            "first": latencies[0], "wall": wall, "n": len(latencies)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainable", choices=sorted(DATA), default="cgcnn")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=1, help="training iterations a trial")
    args = parser.parse_args(argv)

    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    import ray

    if args.trainable == "cgcnn":  # build the data outside the timed runs
        from hpotk.data import prepare

        params = {k: v for k, v in DATA["cgcnn"].items() if k != "name"}
        print(prepare("emt-adsorption", **params), flush=True)

    temp = tempfile.mkdtemp(prefix="hpotk-bench-", dir="/tmp")
    ray.init(num_cpus=args.concurrent, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", _temp_dir=temp)
    try:
        results = {}
        for reuse in (False, True):
            results[reuse] = run_once(args.trainable, reuse, args.trials, args.concurrent,
                                      args.iterations, temp)
    finally:
        ray.shutdown()

    print(f"{args.trainable}: {args.trials} trials, {args.concurrent} at a time, "
          f"{args.iterations} iteration(s) each, {os.cpu_count()} CPUs")
    for reuse, r in results.items():
        print(f"  reuse_actors={str(reuse):5}  start latency median {r['median']:.2f} s  "
              f"mean {r['mean']:.2f} s  (first trial {r['first']:.2f} s)  wall {r['wall']:.1f} s")
    ratio = results[False]["median"] / max(results[True]["median"], 1e-9)
    print(f"start latency ratio (fresh actors / reused actors, median): {ratio:.1f}x")
    print(f"wall time ratio: {results[False]['wall'] / results[True]['wall']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
