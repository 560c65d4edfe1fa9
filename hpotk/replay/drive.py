"""Replaying a study: every (strategy, seed) pair on one table (`replay_strategies`), and a
whole study file's strategies with its own outputs, labelled as replayed (`replay_study`)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpotk.replay.search import Strategy, refuse, strategy_of
from hpotk.replay.simulation import replay
from hpotk.replay.table import Table, load_table


@dataclass
class ReplayCost:
    """What the simulator itself cost: real seconds per simulated hour."""

    real_s: float = 0.0
    simulated_s: float = 0.0
    runs: int = 0

    @property
    def per_simulated_hour(self) -> float:
        return self.real_s / (self.simulated_s / 3600.0) if self.simulated_s > 0 else math.nan

    def describe(self) -> str:
        return (f"{self.runs} replayed runs, {self.simulated_s / 3600.0:.2f} simulated hours in "
                f"{self.real_s:.1f} real seconds ({self.per_simulated_hour:.2f} s per simulated "
                f"hour)")


def replay_strategies(table: Table, strategies: Mapping[str, Sequence[tuple[Strategy, int]]],
                      cost: ReplayCost | None = None) -> dict[str, list[Any]]:
    """Replay every (strategy, seed) pair: label -> one `Results` per seed, in seed order.

    All strategies are refused up front (before any replay runs) if one cannot be replayed.
    """
    for runs in strategies.values():
        for strategy, _ in runs:
            refuse(strategy)
    cost = cost if cost is not None else ReplayCost()
    out: dict[str, list[Any]] = {}
    for label, runs in strategies.items():
        out[label] = []
        for strategy, seed in runs:
            began = time.perf_counter()
            sim = replay(table, strategy, seed)
            cost.real_s += time.perf_counter() - began
            cost.simulated_s += sim.ended_s
            cost.runs += 1
            out[label].append(sim.to_results(label=label, strategy=strategy, seed=seed))
    return out


@dataclass
class StudyReplay:
    """What `replay_study` did: the summary, the files written, the simulator's cost."""

    summary: Any  # hpotk.study.StudySummary
    outputs: list[Path]
    cost: ReplayCost
    note: str
    exhausted: dict[str, int]  # label -> runs in which the table ran out of configs


def replay_study(study: Any, table_dir: str | Path, *, out_dir: str | Path | None = None,
                 log: Any = print) -> StudyReplay:
    """Replay every (strategy, repeat) of ``study`` (a `hpotk.study.Study`) on the table in
    ``table_dir``, and write the study's outputs, each labelled "replayed from <dir>".

    Each run is the study's own experiment for that strategy and seed (so its scheduler
    options, budget and seed are the real study's); it is checked against the table first
    (same trainable, data, space and fixed values; max_t within the table's), and every
    strategy is refused up front if one cannot be replayed. The outputs go to
    ``<study results>/replay/`` unless ``out_dir`` says otherwise, never over a real study's.
    """
    import json

    from hpotk.study import aggregate, write_outputs

    table = load_table(table_dir)
    strategies: dict[str, list[tuple[Strategy, int]]] = {}
    for run in study.runs:
        strategy = strategy_of(run.experiment, label=run.label, table=table)
        strategies.setdefault(run.label, []).append((strategy, run.seed))
    for runs in strategies.values():
        for strategy, _ in runs:
            refuse(strategy)
    cost = ReplayCost()
    runs = replay_strategies(table, strategies, cost)
    exhausted = {label: sum(1 for r in results if r.meta["replay"]["exhausted_s"] is not None
                            and r.meta["replay"]["exhausted_s"] < r.meta["finished"])
                 for label, results in runs.items()}
    summary = aggregate(runs, report_metric=study.report_metric, top_k=study.spec.top_k,
                        baseline=study.baseline, target=study.spec.target,
                        band=study.spec.band, grid_points=study.spec.grid_points)
    summary.name = f"{study.name} (replay)"
    note = (f"replayed from {table.path}, in simulated time ({cost.per_simulated_hour:.1f} s "
            f"per simulated hour)")
    used_up = {k: v for k, v in exhausted.items() if v}
    if used_up:  # fewer trials than a real run would have had: say so on every output
        note += "; table used up: " + ", ".join(f"{v}/{len(runs[k])} {k}"
                                                for k, v in used_up.items())
    out = Path(out_dir) if out_dir is not None else study.results_dir / "replay"
    outputs = write_outputs(summary, out, note=note)
    record = {
        "study": study.name, "table": str(table.path), "recorded_trials": len(table.trials),
        "note": note, "cost": {"real_s": cost.real_s, "simulated_s": cost.simulated_s,
                               "runs": cost.runs,
                               "real_s_per_simulated_hour": cost.per_simulated_hour},
        "exhausted": exhausted,
        "runs": [{"label": label, "seed": r.meta["seed"], **r.meta["replay"],
                  "trials": len(r.trials)} for label, results in runs.items() for r in results],
    }
    (out / "replay.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    outputs.append(out / "replay.json")
    log(summary.text())
    log(f"[hpotk] study {study.name}: {note}")
    log(f"[hpotk] study {study.name}: {cost.describe()}")
    log(f"[hpotk] study {study.name}: " + ", ".join(str(p) for p in outputs))
    return StudyReplay(summary, outputs, cost, note, exhausted)
