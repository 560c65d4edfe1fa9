"""A PBT trial's lineage and the learning-rate schedules fitted to it (`hpotk schedule`).

The NERSC Ray Tune guide runs PBT over the learning rate, reads off the lr its best trial
followed and models it with a multistep scheduler, to reuse in later training. `analyse` does
that from a results directory: the best (or a chosen) trial's stitched lineage
(`hpotk.pbt.lineage`: objective and lr per iteration, following the donors of its exploits back
to the start), and every candidate schedule fitted to lr(t), best by BIC first
(`hpotk.pbt.fits`). The rest of this module writes what the analysis found: the text
(`describe`, `table`), ``schedule.json`` (`write_json`), and the lineage as its own TensorBoard
run (``lineage/<trial>``: one continuous curve instead of PBT's jumps).

The other steps of the command (`hpotk.pbt.command`): the fitted schedule put into
``retrain.yaml`` (`hpotk.pbt.retrain`), the ``--check`` retraining (`hpotk.pbt.check`) and the
two-panel figure ``schedule.png`` (`hpotk.reporting.pbt_schedule`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk.errors import HpotkError


@dataclass
class Analysis:
    """A trial's lineage and the schedules fitted to one of its params."""

    results: Any  # hpotk.results.Results
    lineage: Any  # hpotk.pbt.lineage.Lineage
    param: str
    fits: list[Any]  # hpotk.pbt.fits.Fit, best first
    checks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # hpotk.pbt.check


    @property
    def best(self) -> Any:
        return self.fits[0]

    @property
    def iterations(self) -> list[int]:
        return self.lineage.iterations

    @property
    def values(self) -> list[float]:
        return self.lineage.series(f"config/{self.param}")

    @property
    def objective(self) -> list[float]:
        return self.lineage.series(self.results.metric)


def analyse(results_dir: str | Path, param: str = "lr", trial: str = "best") -> Analysis:
    """Stitch ``trial``'s lineage in ``results_dir`` and fit schedules to its ``param``."""
    from hpotk import results
    from hpotk.pbt import fits, lineage

    res = results.load(results_dir)
    lin = lineage.load(res, trial)
    key = f"config/{param}"
    if not lin.rows or key not in lin.rows[-1]:
        names = sorted(k[len("config/"):] for k in (lin.rows[-1] if lin.rows else {})
                       if k.startswith("config/"))
        raise HpotkError(f"--param {param!r}: trial {lin.trial_id} has no such param; its "
                         f"params: {names}")
    values = lin.series(key)
    if len(values) < 2 or any(not math.isfinite(v) or v <= 0 for v in values):
        raise HpotkError(f"--param {param!r}: need a positive value per iteration (at least 2) "
                         f"to fit a schedule; trial {lin.trial_id} has {values[:10]}")
    if lin.iterations != list(range(1, len(values) + 1)):
        raise HpotkError(f"the lineage of {lin.trial_id} misses iterations "
                         f"(has {lin.iterations[:20]}...): its history is incomplete")
    return Analysis(res, lin, param, fits.fit(values))


def table(analysis: Analysis) -> str:
    """Every fit, best first: BIC, error on log values, k, and the schedule in torch's terms."""
    lines = [f"{'fit':<19} {'BIC':>9} {'RMSE(log)':>10} {'k':>3}  schedule"]
    for i, fit in enumerate(analysis.fits):
        mark = "*" if i == 0 else " "
        lines.append(f"{mark}{fit.name:<18} {fit.bic:>9.1f} {fit.rmse:>10.4f} {fit.k:>3}  "
                     f"{fit.torch}")
    return "\n".join(lines)


def describe(analysis: Analysis) -> str:
    """What `hpotk schedule` prints: the lineage, every fit, the one chosen in torch's terms."""
    lin, best = analysis.lineage, analysis.best
    head = (f"[hpotk] trial {lin.trial_id}: {len(lin.rows)} iterations along its lineage, "
            f"{len(lin.perturbations)} perturbations, from "
            f"{' -> '.join(dict.fromkeys(r['source'] for r in lin.rows))}")
    lines = [head, table(analysis), "",
             f"[hpotk] chosen by BIC: {best.name}", f"    {best.torch}",
             "    (call scheduler.step() once per evaluation iteration)"]
    peak = peak_iteration(best)
    if peak is not None:
        lines.append(f"    the lr rises from {best.predicted[0]:.4g} to its peak {best.lr0:.4g} at "
                     f"iteration {peak:g}, then falls to {best.predicted[-1]:.4g}")
    return "\n".join(lines)


def peak_iteration(fit: Any) -> float | None:
    """The iteration at which a warm-up or one-cycle fit reaches its peak (None for a decay)."""
    from hpotk import lr_schedule

    if fit.spec["type"] not in lr_schedule.RISING:
        return None
    return lr_schedule.peak_epoch(fit.spec) + 1


def schedule_doc(analysis: Analysis) -> dict[str, Any]:
    """What ``schedule.json`` holds: the lineage, every fit, the chosen one, the checks."""
    from hpotk import lr_schedule

    lin = analysis.lineage
    return {
        "trial_id": lin.trial_id, "param": analysis.param, "metric": analysis.results.metric,
        "mode": analysis.results.mode, "iterations": len(lin.rows),
        "lineage": [[i, v] for i, v in zip(analysis.iterations, analysis.values, strict=True)],
        "objective": [[i, _finite(v)] for i, v in zip(analysis.iterations, analysis.objective,
                                                      strict=True)],
        "sources": [r["source"] for r in lin.rows],
        "perturbations": lin.perturbations,
        "chosen": analysis.best.name,
        "lr0": analysis.best.lr0,
        "lr_schedule": analysis.best.spec,
        "torch": analysis.best.torch,
        "peak_iteration": peak_iteration(analysis.best),
        "piecewise": lr_schedule.piecewise(analysis.iterations, analysis.values),
        "fits": [f.to_dict() for f in analysis.fits],
        "checks": analysis.checks,
    }


def _finite(value: float) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def write_json(analysis: Analysis) -> Path:
    """`schedule_doc` into ``<results>/schedule.json``."""
    path = Path(analysis.results.path) / layout.SCHEDULE_JSON
    layout.write_json(path, schedule_doc(analysis))
    return path


def write_tensorboard(analysis: Analysis) -> Path:
    """The stitched lineage as its own TensorBoard run under ``<results>/lineage/<trial>``."""
    from tensorboardX import SummaryWriter

    lin = analysis.lineage
    logdir = Path(analysis.results.path) / "lineage" / lin.trial_id
    if logdir.exists():
        for old in logdir.glob("events.out.tfevents.*"):
            old.unlink()
    metric, param = analysis.results.metric, analysis.param
    with SummaryWriter(logdir=str(logdir)) as writer:
        for i, value, lr, fitted in zip(analysis.iterations, analysis.objective, analysis.values,
                                        analysis.best.predicted, strict=True):
            if math.isfinite(value):
                writer.add_scalar(f"lineage/{metric}", value, i)
            writer.add_scalar(f"lineage/{param}", lr, i)
            writer.add_scalar(f"lineage/{param}_fitted", fitted, i)
        for p in lin.perturbations:
            writer.add_scalar("lineage/perturbation", 1.0, p["iteration"])
        writer.add_text("lineage/schedule", f"{analysis.best.name}: {analysis.best.torch}", 0)
    return logdir
