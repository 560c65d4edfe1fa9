"""Time-to-solution studies: tuning strategies compared at equal resources.

A study file names a base experiment and the strategies to compare; `hpotk study FILE` runs every
(strategy, repeat) pair as an ordinary hpotk experiment under ``results/<study>/<label>/seed<k>/``,
one after another, each with the whole Ray cluster and the same time budget, then aggregates
them as the NERSC Ray Tune guide's time-to-solution study does: the mean ``report_metric`` of
the ``top_k`` trials (ranked by the objective) against wall time, with a band across repeats,
the trials each strategy finished, time-to-target and the speedup over a baseline.

The aggregation (`aggregate`) is a pure function of `hpotk.results.Results` objects and uses
only their public fields (``trials``, ``history``, ``meta``), so a simulator can feed it runs
made in memory. `write_outputs` writes curves.csv, summary.csv, summary.md and tts.png.

Conventions:

- Per run, y(t) is the mean ``report_metric`` of the ``top_k`` best trials by the objective
  among the trials that reported by time t, each trial's value taken at its best objective
  iteration so far. It is defined once ``top_k`` trials have reported (the guide's "mean test
  MAE of the top 6 trials"; a smaller set would let one lucky trial decide).
- Times are seconds of running: a run interrupted and resumed is measured without the pause
  (from ``meta["runs"]``, each start and end of the run), and resumes with what is left of its
  time budget.
- Time-to-target: the first time the curve reaches the target (``<=`` for a "min" objective,
  ``>=`` for "max"). A curve that never does is *censored* at the end of its run: its time is
  only known to be longer, so a speedup against it is a bound, written ``≥ 5.2×``.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hpotk.errors import ConfigError, HpotkError

STUDY_FILE = "study.json"
#: a trial that ended by itself or by the scheduler (not one cut off by the end of the run)
FINISHED_STATUSES = frozenset({"COMPLETED", "STOPPED", "EARLY_STOPPED", "TIMEOUT"})
#: budget.trials of every run when the study does not give it: enough that the time budget binds
DEFAULT_TRIALS = 1000
BANDS = {"ci": "mean ± 95% CI", "iqr": "median, interquartile range"}


# ---------------------------------------------------------------------------------------------
# The study file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class StrategyEntry(_Strict):
    """One strategy of a study: a scheduler/searcher and keys set on the base experiment."""

    strategy: str | dict[str, Any] | None = None
    set: dict[str, Any] = Field(default_factory=dict)


class StudyBudget(_Strict):
    """The budget every run gets (keys of the experiment's ``budget``; unset ones come from the
    base experiment, except ``trials``: `DEFAULT_TRIALS`, so that time is what binds)."""

    trials: int | None = Field(None, ge=1)
    concurrent: int | None = Field(None, ge=1)
    time_s: float | None = Field(None, gt=0)
    trial_time_s: float | None = Field(None, gt=0)
    max_t: int | None = Field(None, ge=1)


class StudySpec(_Strict):
    """A study file (see README: Time-to-solution studies)."""

    name: str
    experiment: str
    strategies: list[str] | dict[str, str | StrategyEntry | None]
    repeats: int = Field(3, ge=1)
    seed: int | None = None
    budget: StudyBudget = StudyBudget()
    top_k: int = Field(6, ge=1)
    report_metric: str | None = None
    baseline: str | None = None
    target: float | None = None
    band: Literal["ci", "iqr"] = "ci"
    grid_points: int = Field(200, ge=2, le=100_000)
    set: dict[str, Any] = Field(default_factory=dict)
    results: str | None = None
    replay: str | None = None  # a complete fifo run to replay every strategy on (hpotk.replay)

    @field_validator("name")
    @classmethod
    def _name_is_a_directory_name(cls, value: str) -> str:
        from hpotk.experiment import NAME_PATTERN

        if not NAME_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a valid study name: use letters, digits, '.', "
                             f"'_' and '-'")
        return value

    @field_validator("strategies")
    @classmethod
    def _some_strategies(cls, value: Any) -> Any:
        if not value:
            raise ValueError("give at least one strategy, e.g. [fifo/random, asha/random]")
        if isinstance(value, list) and len(set(value)) != len(value):
            dup = next(v for v in value if value.count(v) > 1)
            raise ValueError(f"{dup!r} is listed twice")
        return value


@dataclass
class StudyRun:
    """One (strategy, repeat) pair: an ordinary experiment."""

    index: int
    label: str
    repeat: int
    seed: int
    experiment: Any  # hpotk.experiment.Experiment

    @property
    def path(self) -> Path:
        return self.experiment.results_dir


@dataclass
class Study:
    """A loaded, validated study: its spec, base experiment and runs (repeat-major order, so a
    study cut short has as many repeats of every strategy as possible)."""

    spec: StudySpec
    source: str
    base: Any  # hpotk.experiment.Experiment
    labels: list[str]
    runs: list[StudyRun]
    results_dir: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def baseline(self) -> str:
        return self.spec.baseline or self.labels[0]

    @property
    def report_metric(self) -> str:
        return self.spec.report_metric or self.base.metric.name

    @property
    def time_s(self) -> float:
        return float(self.runs[0].experiment.budget.time_s)

    def text(self) -> str:
        """`hpotk plan STUDY`'s text: the runs and the total time."""
        b = self.runs[0].experiment.budget
        lines = [
            f"study {self.name}: {len(self.labels)} strategies x {self.spec.repeats} repeats = "
            f"{len(self.runs)} runs of {self.base.name} ({self.source})",
            f"every run: {b.time_s:g} s, {b.concurrent} trials at a time, up to {b.trials} "
            f"trials of max_t {b.max_t}",
            f"curve: mean {self.report_metric} of the top {self.spec.top_k} trials by "
            f"{self.base.metric.name} ({self.base.metric.mode}); band {BANDS[self.spec.band]}; "
            f"baseline {self.baseline}; target "
            + (f"{self.spec.target:g}" if self.spec.target is not None
               else "the baseline's final value"),
            "runs (one after another):",
        ]
        width = max(len(r.label) for r in self.runs)
        for run in self.runs:
            lines.append(f"  {run.index:3d}  {run.label:<{width}}  seed {run.seed:<4d} "
                         f"{run.experiment.strategy.label:<16} {run.path}")
        total = sum(r.experiment.budget.time_s for r in self.runs)
        lines.append(f"total: {_duration(total)} of running ({len(self.runs)} x "
                     f"{self.time_s:g} s), plus start-up and data preparation before the first "
                     f"run")
        lines.append(f"outputs: {self.results_dir}/ (curves.csv, summary.csv, summary.md, "
                     f"tts.png, {STUDY_FILE})")
        return "\n".join(lines)


