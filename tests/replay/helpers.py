"""Hand-made replay tables: `Results` objects built in memory, with known curves and times."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hpotk.results import Freshness, Results

PARAMS = {
    "lr": {"kind": "float", "scale": "log", "low": 1e-4, "high": 1e-1, "choices": None,
           "role": "algorithm"},
    "width": {"kind": "int", "scale": "choice", "low": None, "high": None,
              "choices": [8, 16, 32], "role": "model"},
}


@dataclass
class Curve:
    """One recorded trial: its config, its score after each iteration, the seconds of each and
    the seconds its start cost."""

    lr: float
    width: int
    scores: list[float]
    iter_s: list[float]
    setup_s: float = 0.5
    status: str = "COMPLETED"
    fixed: dict = field(default_factory=lambda: {"epochs": 10})


def make_table(curves: dict[str, Curve], *, max_t: int, launch_s: float = 10.0,
               mode: str = "max", concurrent: int = 1) -> Results:
    """A results directory's content as if the trials ran one after another (``concurrent``
    must be 1 for the recorded setup times to be exact): the first starts at ``launch_s``, each
    next one when the previous one ended."""
    history, trials = [], []
    now = launch_s
    for trial_id, c in curves.items():
        start = now
        t = start + c.setup_s
        total = 0.0
        config = {"lr": c.lr, "width": c.width, **c.fixed}
        for i, (score, seconds) in enumerate(zip(c.scores, c.iter_s, strict=True)):
            t += seconds
            total += seconds
            history.append({"trial_id": trial_id, "iteration": i + 1, "time_s": t,
                            "timestamp": 1000.0 + t, "time_this_iter_s": seconds,
                            "time_total_s": total, "score": score, "loss": 1.0 - score,
                            **{f"config/{k}": v for k, v in config.items()}})
        trials.append({"trial_id": trial_id, "status": c.status,
                       **{f"config/{k}": v for k, v in config.items()},
                       "score": c.scores[-1], "best_score": max(c.scores),
                       "iterations": len(c.scores), "time_s": total, "start_s": start,
                       "end_s": t})
        now = t
    meta = {"name": "table", "metric": "score", "mode": mode, "strategy": "fifo/random",
            "budget": {"trials": len(curves), "concurrent": concurrent, "max_t": max_t,
                       "time_s": None},
            "scheduler": {"name": "fifo"}, "searcher": {"name": "random"}, "seed": 0,
            "started": 1000.0, "finished": 1000.0 + now, "status": "complete", "runs": [],
            "params": PARAMS,
            "experiment": {"trainable": "mlp-digits", "data": {"seed": 0}}}
    return Results(Path("/tables/handmade"), meta, pd.DataFrame(trials), pd.DataFrame(history),
                   Freshness("summary", None, 0.0))
