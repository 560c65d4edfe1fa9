"""`hpotk schedule --check`: does the fitted schedule train as well as the PBT trial did?

Retrains from scratch, for the lineage's number of iterations, with (a) the fitted schedule, (b)
the exact lineage (``piecewise``), (c) a constant lr at the lineage's start, R seeds each, as
ordinary hpotk experiments (under ``<results>/check/``), and compares them with the PBT trial
(`check_table`; `hpotk.reporting.pbt_schedule` draws them on the figure).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpotk.errors import HpotkError

if TYPE_CHECKING:
    from hpotk.pbt.analysis import Analysis

CHECK_DIR = "check"
VARIANTS = ("fitted", "lineage", "constant")
VARIANT_LABELS = {"fitted": "(a) fitted schedule", "lineage": "(b) exact lineage (piecewise)",
                  "constant": "(c) constant lr at the start"}


def _variant_docs(analysis: Analysis, repeats: int) -> list[tuple[str, int, dict[str, Any]]]:
    """(variant, seed, experiment mapping) of every check run: the best trial's final config,
    trained from scratch under fifo for the lineage's length with each variant's lr."""
    from hpotk import lr_schedule

    res = analysis.results
    base = dict(res.meta.get("experiment") or {})
    if not base:
        raise HpotkError(f"{res.path} has no experiment.json to retrain from")
    final = analysis.lineage.rows[-1]
    config = {k[len("config/"):]: _plain(v) for k, v in final.items() if k.startswith("config/")}
    start = analysis.values[0]
    exact = lr_schedule.piecewise(analysis.iterations, analysis.values)
    schedules = {
        "fitted": (analysis.best.lr0, None if analysis.best.spec["type"] == "constant"
                   else analysis.best.spec),
        "lineage": (start, exact if len(exact["points"]) > 1 else None),
        "constant": (start, None),
    }
    seed = int(base.get("seed") or 0)
    out = []
    for variant in VARIANTS:
        lr0, spec = schedules[variant]
        tag = hashlib.sha1(json.dumps([lr0, spec, config], sort_keys=True,
                                      default=str).encode()).hexdigest()[:8]
        for r in range(repeats):
            doc = dict(base)
            doc.update({
                "name": f"{variant}-seed{seed + r}-{tag}",
                "results": str(Path(res.path) / CHECK_DIR),
                "space": {**config, analysis.param: lr0},
                "lr_schedule": spec if analysis.param == "lr" else None,
                "strategy": {"scheduler": {"name": "fifo"}, "searcher": {"name": "random"}},
                "budget": {**dict(base.get("budget") or {}), "trials": 1, "concurrent": 1,
                           "max_t": len(analysis.iterations), "time_s": None,
                           "trial_time_s": None},
                "checkpoint": {"every": 0, "at_end": False, "keep": 1},
                "early_stop": {**dict(base.get("early_stop") or {}), "enabled": False},
                "seed": seed + r,
            })
            out.append((variant, seed + r, doc))
    return out


def _plain(value: Any) -> Any:
    from hpotk._plain import plain

    return plain(value)


def run_checks(analysis: Analysis, repeats: int = 3, address: str | None = None,
               out: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Retrain each variant ``repeats`` times (ordinary experiments via `hpotk.runner.run`) and
    return each run's objective and lr per iteration, by variant."""
    from hpotk import experiment, results, runner

    if analysis.param != "lr":
        raise HpotkError(f"--check retrains with lr_schedule, which drives the optimiser's lr; "
                         f"it cannot replay --param {analysis.param!r}")
    if repeats < 1:
        raise HpotkError(f"--repeats must be >= 1, got {repeats}")
    out = out or sys.stdout
    source = analysis.results.meta.get("source")
    checks: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    metric = analysis.results.metric
    done_runs: dict[str, dict[str, Any]] = {}  # identical schedules (a constant fit) run once
    for variant, seed, doc in _variant_docs(analysis, repeats):
        same = json.dumps([doc["space"], doc["lr_schedule"], seed], sort_keys=True, default=str)
        if same in done_runs:
            checks[variant].append(dict(done_runs[same]))
            print(f"[hpotk] check {VARIANT_LABELS[variant]}, seed {seed}: the same schedule as "
                  f"{done_runs[same]['dir']}", file=out, flush=True)
            continue
        exp = experiment.validate(doc, source)
        print(f"[hpotk] check {VARIANT_LABELS[variant]}, seed {seed}: {exp.results_dir}",
              file=out, flush=True)
        outcome = runner.run(exp, address=address, exist_ok=True, verbose=0)
        if outcome.status != "complete":
            raise HpotkError(f"the check run {exp.results_dir} ended {outcome.status}: "
                             f"{outcome.error or 'see its trials.csv'}")
        done = results.load(exp.results_dir)
        history = done.history.sort_values("iteration")
        values = [float(v) for v in history[metric]]
        lrs = ([float(v) for v in history["lr"]] if "lr" in history
               else [float(v) for v in history[f"config/{analysis.param}"]])
        checks[variant].append({"seed": seed, "dir": str(exp.results_dir),
                                "iterations": [int(i) for i in history["iteration"]],
                                "objective": values, "lr": lrs})
        done_runs[same] = checks[variant][-1]
    analysis.checks = checks
    return checks


def _stats(values: list[float]) -> tuple[float, float]:
    import numpy as np

    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def check_table(analysis: Analysis) -> str:
    """Final and best objective (mean ± sd over seeds) of each variant against the PBT trial."""
    res = analysis.results
    better = min if res.mode == "min" else max
    pbt = [v for v in analysis.objective if math.isfinite(v)]
    lines = [f"{'':<34} {'final ' + res.metric:>22} {'best ' + res.metric:>22}",
             f"{'PBT trial ' + analysis.lineage.trial_id + ' (lineage)':<34} "
             f"{pbt[-1]:>22.4g} {better(pbt):>22.4g}"]
    for variant in VARIANTS:
        runs = analysis.checks.get(variant) or []
        if not runs:
            continue
        finals = [r["objective"][-1] for r in runs]
        bests = [better(r["objective"]) for r in runs]
        (fm, fs), (bm, bs) = _stats(finals), _stats(bests)
        label = f"{VARIANT_LABELS[variant]} x{len(runs)}"
        lines.append(f"{label:<34} {f'{fm:.4g} ± {fs:.2g}':>22} {f'{bm:.4g} ± {bs:.2g}':>22}")
    return "\n".join(lines)
