"""Running a study: its data prepared once, its runs one after another (or one, as a Slurm
job-array element), each resumed with what is left of its time, then ``study.json`` and the
outputs of the complete runs (`summarise`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk.errors import HpotkError
from hpotk.study.aggregation import StudySummary, aggregate
from hpotk.study.outputs import write_outputs
from hpotk.study.spec import STUDY_FILE, Study, StudyRun


@dataclass
class StudyOutcome:
    """What `run_study` did: the runs it ran or skipped, the outputs and the summary."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: str | None = None
    summary: StudySummary | None = None
    outputs: list[Path] = field(default_factory=list)
    hybrid_ready: bool = False  # a hybrid study's real runs are complete: replay the rest


def prepare_data(study: Study, log: Any = print) -> None:
    """Build the data the runs use once, before any run's clock starts (so generating it is
    not charged to the first strategy that needs it): each distinct data spec of the runs, a
    named dataset through `hpotk.data.prepare`, else the built-in trainable's own loader."""
    from hpotk.data import DATASETS

    seen: set[str] = set()
    for run in study.runs:
        exp = run.experiment
        spec = dict(exp.data)
        trainable = exp.trainable if isinstance(exp.trainable, str) else None
        key = json.dumps([trainable, spec], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        started = time.perf_counter()
        name = spec.get("name")
        if isinstance(name, str) and name in DATASETS:
            from hpotk.data import prepare

            params = {k: v for k, v in spec.items() if k != "name"}
            log(f"[hpotk] study {study.name}: data " + prepare(name, **params).replace("\n", "; "))
            continue
        if trainable is None:
            continue  # a command trainable reads its own data
        from hpotk.trainables import resolve

        loader = getattr(resolve(trainable), "load_data", None)
        if loader is None:
            continue
        try:
            loader(spec)
        except NotImplementedError:
            continue
        log(f"[hpotk] study {study.name}: data loaded in {time.perf_counter() - started:.1f} s "
            f"before the first run")


def run_study(study: Study, *, address: str | None = None, verbose: int = 1,
              only: int | None = None, log: Any = print) -> StudyOutcome:
    """Run the study's runs one after another (or only run ``only``, a Slurm array element),
    skipping complete ones and resuming an interrupted one with what is left of its time; then,
    when every run was asked for (or this element finds every run complete), aggregate and
    write the outputs.

    Stops at a run that ends interrupted (Ctrl+C, USR1): `StudyOutcome.interrupted` names it.
    """
    from hpotk import runner
    from hpotk import state as run_state

    outcome = StudyOutcome()
    write_study_json(study)
    real = study.real_runs
    runs = real if only is None else [_element(study, only)]
    pending = [r for r in runs if _run_status(r) not in ("complete", "failed")]
    if pending:
        prepare_data(study, log)
        runner.ensure_ray(address)
    for run in runs:
        status = _run_status(run)
        what = f"{run.label} seed {run.seed}"
        if status in ("complete", "failed"):
            log(f"[hpotk] study {study.name}: run {run.index} ({what}) is {status}; skipped")
            outcome.skipped.append(what)
            continue
        exp = run.experiment
        full_budget = exp.budget.model_dump()
        left = exp.budget.time_s
        if status is not None:
            left = exp.budget.time_s - used_seconds(run.path)
            if left < 1.0:
                run_state.write_state(run.path, status="complete", budget=full_budget)
                log(f"[hpotk] study {study.name}: run {run.index} ({what}) had used its time")
                outcome.skipped.append(what)
                continue
            exp = exp.model_copy(update={"budget": exp.budget.model_copy(
                update={"time_s": left})})
        log(f"[hpotk] study {study.name}: run {real.index(run) + 1} of {len(real)}: {what} "
            f"({exp.strategy.label}), {left:.0f} s" + (" left" if status else ""))
        result = runner.run(exp, address=address, exist_ok=True, verbose=verbose)
        run_state.write_state(run.path, budget=full_budget)
        outcome.ran.append(what)
        if result.status == "interrupted":
            outcome.interrupted = what
            return outcome
    if only is None or all(_run_status(r) == "complete" for r in study.real_runs):
        # the whole study, or the job-array element that finds every run complete; `report`
        # through the package, the one name a caller (or a test) replaces it by
        from hpotk import study as package

        if study.hybrid:  # replayed by the caller (hpotk.replay.summarise_hybrid), a layer up
            outcome.hybrid_ready = True
        else:
            outcome.summary, outcome.outputs = package.summarise(study, log=log)
    return outcome


def _element(study: Study, index: int) -> StudyRun:
    runs = study.real_runs
    if not 0 <= index < len(runs):
        raise HpotkError(f"--element {index}: the study has runs 0 to {len(runs) - 1}")
    return runs[index]


def run_status(run: StudyRun) -> str | None:
    """A run's status (complete, failed, interrupted, running...), None if it never started."""
    return _run_status(run)


def _run_status(run: StudyRun) -> str | None:
    from hpotk import results
    from hpotk import state as run_state

    state = run_state.read_state(run.path)
    return None if state is None else results.effective_status(state)


def used_seconds(run_dir: Path) -> float:
    """Seconds a run has been running, over all its starts (a start killed without an end is
    counted to its last result)."""
    from hpotk import results

    res = results.load(run_dir)
    segments = res.meta.get("runs") or []
    last_seen = float(res.history["timestamp"].max()) if len(res.history) else None
    total = 0.0
    for seg in segments:
        start = float(seg.get("started") or 0.0)
        end = seg.get("finished")
        if end is None:
            end = last_seen if last_seen is not None and last_seen > start else start
        total += max(0.0, float(end) - start)
    return total


def write_study_json(study: Study, outputs: Sequence[Path] = ()) -> Path:
    """``results/<study>/study.json``: name, runs (label, seed, path, status) and outputs; what
    `hpotk report` reads to show a study."""
    study.results_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": study.name, "source": str(Path(study.source).resolve()),
        "baseline": study.baseline, "report_metric": study.report_metric,
        "top_k": study.spec.top_k, "time_s": study.time_s,
        "runs": [{"label": r.label, "seed": r.seed, "path": str(r.path),
                  "status": _run_status(r) or "not started"} for r in study.runs],
        "outputs": [str(p) for p in outputs],
    }
    # job-array elements write it too: each whole, the last one wins
    return layout.write_json(study.results_dir / STUDY_FILE, doc)