def is_study_file(path: str | Path) -> bool:
    """True when ``path`` is a YAML/JSON mapping with a ``strategies`` key (a study file)."""
    from hpotk.experiment import read_document

    try:
        return "strategies" in read_document(path)
    except ConfigError:
        return False


def load_study(path: str | Path, overrides: list[str] | None = None) -> Study:
    """Load, override (``--set key.path=value``) and validate a study file, and every run's
    experiment; errors are `ConfigError` with the key path (``strategies.asha.set.x: ...``)."""
    from hpotk import experiment as experiments

    source = str(path)
    doc = experiments.read_document(path)
    doc.setdefault("name", Path(path).stem)
    try:
        doc = experiments.apply_overrides(doc, overrides or [])
    except ConfigError as exc:
        raise ConfigError(exc.path, exc.message, source) from None
    try:
        spec = StudySpec.model_validate(doc)
    except ValidationError as exc:
        raise _first_error(exc, doc, source) from None
    base_path = (Path(path).resolve().parent / spec.experiment)
    if not base_path.is_file():
        raise ConfigError("experiment", f"no experiment file {str(base_path)!r} (paths are "
                                        f"relative to the study file)", source)
    base = _load_experiment(base_path, [], "experiment", source)
    entries = _entries(spec, source)
    if spec.baseline is not None and spec.baseline not in entries:
        raise ConfigError("baseline", f"{spec.baseline!r} is not one of the strategies "
                                      f"{list(entries)}", source)
    # like an experiment's results: relative to the current directory
    results_dir = Path(spec.results or base.results).expanduser().resolve() / spec.name
    dirs: dict[str, str] = {}
    for label in entries:
        d = label_dir(label)
        if d in dirs.values():
            other = next(k for k, v in dirs.items() if v == d)
            raise ConfigError(f"strategies.{label}", f"its directory name {d!r} is also that "
                                                     f"of {other!r}; rename one", source)
        dirs[label] = d
    first_seed = base.seed if spec.seed is None else spec.seed
    runs: list[StudyRun] = []
    for repeat in range(spec.repeats):
        for label, entry in entries.items():
            seed = first_seed + repeat
            overrides = _run_overrides(spec, base, entry, label, seed,
                                       results_dir / dirs[label])
            exp = _load_experiment(base_path, overrides, f"strategies.{label}", source)
            runs.append(StudyRun(len(runs), label, repeat, seed, exp))
    if runs[0].experiment.budget.time_s is None:
        raise ConfigError("budget.time_s", "a study compares strategies at equal time: give "
                                           "budget.time_s (seconds per run)", source)
    return Study(spec, source, base, list(entries), runs, results_dir)


