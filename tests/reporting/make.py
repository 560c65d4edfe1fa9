"""Hand-made `Results` for the figure tests: any number of trials, NaN metrics, ERROR rows,
log / categorical / bool / int params, a running experiment, any scheduler.

The objective is planted: ``val_loss`` falls with the iteration and is lowest near lr = 1e-2,
so tests can check that a figure (or the importance) shows what is there.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpotk.results import Freshness, Results

PARAMS = {
    "lr": {"kind": "float", "scale": "log", "low": 1e-4, "high": 1e-1, "choices": None,
           "role": "algorithm"},
    "hidden": {"kind": "int", "scale": "choice", "low": None, "high": None,
               "choices": [32, 64, 128], "role": "model"},
    "optimizer": {"kind": "categorical", "scale": "choice", "low": None, "high": None,
                  "choices": ["adam", "sgd"], "role": "algorithm"},
    "batch_norm": {"kind": "bool", "scale": "choice", "low": None, "high": None,
                   "choices": [False, True], "role": "model"},
    "layers": {"kind": "int", "scale": "linear", "low": 1, "high": 4, "choices": None,
               "role": "model"},
}


def make(n: int, *, max_t: int = 9, errors: int = 0, nan: int = 0, running: int = 0,
         scheduler: dict[str, Any] | None = None, concurrent: int = 4, seed: int = 0,
         params: dict[str, dict] | None = None, path: Path | None = None,
         nodes: int = 1, mode: str = "min") -> Results:
    """``n`` trials of a made-up experiment on ``val_loss``.

    ``errors`` trials end in ERROR after one iteration with no metric; ``nan`` trials report
    NaN throughout; the last ``running`` trials are still running (and the experiment too).
    Trials run ``concurrent`` at a time, back to back, 1 s per iteration after a 5 s start-up.
    """
    rng = np.random.default_rng(seed)
    params = PARAMS if params is None else params
    scheduler = {"name": "asha", "grace_period": 1, "reduction_factor": 3} if scheduler is None \
        else scheduler
    started = 1_700_000_000.0
    free_at = [5.0] * concurrent
    trials, history = [], []
    for i in range(n):
        trial_id = f"abcde_{i:05d}"
        config = {
            "lr": float(10 ** rng.uniform(-4, -1)),
            "hidden": int(rng.choice([32, 64, 128])),
            "optimizer": str(rng.choice(["adam", "sgd"])),
            "batch_norm": bool(rng.integers(2)),
            "layers": int(rng.integers(1, 5)),
        }
        config = {k: v for k, v in config.items() if k in params}
        is_error = i < errors
        is_nan = errors <= i < errors + nan
        is_running = i >= n - running
        iterations = 1 if is_error else int(rng.choice([1, 3, max_t]))
        if is_running:
            iterations = max(1, iterations // 2)
        slot = int(np.argmin(free_at))
        start = free_at[slot]
        status = ("ERROR" if is_error else "RUNNING" if is_running else
                  "COMPLETED" if iterations == max_t else "STOPPED")
        values = []
        for it in range(1, iterations + 1):
            base = abs(math.log10(config.get("lr", 1e-2)) + 2) + 1.0 / it
            value = math.nan if is_nan else base + 0.01 * float(rng.normal())
            if not is_error:
                values.append(value)
                row = {"trial_id": trial_id, "iteration": it, "time_s": start + it,
                       "timestamp": started + start + it, "time_this_iter_s": 1.0,
                       "time_total_s": float(it), "val_loss": value, "acc": 1 - value / 3,
                       "node": f"node{slot % nodes}"}
                row.update({f"config/{k}": v for k, v in config.items()})
                history.append(row)
        end = start + iterations
        free_at[slot] = end
        finite = [v for v in values if math.isfinite(v)]
        best = (min(finite) if mode == "min" else max(finite)) if finite else math.nan
        trial = {"trial_id": trial_id, "status": status,
                 **{f"config/{k}": v for k, v in config.items()},
                 "val_loss": values[-1] if values else math.nan,
                 "best_val_loss": best, "acc": (1 - values[-1] / 3) if values else math.nan,
                 "iterations": 0 if is_error else iterations, "time_s": float(iterations),
                 "node": f"node{slot % nodes}",
                 "error": "RuntimeError: CUDA out of memory\n  traceback..." if is_error else "",
                 "start_s": start, "end_s": end if not is_error else start + 0.5}
        trials.append(trial)
    trials_frame = pd.DataFrame(trials)
    history_frame = pd.DataFrame(history)
    if history_frame.empty:
        history_frame = pd.DataFrame(columns=["trial_id", "iteration", "time_s", "timestamp",
                                              "val_loss", "node"])
    last = max([t["end_s"] for t in trials], default=0.0)
    meta = {
        "name": f"made-{n}", "metric": "val_loss", "mode": mode,
        "strategy": f"{scheduler.get('name', 'fifo')}/random", "scheduler": scheduler,
        "searcher": {"name": "random"},
        "budget": {"trials": n, "concurrent": concurrent, "max_t": max_t, "time_s": None},
        "plan": "experiment made: a hand-made plan text\nbudget: ...",
        "started": started, "finished": None if running else started + last,
        "status": "running" if running else "complete", "nodes": [],
        "params": {k: v for k, v in params.items()},
    }
    freshness = Freshness("live" if running else "summary", started + last,
                          started + last + (3.0 if running else 60.0))
    if path is None:
        path = Path("/nonexistent/made")
    return Results(Path(path), meta, trials_frame, history_frame, freshness)




def write_dir(res: Results, path: Path, status: str = "complete") -> Path:
    """Write ``res`` as a results directory `hpotk.results.load` reads (hpotk.json,
    experiment.json, trials.csv, history.csv, plan.txt, best.json)."""
    import json

    path.mkdir(parents=True, exist_ok=True)
    meta = res.meta
    state = {"status": status, "name": meta["name"], "started": meta["started"],
             "finished": meta["finished"], "metric": meta["metric"], "mode": meta["mode"],
             "strategy": meta["strategy"], "params": meta["params"], "budget": meta["budget"],
             "runs": [{"host": "elsewhere", "pid": 1, "started": meta["started"]}]}
    (path / "hpotk.json").write_text(json.dumps(state))
    experiment = {"name": meta["name"], "metric": {"name": meta["metric"], "mode": meta["mode"]},
                  "strategy": {"scheduler": meta["scheduler"], "searcher": meta["searcher"]},
                  "budget": meta["budget"]}
    (path / "experiment.json").write_text(json.dumps(experiment))
    res.trials.to_csv(path / "trials.csv", index=False)
    res.history.to_csv(path / "history.csv", index=False)
    (path / "plan.txt").write_text(meta["plan"])
    best = res.best()
    if best is not None and status != "running":
        (path / "retrain.yaml").write_text("name: made-best\n")
        (path / "best.json").write_text(json.dumps({
            "trial_id": best["trial_id"], "retrain": f"hpotk run {path / 'retrain.yaml'}"}))
    return path