def summarise(study: Study, *, log: Any = print) -> tuple[StudySummary, list[Path]]:
    """Aggregate the study's complete runs (`hpotk study --report-only`) and write the outputs.

    Runs not complete yet are left out and listed; the baseline needs at least one.
    """
    from hpotk import results

    if study.hybrid:
        raise HpotkError(f"study {study.name} is hybrid (replay: auto): its outputs come from "
                         f"hpotk.replay.summarise_hybrid (what `hpotk study` calls)")
    runs: dict[str, list[Any]] = {}
    missing = []
    for run in study.runs:
        if _run_status(run) == "complete":
            runs.setdefault(run.label, []).append(results.load(run.path))
        else:
            missing.append(f"{run.label} seed {run.seed} ({_run_status(run) or 'not started'})")
    if study.baseline not in runs:
        raise HpotkError(f"study {study.name}: the baseline {study.baseline!r} has no complete "
                         f"run yet; run `hpotk study {study.source}` (or wait for the jobs)")
    if missing:
        log(f"[hpotk] study {study.name}: {len(missing)} run(s) not complete, left out: "
            + ", ".join(missing))
    summary = aggregate(runs, report_metric=study.report_metric, top_k=study.spec.top_k,
                        baseline=study.baseline, target=study.spec.target, band=study.spec.band,
                        grid_points=study.spec.grid_points,
                        reference=study.spec.reference_point)
    summary.name = study.name
    note = (f"{len(missing)} of {len(study.runs)} runs not complete yet" if missing else "")
    outputs = write_outputs(summary, study.results_dir, note=note)
    write_study_json(study, outputs)
    log(summary.text())
    log(f"[hpotk] study {study.name}: " + ", ".join(str(p) for p in outputs))
    return summary, outputs

