"""Suggestion latency of the ``bo`` searcher (Dragonfly GP bandit) against ``tpe`` (hyperopt).

Both searchers run the same sequential experiment in one process — a fixed synthetic objective
over a mixed space (float, log-float, int, categorical, power-of-two choice) — and every
``suggest()`` and ``on_trial_complete()`` call is timed. Printed: per searcher, the latency of
model-based suggestions (after the random/Sobol start) — mean, median, 90th percentile, max —
for bo also split into suggestions that re-tune the GP and those that do not, then the ratio
bo / tpe of the mean model-based suggestion latency, and how long a suggestion takes while
trials are in flight (bo hallucinates them). While a suggestion is computed, Tune's driver does
nothing else: a freed worker waits that long for its next trial.

    .venv/bin/python benchmarks/bo_latency.py                 # 40 evaluations, seed 0
    .venv/bin/python benchmarks/bo_latency.py --evaluations 60 --acq ucb
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hpotk.searchers import SearchContext, make  # noqa: E402
from hpotk.space.param import Param, Space  # noqa: E402


def space() -> Space:
    params = [
        Param("x", "float", "linear", low=-5.0, high=10.0),
        Param("lr", "float", "log", low=1e-4, high=1e-1),
        Param("layers", "int", "linear", low=1, high=8),
        Param("act", "categorical", "choice", choices=("relu", "tanh", "gelu")),
        Param("batch", "int", "choice", choices=(16, 32, 64, 128)),
    ]
    return Space(params={p.name: p for p in params})


def objective(c: dict) -> float:
    act = {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[c["act"]]
    return ((c["x"] - 2.0) ** 2 / 10 + (math.log10(c["lr"]) + 2.5) ** 2 + (c["layers"] - 3) ** 2 / 4
            + act + abs(math.log2(c["batch"]) - 5) / 3)


def summary(times: list[float]) -> str:
    if not times:
        return "n=0"
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"n={len(times):3d}  mean {statistics.mean(times) * 1e3:8.1f} ms  "
            f"median {statistics.median(times) * 1e3:8.1f} ms  p90 {p90 * 1e3:8.1f} ms  "
            f"max {max(times) * 1e3:8.1f} ms")


def run(name: str, options: dict, evaluations: int, seed: int, in_flight: int) -> dict:
    ctx = SearchContext(space=space(), metric="loss", mode="min", seed=seed, trials=evaluations)
    searcher = make(name, ctx, options).search_alg
    model, complete, refit, no_refit, best = [], [], [], [], math.inf
    for i in range(evaluations):
        fitted_before = getattr(searcher, "fitted_at", None)
        model_based_before = getattr(searcher, "n_model", None)
        start = time.perf_counter()
        config = searcher.suggest(f"t{i}")
        elapsed = time.perf_counter() - start
        if name == "bo":
            if searcher.n_model > model_based_before:
                model.append(elapsed)
                (refit if searcher.fitted_at != fitted_before else no_refit).append(elapsed)
        elif i >= options.get("n_initial_points", 20):
            model.append(elapsed)
        value = objective(config)
        best = min(best, value)
        start = time.perf_counter()
        searcher.on_trial_complete(f"t{i}", {"loss": value})
        complete.append(time.perf_counter() - start)
    # suggestions with trials in flight (a full cluster asking for work at once)
    concurrent = []
    for j in range(in_flight):
        start = time.perf_counter()
        searcher.suggest(f"c{j}")
        concurrent.append(time.perf_counter() - start)
    return {"model": model, "complete": complete, "refit": refit, "no_refit": no_refit,
            "concurrent": concurrent, "best": best}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--acq", default=None, help="bo acquisition (default: bo's default)")
    parser.add_argument("--acq-opt-max-evals", type=int, default=None)
    args = parser.parse_args(argv)

    bo_options = {k: v for k, v in {"acq": args.acq,
                                    "acq_opt_max_evals": args.acq_opt_max_evals}.items() if v}
    tpe_options = {"n_initial_points": 10}
    results = {}
    for name, options in (("tpe", tpe_options), ("bo", bo_options)):
        results[name] = run(name, options, args.evaluations, args.seed, args.in_flight)
        r = results[name]
        print(f"{name:4s} model-based suggest: {summary(r['model'])}")
        if name == "bo":
            print(f"       re-tuning the GP:  {summary(r['refit'])}")
            print(f"       GP re-used:        {summary(r['no_refit'])}")
        print(f"{name:4s} on_trial_complete:   {summary(r['complete'])}")
        print(f"{name:4s} suggest, {args.in_flight} in flight: {summary(r['concurrent'])}")
        print(f"{name:4s} best loss after {args.evaluations} evaluations: {r['best']:.4f}")
    ratio = statistics.mean(results["bo"]["model"]) / statistics.mean(results["tpe"]["model"])
    print(f"bo/tpe suggestion latency ratio (mean, model-based): {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