def label_dir(label: str) -> str:
    """The directory name of a strategy label (``asha/random`` -> ``asha-random``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.") or "strategy"


def _entries(spec: StudySpec, source: str) -> dict[str, StrategyEntry]:
    if isinstance(spec.strategies, list):
        return {label: StrategyEntry(strategy=label) for label in spec.strategies}
    out = {}
    for label, entry in spec.strategies.items():
        if entry is None or isinstance(entry, str):
            entry = StrategyEntry(strategy=entry or label)
        elif entry.strategy is None:
            entry = entry.model_copy(update={"strategy": label})
        out[str(label)] = entry
    return out


def _run_overrides(spec: StudySpec, base: Any, entry: StrategyEntry, label: str, seed: int,
                   results: Path) -> list[tuple[str, Any]]:
    """The keys set on the base experiment for one run, in order: strategy, budget, the study's
    ``set``, the strategy's ``set``, then name, results and seed (which the study owns)."""
    out: list[tuple[str, Any]] = [("strategy", _strategy(entry.strategy, base))]
    budget = spec.budget.model_dump(exclude_none=True)
    budget.setdefault("trials", DEFAULT_TRIALS)
    out += [(f"budget.{key}", value) for key, value in budget.items()]
    out += _flat(spec.set)
    out += _flat(entry.set)
    out += [("name", f"seed{seed}"), ("results", str(results)), ("seed", seed)]
    return out


