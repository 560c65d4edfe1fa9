"""`hpotk schedule`: the learning-rate schedule a PBT run found, as a torch scheduler.

The NERSC Ray Tune guide runs PBT over the learning rate, reads off the lr its best trial
followed and models it with a multistep scheduler, to reuse in later training. This module does
that from a results directory:

1. the best (or a chosen) trial's stitched lineage (`hpotk.lineage`): objective and lr per
   iteration, following the donors of its exploits back to the start;
2. every candidate schedule fitted to lr(t), chosen by BIC (`hpotk.lr_schedule.fit`), printed
   in torch's terms and written to ``schedule.json``;
3. ``retrain.yaml`` updated to train the best config with the fitted schedule;
4. the lineage as its own TensorBoard run (``lineage/<trial>``): one continuous curve instead
   of PBT's jumps;
5. a two-panel figure, ``schedule.png``: the objective along the lineage with its
   perturbations marked, and lr per iteration with the fitted schedule over it;
6. with ``--check``: retraining from scratch with (a) the fitted schedule, (b) the exact lineage
   (piecewise), (c) a constant lr at the lineage's start, R seeds each, as ordinary hpotk
   experiments (under ``<results>/check/``), compared with the PBT trial and drawn on the figure.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk.errors import HpotkError

SCHEDULE_JSON = "schedule.json"
FIGURE = "schedule.png"
CHECK_DIR = "check"
VARIANTS = ("fitted", "lineage", "constant")
VARIANT_LABELS = {"fitted": "(a) fitted schedule", "lineage": "(b) exact lineage (piecewise)",
                  "constant": "(c) constant lr at the start"}


@dataclass
class Analysis:
    """A trial's lineage and the schedules fitted to one of its params."""

    results: Any  # hpotk.results.Results
    lineage: Any  # hpotk.lineage.Lineage
    param: str
    fits: list[Any]  # hpotk.lr_schedule.Fit, best first
    checks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

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
    from hpotk import lineage, lr_schedule, results

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
    return Analysis(res, lin, param, lr_schedule.fit(values))


def _log_spaced(param: str) -> bool:
    return param in ("lr", "sparse-lr", "weight_decay", "l2norm") or param.endswith("lr")


def table(analysis: Analysis) -> str:
    """Every fit, best first: BIC, error on log values, k, and the schedule in torch's terms."""
    lines = [f"{'fit':<19} {'BIC':>9} {'RMSE(log)':>10} {'k':>3}  schedule"]
    for i, fit in enumerate(analysis.fits):
        mark = "*" if i == 0 else " "
        lines.append(f"{mark}{fit.name:<18} {fit.bic:>9.1f} {fit.rmse:>10.4f} {fit.k:>3}  "
                     f"{fit.torch}")
    return "\n".join(lines)


def report(analysis: Analysis) -> str:
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
    from hpotk import lr_schedule, lr_schedule_warmup

    if fit.spec["type"] not in lr_schedule.RISING:
        return None
    return lr_schedule_warmup.peak_epoch(fit.spec) + 1


def schedule_doc(analysis: Analysis) -> dict[str, Any]:
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
    path = Path(analysis.results.path) / SCHEDULE_JSON
    path.write_text(json.dumps(schedule_doc(analysis), indent=2, default=str) + "\n")
    return path


def retrain_with_schedule(doc: dict[str, Any], fit: Any, param: str = "lr") -> dict[str, Any]:
    """A retrain experiment mapping that trains with ``fit``: the param at the fit's lr0, the
    fitted ``lr_schedule`` (none for a constant)."""
    doc = dict(doc)
    space = doc.get("space")
    doc["space"] = {**(space if isinstance(space, dict) else {}), param: fit.lr0}
    doc["lr_schedule"] = None if fit.spec["type"] == "constant" else fit.spec
    return doc


def update_retrain(analysis: Analysis) -> Path | None:
    """Put the fitted schedule into ``retrain.yaml`` (only for ``lr``: lr_schedule drives the
    optimiser's lr)."""
    import yaml

    path = Path(analysis.results.path) / "retrain.yaml"
    if analysis.param != "lr" or not path.exists():
        return None
    text = path.read_text()
    header = "".join(line + "\n" for line in text.splitlines()
                     if line.startswith("#") and "PBT lineage" not in line)
    doc = yaml.safe_load(text) or {}
    doc = retrain_with_schedule(doc, analysis.best, analysis.param)
    note = (f"# The lr follows the schedule hpotk schedule fitted to trial "
            f"{analysis.lineage.trial_id}'s PBT lineage: {analysis.best.torch}\n")
    path.write_text(header + note + yaml.safe_dump(doc, sort_keys=False))
    return path


def fit_for_retrain(exp: Any, best_row: dict[str, Any], doc: dict[str, Any]) -> str:
    """For `hpotk.summary`: when a PBT run mutated ``lr``, train retrain.yaml with the schedule
    fitted to the best trial's lineage; returns a comment line for the file ("" if none)."""
    from hpotk import lineage, lr_schedule, results

    if exp.strategy.scheduler.name != "pbt" or not isinstance(doc.get("space"), dict) or \
            "lr" not in doc["space"]:
        return ""
    directory = Path(exp.results_dir)
    history = results.read_history_log(directory)
    events = lineage.read_events(directory / lineage.LINEAGE_LOG)
    if history is None or not len(history):
        return ""
    lin = lineage.stitch(history, events, str(best_row["trial_id"]))
    values = lin.series("config/lr")
    if len(values) < 2 or lin.iterations != list(range(1, len(values) + 1)):
        return ""
    best = lr_schedule.fit(values)[0]
    doc.update(retrain_with_schedule(doc, best))
    return (f"# The lr follows the schedule fitted to this trial's PBT lineage (hpotk "
            f"schedule): {best.torch}\n")


# ---------------------------------------------------------------------------------------------
# TensorBoard


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


# ---------------------------------------------------------------------------------------------
# --check: retrain from scratch


def _variant_docs(analysis: Analysis, repeats: int) -> list[tuple[str, int, dict[str, Any]]]:
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


# ---------------------------------------------------------------------------------------------
# the figure


def figure(analysis: Analysis, path: Path | None = None) -> Path:
    """The NERSC guide's two panels: the objective along the lineage (perturbations marked),
    and the param per iteration with the fitted schedule; --check runs drawn on both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    res, lin, fit = analysis.results, analysis.lineage, analysis.best
    path = path or Path(res.path) / FIGURE
    x = np.asarray(analysis.iterations)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [1.2, 1]})
    colors = {"fitted": "tab:orange", "lineage": "tab:green", "constant": "tab:gray"}
    for variant in VARIANTS:
        runs = analysis.checks.get(variant) or []
        if not runs:
            continue
        length = min(len(r["objective"]) for r in runs)
        values = np.asarray([r["objective"][:length] for r in runs])
        mean = values.mean(axis=0)
        xs = np.arange(1, length + 1)
        top.plot(xs, mean, color=colors[variant], lw=1.4,
                 label=f"retrained: {VARIANT_LABELS[variant]} (mean of {len(runs)})")
        if len(runs) > 1:
            sd = values.std(axis=0, ddof=1)
            top.fill_between(xs, mean - sd, mean + sd, color=colors[variant], alpha=0.15, lw=0)
    top.plot(x, analysis.objective, color="tab:blue", lw=2, marker="o", ms=3,
             label=f"PBT trial {lin.trial_id} along its lineage")
    for i, p in enumerate(lin.perturbations):
        for ax in (top, bottom):
            ax.axvline(p["iteration"] - 0.5, color="tab:red", ls=":", lw=1,
                       label="perturbation (exploit + explore)" if i == 0 and ax is top else None)
    drawn = [v for v in analysis.objective if math.isfinite(v)]
    if drawn and min(drawn) > 0 and max(drawn) / min(drawn) > 30:
        top.set_yscale("log")  # a loss over decades: its late progress stays visible
    top.set_ylabel(f"{res.metric} ({'lower' if res.mode == 'min' else 'higher'} is better)")
    top.set_title(f"{res.name}: the best trial's lineage and the {analysis.param} schedule "
                  f"it followed", fontsize=11)
    top.legend(fontsize=8, loc="best")
    top.grid(alpha=0.3)

    bottom.step(x, analysis.values, where="mid", color="tab:blue", lw=2,
                label=f"{analysis.param} along the lineage")
    bottom.plot(x, fit.predicted, color="black", ls="--", lw=1.5, drawstyle="steps-mid",
                label=f"fitted ({fit.name}, by BIC): {_short(fit)}")
    if analysis.checks.get("constant"):
        bottom.axhline(analysis.values[0], color=colors["constant"], lw=1, ls="-.",
                       label=VARIANT_LABELS["constant"])
    shown = [v for v in analysis.values + list(fit.predicted) if v > 0]
    if _log_spaced(analysis.param) and shown and max(shown) / min(shown) > 10:
        bottom.set_yscale("log")
    bottom.set_ylabel(analysis.param)
    bottom.set_xlabel("training iteration (one evaluation each)")
    bottom.legend(fontsize=8, loc="best")
    bottom.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _short(fit: Any) -> str:
    """The fit's torch text for the legend, wrapped: a warm-up's SequentialLR is too long for
    one line and would squeeze the axes."""
    import textwrap

    text = fit.torch.split("; ", 1)[-1].replace("(optimizer, ", "(")
    return "\n".join(textwrap.wrap(text, 60, subsequent_indent="    "))


# ---------------------------------------------------------------------------------------------
# the command


def main(args: Any, out: Any = None) -> int:
    """`hpotk schedule DIR [--param lr] [--trial best|ID] [--check [--repeats R]]`."""
    out = out or sys.stdout
    analysis = analyse(args.results_dir, param=args.param, trial=args.trial)
    print(report(analysis), file=out)
    if args.check:
        run_checks(analysis, repeats=args.repeats, address=getattr(args, "address", None),
                   out=out)
        print("", file=out)
        print(check_table(analysis), file=out)
    written = [write_json(analysis), figure(analysis), write_tensorboard(analysis)]
    retrain = update_retrain(analysis)
    if retrain is not None:
        written.append(retrain)
    print(f"[hpotk] wrote {', '.join(str(p) for p in written)}", file=out)
    return 0