def _flat(keys: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``set`` as dotted key paths: a nested mapping sets each key inside it (so ``--set
    set.data.size=100`` changes the size and keeps the dataset's name)."""
    out: list[tuple[str, Any]] = []
    for key, value in keys.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += _flat(value, f"{path}.")
        else:
            out.append((path, value))
    return out


def _strategy(value: Any, base: Any) -> Any:
    """The run's strategy: the base experiment's scheduler/searcher options are kept where the
    strategy names the same scheduler/searcher (``asha/random`` on a base with ASHA options)."""
    from hpotk.experiment import normalise_strategy

    try:
        wanted = normalise_strategy(value, "strategy")
    except ConfigError:
        return value  # validated (and reported with its key path) with the run's experiment
    base_strategy = base.to_dict()["strategy"]
    for part in ("scheduler", "searcher"):
        if wanted[part]["name"] == base_strategy[part]["name"] and len(wanted[part]) == 1:
            wanted[part] = dict(base_strategy[part])
    return wanted


def _load_experiment(path: Path, overrides: list[tuple[str, Any]], where: str,
                     source: str) -> Any:
    from hpotk import experiment as experiments

    doc = experiments.read_document(path)
    doc.setdefault("name", path.stem)
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str):
        data["path"] = str((path.resolve().parent / data["path"]).expanduser())
    try:
        for key, value in overrides:
            if key in ("strategy", "results", "name", "seed"):
                doc[key] = value
                continue
            doc = experiments.apply_overrides(doc, [f"{key}={json.dumps(value)}"])
        return experiments.validate(doc, str(path))
    except ConfigError as exc:
        if where == "experiment":
            raise
        path_in = exc.path.replace("--set ", "")
        raise ConfigError(f"{where}: {path_in}" if path_in else where,
                          f"{exc.message} (in the run's experiment, from {path.name})",
                          source) from None


_TYPE_MISMATCH = {"list_type", "dict_type", "string_type", "none_required", "model_type",
                  "model_attributes_type"}
_BRANCHES = {"str", "int", "float", "none", "StrategyEntry"}


def _first_error(exc: ValidationError, doc: dict[str, Any], source: str) -> ConfigError:
    errors = exc.errors()
    # a union (list or mapping; a name or an entry) reports every branch: keep the branch that
    # matched the value's type, i.e. the error that is not a type mismatch, deepest first
    specific = [e for e in errors if e["type"] not in _TYPE_MISMATCH] or errors
    err = max(specific, key=lambda e: len(e["loc"]))
    loc = [p for p in err["loc"] if not (isinstance(p, str) and (
        "[" in p or p.startswith("function-") or p in _BRANCHES))]
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    if err["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        return ConfigError(key, f"unknown key; valid keys: {sorted(model.model_fields)}", source)
    if err["type"] == "missing":
        return ConfigError(key, "required key is missing", source)
    node: Any = doc
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
            break
    message = err["msg"].removeprefix("Value error, ")
    got = f", got {node!r}" if node is not None else ""
    return ConfigError(key, f"{message}{got}", source)


def _model_at(loc: list[Any]) -> type[BaseModel]:
    if loc[:1] == ["budget"]:
        return StudyBudget
    if loc[:1] == ["strategies"] and len(loc) >= 2:
        return StrategyEntry
    return StudySpec


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class StudyOutcome:
    """What `run_study` did: the runs it ran or skipped, the outputs and the summary."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: str | None = None
    summary: StudySummary | None = None
    outputs: list[Path] = field(default_factory=list)


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
    runs = study.runs if only is None else [_element(study, only)]
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
        log(f"[hpotk] study {study.name}: run {run.index + 1} of {len(study.runs)}: {what} "
            f"({exp.strategy.label}), {left:.0f} s" + (" left" if status else ""))
        result = runner.run(exp, address=address, exist_ok=True, verbose=verbose)
        run_state.write_state(run.path, budget=full_budget)
        outcome.ran.append(what)
        if result.status == "interrupted":
            outcome.interrupted = what
            return outcome
    if only is None or all(_run_status(r) == "complete" for r in study.runs):
        # the whole study, or the job-array element that finds every run complete
        outcome.summary, outcome.outputs = report(study, log=log)
    return outcome


def _element(study: Study, index: int) -> StudyRun:
    if not 0 <= index < len(study.runs):
        raise HpotkError(f"--element {index}: the study has runs 0 to {len(study.runs) - 1}")
    return study.runs[index]


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
    path = study.results_dir / STUDY_FILE
    tmp = path.with_name(f"{STUDY_FILE}.{os.getpid()}.tmp")  # job-array elements write it too
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return path


def report(study: Study, *, log: Any = print) -> tuple[StudySummary, list[Path]]:
    """Aggregate the study's complete runs (`hpotk study --report-only`) and write the outputs.

    Runs not complete yet are left out and listed; the baseline needs at least one.
    """
    from hpotk import results

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
                        grid_points=study.spec.grid_points)
    summary.name = study.name
    note = (f"{len(missing)} of {len(study.runs)} runs not complete yet" if missing else "")
    outputs = write_outputs(summary, study.results_dir, note=note)
    write_study_json(study, outputs)
    log(summary.text())
    log(f"[hpotk] study {study.name}: " + ", ".join(str(p) for p in outputs))
    return summary, outputs


# ---------------------------------------------------------------------------------------------
# Aggregation


@dataclass
class RunCurve:
    """One run's curve on the common grid and its time-to-target.

    Attributes:
        values: y(t) on the grid (NaN before ``top_k`` trials reported).
        finished: trials finished by each grid time.
        final: the last value of y (NaN if never defined).
        tts: time-to-target in seconds, or None (censored: not reached by ``horizon``).
        horizon: how long the run ran (its time budget, or its last result).
    """

    label: str
    repeat: int
    seed: Any
    path: str
    values: Any
    finished: Any
    final: float
    trials_finished: int
    tts: float | None
    horizon: float


@dataclass
class StrategySummary:
    """One strategy across its repeats (see `StudySummary.table` for the columns)."""

    label: str
    runs: int
    center: Any  # mean (ci) or median (iqr) curve on the grid
    low: Any
    high: Any
    finished_mean: Any
    trials_finished_mean: float
    trials_finished_sd: float
    final_mean: float
    final_sd: float
    tts: float | None
    horizon: float
    speedup: float | None = None
    speedup_bound: str = ""  # "=" exact, ">=" lower bound, "<=" upper bound, "" undefined
    p_value: float | None = None

    @property
    def speedup_text(self) -> str:
        if self.speedup is None:
            return "—"
        sign = {"=": "", ">=": "≥ ", "<=": "≤ "}[self.speedup_bound]
        return f"{sign}{self.speedup:.2g}×" if self.speedup < 10 else f"{sign}{self.speedup:.0f}×"

    @property
    def tts_text(self) -> str:
        return f"{self.tts:.0f} s" if self.tts is not None else f"> {self.horizon:.0f} s"


@dataclass
class StudySummary:
    """The aggregated study: every run's curve and every strategy's summary on one time grid."""

    report_metric: str
    objective: str
    mode: str
    top_k: int
    baseline: str
    target: float | None
    target_given: bool
    band: str
    grid: Any
    runs: list[RunCurve]
    strategies: dict[str, StrategySummary]
    name: str = "study"

    def table(self) -> list[dict[str, Any]]:
        """summary.csv's rows, one per strategy."""
        rows = []
        for s in self.strategies.values():
            rows.append({
                "strategy": s.label, "runs": s.runs,
                "trials_finished_mean": _round(s.trials_finished_mean),
                "trials_finished_sd": _round(s.trials_finished_sd),
                f"final_{self.report_metric}_mean": _round(s.final_mean, 6),
                f"final_{self.report_metric}_sd": _round(s.final_sd, 6),
                "time_to_target_s": _round(s.tts, 1),
                "time_to_target_censored": s.tts is None,
                "speedup": _round(s.speedup, 3), "speedup_bound": s.speedup_bound,
                "speedup_text": s.speedup_text,
                "mannwhitney_p": _round(s.p_value, 4),
            })
        return rows

    def text(self) -> str:
        """A few lines for the terminal."""
        target = "none" if self.target is None else f"{self.target:.4g}"
        lines = [f"[hpotk] study {self.name}: mean {self.report_metric} of the top {self.top_k} "
                 f"trials, target {target}" + ("" if self.target_given else
                                                f" ({self.baseline}'s final value)")]
        for s in self.strategies.values():
            p = "" if s.p_value is None else f", p={s.p_value:.2g}"
            lines.append(f"    {s.label:<16} final {_num(s.final_mean)} ± {_sd(s.final_sd)}, "
                         f"{_count(s.trials_finished_mean)} trials finished, time-to-target "
                         f"{s.tts_text}, speedup {s.speedup_text}{p}")
        short = [f"{c.label} seed {c.seed}" for c in self.runs if math.isnan(c.final)]
        if short:
            lines.append(f"[hpotk] note: fewer than top_k={self.top_k} trials reported in "
                         f"{', '.join(short)}, so no curve there; give the runs more time or "
                         f"lower top_k")
        return "\n".join(lines)


def aggregate(runs: Mapping[str, Sequence[Any]], *, report_metric: str, top_k: int,
              baseline: str, target: float | None = None, band: str = "ci",
              grid_points: int = 200) -> StudySummary:
    """Aggregate a study's runs into curves, time-to-target and speedups.

    Args:
        runs: strategy label -> its repeats, each a `hpotk.results.Results` (only ``trials``,
            ``history`` and ``meta`` are read: metric, mode, budget, runs, seed).
        report_metric: the metric the curve shows (e.g. ``test_mae``); trials are ranked by the
            objective (``meta["metric"]``), in the objective's direction (``meta["mode"]``).
        top_k: how many of the best trials y(t) averages.
        baseline: the label speedups and p-values are relative to.
        target: the value to reach; None: the baseline's final aggregate value.
        band: "ci" (mean ± 95% Student-t confidence interval) or "iqr" (median, quartiles).
        grid_points: points of the common time grid, from 0 to the longest run.

    Returns:
        A `StudySummary`. Raises `HpotkError` for an empty or inconsistent input.
    """
    import numpy as np

    if band not in BANDS:
        raise HpotkError(f"band: expected one of {sorted(BANDS)}, got {band!r}")
    if top_k < 1:
        raise HpotkError(f"top_k: expected >= 1, got {top_k!r}")
    if baseline not in runs or not runs[baseline]:
        raise HpotkError(f"baseline {baseline!r} has no runs; strategies with runs: "
                         f"{[k for k, v in runs.items() if v]}")
    first = runs[baseline][0]
    objective, mode = str(first.meta["metric"]), str(first.meta.get("mode", "min"))
    for label, repeats in runs.items():
        for res in repeats:
            if res.meta["metric"] != objective or res.meta.get("mode", "min") != mode:
                raise HpotkError(f"{label}: run {res.meta.get('name')} optimises "
                                 f"{res.meta['metric']} ({res.meta.get('mode')}), not "
                                 f"{objective} ({mode}) like the baseline")
    events = {label: [_events(res, objective, mode, report_metric, top_k) for res in repeats]
              for label, repeats in runs.items() if repeats}
    horizon = max(ev["horizon"] for evs in events.values() for ev in evs)
    grid = np.linspace(0.0, horizon, grid_points)
    better = np.less_equal if mode == "min" else np.greater_equal

    curves: dict[str, list[RunCurve]] = {}
    for label, evs in events.items():
        for repeat, (res, ev) in enumerate(zip(runs[label], evs, strict=True)):
            values = _step(ev["times"], ev["values"], grid)
            finished = np.searchsorted(np.sort(ev["ends"]), grid, side="right")
            defined = ev["values"][~np.isnan(ev["values"])]
            final = float(defined[-1]) if len(defined) else math.nan
            curves.setdefault(label, []).append(RunCurve(
                label, repeat, res.meta.get("seed"), str(getattr(res, "path", "")), values,
                finished, final, int(len(ev["ends"])), None, ev["horizon"]))

    summaries = {label: _summarise(label, cs, grid, band) for label, cs in curves.items()}
    given = target is not None
    if target is None:
        center = summaries[baseline].center
        defined = center[~np.isnan(center)]
        target = float(defined[-1]) if len(defined) else None
    for label, cs in curves.items():
        for curve, ev in zip(cs, events[label], strict=True):
            curve.tts = _first_reach(ev["times"], ev["values"], target, better)
        s = summaries[label]
        s.tts = _first_reach(grid, s.center, target, better)
    base = summaries[baseline]
    base_finals = [c.final for c in curves[baseline] if not math.isnan(c.final)]
    for label, s in summaries.items():
        s.speedup, s.speedup_bound = _speedup(base, s)
        if label != baseline:
            finals = [c.final for c in curves[label] if not math.isnan(c.final)]
            s.p_value = _mannwhitney(finals, base_finals)
    return StudySummary(report_metric, objective, mode, top_k, baseline, target, given, band,
                        grid, [c for cs in curves.values() for c in cs], summaries)


def _clock(res: Any) -> Any:
    """A function: seconds since the experiment started -> seconds of running (pauses between
    an interruption and its resume left out, from ``meta["runs"]``)."""
    import numpy as np

    started = res.meta.get("started")
    segments = [s for s in (res.meta.get("runs") or []) if s.get("started") is not None]
    if started is None or len(segments) < 2:
        return lambda t: np.asarray(t, dtype=float)
    starts = np.array([float(s["started"]) - float(started) for s in segments])
    ends = np.array([float(s["finished"]) - float(started) if s.get("finished") is not None
                     else math.inf for s in segments])
    before = np.concatenate([[0.0], np.cumsum(np.minimum(ends, np.inf) - starts)[:-1]])
    before = np.where(np.isfinite(before), before, 0.0)

    def active(t: Any) -> Any:
        t = np.asarray(t, dtype=float)
        i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        return before[i] + np.maximum(0.0, t - starts[i])

    return active


def _events(res: Any, objective: str, mode: str, report_metric: str,
            top_k: int) -> dict[str, Any]:
    """One run as events: at each result, y = the top-k mean; and the trials' end times."""
    import numpy as np

    history = res.history
    for column in (objective, report_metric):
        if column not in history.columns and len(history):
            shown = sorted(c for c in history.columns if not c.startswith("config/") and c not in
                           ("trial_id", "iteration", "time_s", "timestamp", "node"))
            raise HpotkError(f"{res.meta.get('name')}: no trial reported {column!r}; the "
                             f"metrics reported are {shown}")
    clock = _clock(res)
    if len(history):
        order = np.argsort(history["time_s"].to_numpy(dtype=float), kind="stable")
        h = history.iloc[order]
        times = clock(h["time_s"].to_numpy(dtype=float))
        ids = h["trial_id"].astype(str).to_numpy()
        objs = h[objective].to_numpy(dtype=float)
        reps = h[report_metric].to_numpy(dtype=float)
    else:
        times = ids = objs = reps = np.array([])
    sign = 1.0 if mode == "min" else -1.0
    best: dict[str, float] = {}  # trial -> signed best objective so far (smaller is better)
    report_at: dict[str, float] = {}  # trial -> report_metric at that iteration
    ranked: list[tuple[float, str]] = []  # (signed best objective, trial), ascending
    values = np.full(len(times), math.nan)
    for i in range(len(times)):
        obj, trial = objs[i], ids[i]
        if not math.isnan(obj):
            key = sign * obj
            held = best.get(trial)
            if held is None or key < held:
                if held is not None:
                    del ranked[bisect.bisect_left(ranked, (held, trial))]
                bisect.insort(ranked, (key, trial))
                best[trial], report_at[trial] = key, float(reps[i])
        if len(ranked) >= top_k:
            values[i] = math.fsum(report_at[t] for _, t in ranked[:top_k]) / top_k
    trials = res.trials
    ends = np.array([])
    if len(trials) and "status" in trials and "end_s" in trials:
        done = trials[trials["status"].isin(FINISHED_STATUSES) & trials["end_s"].notna()]
        ends = clock(done["end_s"].to_numpy(dtype=float))
    budget = (res.meta.get("budget") or {}).get("time_s")
    last = float(times[-1]) if len(times) else 0.0
    horizon = max(float(budget) if budget else 0.0, last)
    return {"times": times, "values": values, "ends": ends, "horizon": horizon}


def _step(times: Any, values: Any, grid: Any) -> Any:
    """The step function (value of the last event at or before t) sampled on ``grid``."""
    import numpy as np

    if not len(times):
        return np.full(len(grid), math.nan)
    index = np.searchsorted(times, grid, side="right") - 1
    out = np.where(index >= 0, values[np.clip(index, 0, None)], math.nan)
    return out.astype(float)


def _first_reach(times: Any, values: Any, target: float | None, better: Any) -> float | None:
    import numpy as np

    if target is None or not len(times):
        return None
    with np.errstate(invalid="ignore"):
        hit = better(values, target) & ~np.isnan(values)
    return float(times[np.argmax(hit)]) if hit.any() else None


def _summarise(label: str, curves: list[RunCurve], grid: Any, band: str) -> StrategySummary:
    import numpy as np

    stack = np.vstack([c.values for c in curves])
    complete = ~np.isnan(stack).any(axis=0)  # a point every repeat has
    center = np.full(len(grid), math.nan)
    low = np.full(len(grid), math.nan)
    high = np.full(len(grid), math.nan)
    if complete.any():
        data = stack[:, complete]
        if band == "ci":
            center[complete] = data.mean(axis=0)
            if len(curves) > 1:
                from scipy import stats

                half = stats.t.ppf(0.975, len(curves) - 1) * data.std(axis=0, ddof=1) / math.sqrt(
                    len(curves))
                low[complete], high[complete] = center[complete] - half, center[complete] + half
        else:
            center[complete] = np.median(data, axis=0)
            low[complete], high[complete] = np.percentile(data, [25, 75], axis=0)
    finals = np.array([c.final for c in curves], dtype=float)
    counts = np.array([c.trials_finished for c in curves], dtype=float)
    finite = finals[~np.isnan(finals)]
    return StrategySummary(
        label, len(curves), center, low, high,
        np.vstack([c.finished for c in curves]).mean(axis=0),
        float(counts.mean()), float(counts.std(ddof=1)) if len(counts) > 1 else math.nan,
        float(finite.mean()) if len(finite) else math.nan,
        float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
        None, max(c.horizon for c in curves))


def _speedup(base: StrategySummary, s: StrategySummary) -> tuple[float | None, str]:
    """T_baseline / T_strategy; a censored time makes it a bound (or undefined if both are)."""
    if base.tts is not None and s.tts is not None:
        if s.tts <= 0:
            return (None, "") if base.tts > 0 else (1.0, "=")
        return base.tts / s.tts, "="
    if base.tts is None and s.tts is not None:  # the baseline took longer than it ran
        return (base.horizon / s.tts, ">=") if s.tts > 0 else (None, "")
    if base.tts is not None and s.tts is None:  # this strategy took longer than it ran
        return (base.tts / s.horizon, "<=") if s.horizon > 0 else (None, "")
    return None, ""


def _mannwhitney(values: list[float], baseline: list[float]) -> float | None:
    """Two-sided Mann–Whitney U p-value of final values against the baseline's."""
    if not values or not baseline:
        return None
    from scipy import stats

    if len(set(values) | set(baseline)) == 1:
        return 1.0
    return float(stats.mannwhitneyu(values, baseline, alternative="two-sided").pvalue)


# ---------------------------------------------------------------------------------------------
# Outputs


def write_outputs(summary: StudySummary, out_dir: Path, *, note: str = "") -> list[Path]:
    """Write curves.csv, summary.csv, summary.md and tts.png to ``out_dir``.

    Args:
        summary: `aggregate`'s result.
        out_dir: where to write (created).
        note: a line put on every table and figure, e.g. "replayed from results/x".

    Returns:
        The paths written.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    comment = f"# {note}\n" if note else ""
    rows = []
    for c in summary.runs:
        for i, t in enumerate(summary.grid):
            rows.append({"strategy": c.label, "repeat": c.repeat, "seed": c.seed,
                         "t_s": round(float(t), 3), "topk_mean": _round(c.values[i], 6),
                         "band_low": None, "band_high": None,
                         "trials_finished": int(c.finished[i])})
    for s in summary.strategies.values():
        for i, t in enumerate(summary.grid):
            rows.append({"strategy": s.label, "repeat": "all", "seed": None,
                         "t_s": round(float(t), 3), "topk_mean": _round(s.center[i], 6),
                         "band_low": _round(s.low[i], 6), "band_high": _round(s.high[i], 6),
                         "trials_finished": _round(s.finished_mean[i], 2)})
    curves = out_dir / "curves.csv"
    _atomic_text(curves, comment + pd.DataFrame(rows).to_csv(index=False))
    table = out_dir / "summary.csv"
    _atomic_text(table, comment + pd.DataFrame(summary.table()).to_csv(index=False))
    markdown = out_dir / "summary.md"
    _atomic_text(markdown, _markdown(summary, note))
    figure = out_dir / "tts.png"
    plot(summary, figure, note=note)
    return [curves, table, markdown, figure]


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _markdown(summary: StudySummary, note: str) -> str:
    s0 = summary
    target = "—" if s0.target is None else f"{s0.target:.4g}"
    how = "given in the study file" if s0.target_given else f"{s0.baseline}'s final value"
    lines = [f"# Time-to-solution study: {s0.name}", ""]
    if note:
        lines += [f"> {note}", ""]
    lines += [
        f"Curve: mean `{s0.report_metric}` of the top {s0.top_k} trials by `{s0.objective}` "
        f"({s0.mode}), {BANDS[s0.band]} across repeats. Target: {target} ({how}). Speedup: "
        f"time-to-target of {s0.baseline} / that of the strategy; `≥` where {s0.baseline} never "
        f"reached the target in its time (censored), `≤` where the strategy never did.", "",
        f"| strategy | runs | trials finished | final {s0.report_metric} | time-to-target | "
        f"speedup vs {s0.baseline} | Mann–Whitney p |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in s0.strategies.values():
        p = "—" if s.p_value is None else f"{s.p_value:.3g}"
        lines.append(f"| {s.label} | {s.runs} | {s.trials_finished_mean:.1f} ± "
                     f"{_sd(s.trials_finished_sd)} | {_num(s.final_mean)} ± {_sd(s.final_sd)} | "
                     f"{s.tts_text} | {s.speedup_text} | {p} |")
    lines += ["", "Per run:", "",
              f"| strategy | seed | trials finished | final {s0.report_metric} | "
              f"time-to-target | results |", "|---|---:|---:|---:|---:|---|"]
    for c in s0.runs:
        tts = f"{c.tts:.0f} s" if c.tts is not None else f"> {c.horizon:.0f} s (censored)"
        final = "—" if math.isnan(c.final) else f"{c.final:.4g}"
        lines.append(f"| {c.label} | {c.seed} | {c.trials_finished} | {final} | {tts} | "
                     f"{c.path} |")
    return "\n".join(lines) + "\n"


def plot(summary: StudySummary, path: Path, *, note: str = "") -> Path:
    """The NERSC Ray Tune guide's time-to-solution figure: per strategy a mean curve of the
    top-k trials with its band, the target, and the trials each strategy finished (in the
    legend, the top corner and a panel of trials finished against time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    minutes = float(summary.grid[-1]) >= 300
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    t = summary.grid / scale
    fig, (ax, bottom) = plt.subplots(2, 1, figsize=(8.5, 6.4), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    counts = []
    for i, s in enumerate(summary.strategies.values()):
        color = colors[i % len(colors)]
        what = "mean" if summary.band == "ci" else "median"
        versus = "baseline" if s.label == summary.baseline else f"speedup {s.speedup_text}"
        ax.plot(t, s.center, color=color, lw=2,
                label=f"{s.label} ({what} of {s.runs} runs; {versus})")
        if not np.isnan(s.low).all():
            ax.fill_between(t, s.low, s.high, color=color, alpha=0.2, lw=0)
        for run in summary.runs:  # each repeat, thin: where a mean is not defined yet too
            if run.label == s.label:
                ax.plot(t, run.values, color=color, lw=0.7, alpha=0.45)
        if s.tts is not None:
            ax.axvline(s.tts / scale, color=color, ls=":", lw=1)
        bottom.plot(t, s.finished_mean, color=color, lw=1.5)
        counts.append(f"{s.label}: {_count(s.trials_finished_mean)}")
    if all(np.isnan(s.center).all() for s in summary.strategies.values()):
        ax.text(0.5, 0.5, f"no curve: in no strategy did {summary.top_k} trials report in "
                f"every run", transform=ax.transAxes, ha="center", va="center", color="0.4")
    if summary.target is not None:
        ax.axhline(summary.target, color="0.3", ls="--", lw=1,
                   label=f"target {summary.target:.4g}")
    top = summary.mode == "min"  # the curves fall (min) or rise (max): keep clear of their end
    ax.text(0.99, 0.97 if top else 0.03, "trials finished\n" + "\n".join(counts),
            transform=ax.transAxes, ha="right", va="top" if top else "bottom", fontsize=8.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    # the axis spans the runs' own values (and the target): a 95% CI of two repeats is wide
    # enough to flatten every curve, so the band is clipped rather than the curves squeezed
    seen = np.concatenate([c.values for c in summary.runs] + (
        [[summary.target]] if summary.target is not None else []))
    seen = seen[np.isfinite(seen)]
    if len(seen):
        lo, hi = float(seen.min()), float(seen.max())
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1e-3)
        ax.set_ylim(lo - pad, hi + pad)
    band = "95% CI" if summary.band == "ci" else "interquartile range"
    ax.set_ylabel(f"{summary.report_metric}: mean of top {summary.top_k}")
    center = "mean" if summary.band == "ci" else "median"
    ax.set_title(f"{summary.name}: time to solution (thick: {center}, band: {band}, thin: each "
                 f"run; dotted: time-to-target)", fontsize=10)
    ax.legend(loc="best", fontsize=8.5,
              framealpha=0.9)
    ax.grid(alpha=0.3)
    bottom.set_ylabel("trials\nfinished")
    bottom.set_xlabel(f"wall time ({unit})")
    bottom.grid(alpha=0.3)
    bottom.set_xlim(0, t[-1])
    if note:
        fig.text(0.01, 0.005, note, fontsize=8, color="0.35", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    tmp = Path(path).with_name(f".{Path(path).stem}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=130)
    tmp.replace(path)  # whole files only: two array elements may aggregate at once
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------


def _round(value: Any, digits: int = 3) -> Any:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, digits)


def _sd(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.3g}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _num(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.4g}"


def _count(value: float) -> str:
    """A mean count: whole numbers as such, others with one decimal."""
    return "—" if math.isnan(value) else (f"{value:.0f}" if float(value).is_integer()
                                          else f"{value:.1f}")
