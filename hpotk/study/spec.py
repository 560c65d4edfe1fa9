"""The study file: its schema, loading it (with every run's experiment) and its errors.

A study file names a base experiment and the strategies to compare; `load_study` validates it,
applies ``--set`` overrides, and builds one ordinary experiment per (strategy, repeat): the
base experiment with the strategy, the study's budget and ``set`` keys, and a name, results
directory and seed that the study owns.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from hpotk import layout
from hpotk._config import Strict, config_error
from hpotk.errors import ConfigError
from hpotk.study._format import duration_text
from hpotk.study.bands import BANDS as BANDS  # hpotk.study.spec.BANDS, as before

STUDY_FILE = layout.STUDY_JSON
#: budget.trials of every run when the study does not give it: enough that the time budget binds
DEFAULT_TRIALS = 1000


_Strict = Strict  # the strict base model all file kinds share (hpotk._config)


class StrategyEntry(_Strict):
    """One strategy of a study: a scheduler/searcher and keys set on the base experiment."""

    strategy: str | dict[str, Any] | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    checkpoint_s: float | None = Field(None, ge=0)  # replay: this strategy's checkpoint cost


class StudyBudget(_Strict):
    """The budget every run gets (keys of the experiment's ``budget``; unset ones come from the
    base experiment, except ``trials``: `DEFAULT_TRIALS`, so that time is what binds)."""

    trials: int | None = Field(None, ge=1)
    concurrent: int | None = Field(None, ge=1)
    time_s: float | None = Field(None, gt=0)
    trial_time_s: float | None = Field(None, gt=0)
    max_t: int | None = Field(None, ge=1)


class StudySpec(_Strict):
    """A study file (see docs/studies.md)."""

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
    # several objectives: the hypervolume's reference point, objective -> value (default: the
    # worst value of each among the baseline's trials)
    reference_point: dict[str, float] | None = None
    band: Literal["auto", "t", "ci", "bootstrap", "iqr"] = "auto"  # hpotk.study.bands
    grid_points: int = Field(200, ge=2, le=100_000)
    set: dict[str, Any] = Field(default_factory=dict)
    results: str | None = None
    # replay (hpotk.replay): a complete fifo run or table archive to replay every strategy on,
    # or "auto": run the baseline for real, pool its repeats into the table, replay the others
    replay: str | None = None
    surrogate: bool | Literal["auto"] = "auto"  # replay on a learned surrogate of the table
    checkpoint_s: float | None = Field(None, ge=0)  # replay: seconds a checkpoint costs
    # replay: charge the searcher's measured time to the simulated clock (false: a table whose
    # clock stands for another scale, where the searcher's time is negligible)
    charge_searcher: bool = True
    # also run K real repeats of each replayed strategy (the file's key is `validate`)
    validate_repeats: int = Field(0, ge=0, alias="validate")
    replay_repeats: int | None = Field(None, ge=1)  # seeds per replayed strategy (else repeats)

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
    entries: dict[str, StrategyEntry] = field(default_factory=dict)

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
    def hybrid(self) -> bool:
        """``replay: auto``: the baseline runs for real and the other strategies are replayed
        on a table pooled from its repeats (and ``validate`` real repeats of each)."""
        return self.spec.replay == "auto"

    @property
    def real_runs(self) -> list[StudyRun]:
        """The runs that run for real, in order: all of them; in a hybrid study the baseline's
        and the first ``validate`` repeats of every other strategy; none in a study replayed on
        a table. Run i of this list is element i of the study's Slurm job array (``hpotk study
        FILE --element i``)."""
        if self.spec.replay is not None and not self.hybrid:
            return []
        if not self.hybrid:
            return list(self.runs)
        return [r for r in self.runs
                if r.label == self.baseline or r.repeat < self.spec.validate_repeats]

    @property
    def table_source(self) -> str | None:
        """The study's ``replay``: "auto", or the table's path (relative paths are relative to
        the study file when the file is there, else to the current directory)."""
        value = self.spec.replay
        if value is None or value == "auto" or Path(value).is_absolute():
            return value
        beside = Path(self.source).resolve().parent / value
        return os.path.normpath(beside) if beside.exists() else value

    @property
    def time_s(self) -> float:
        return float(self.runs[0].experiment.budget.time_s)

    def text(self) -> str:
        """`hpotk plan STUDY`'s text: the runs and the total time."""
        b = self.runs[0].experiment.budget
        counts = {label: sum(r.label == label for r in self.runs) for label in self.labels}
        shape = (f"{len(self.labels)} strategies x {self.spec.repeats} repeats"
                 if len(set(counts.values())) == 1
                 else " + ".join(f"{n} {label}" for label, n in counts.items()))
        lines = [
            f"study {self.name}: {shape} = {len(self.runs)} runs of {self.base.name} "
            f"({self.source})",
            f"every run: {b.time_s:g} s, {b.concurrent} trials at a time, up to {b.trials} "
            f"trials of max_t {b.max_t}",
            f"curve: mean {self.report_metric} of the top {self.spec.top_k} trials by "
            f"{self.base.metric.name} ({self.base.metric.mode}); band {BANDS[self.spec.band]}; "
            f"baseline {self.baseline}; target "
            + (f"{self.spec.target:g}" if self.spec.target is not None
               else "the baseline's final value"),
            "runs (one after another):",
        ]
        real = self.real_runs
        if self.spec.replay is not None:
            seeds = self.spec.replay_repeats or self.spec.repeats
            where = (f"on a table pooled from {self.baseline}'s real runs" if self.hybrid
                     else f"on {self.table_source}")
            lines.insert(-1, f"replayed: every strategy, {seeds} seeds each, in simulated time "
                             f"{where}" + (" (real runs below: the table and validate)"
                                           if self.hybrid else "; nothing runs for real"))
        width = max(len(r.label) for r in self.runs)
        for element, run in enumerate(real):  # numbered as --element numbers them
            lines.append(f"  {element:3d}  {run.label:<{width}}  seed {run.seed:<4d} "
                         f"{run.experiment.strategy.label:<16} {run.path}")
        if real:
            total = sum(r.experiment.budget.time_s for r in real)
            lines.append(f"total: {duration_text(total)} of running ({len(real)} x "
                         f"{self.time_s:g} s), plus start-up and data preparation before the "
                         f"first run")
        else:
            lines.remove("runs (one after another):")
        names = (layout.STUDY_CURVES, layout.STUDY_SUMMARY_CSV, layout.STUDY_SUMMARY_MD,
                 layout.STUDY_FIGURE, STUDY_FILE)
        lines.append(f"outputs: {self.results_dir}/ ({', '.join(names)})")
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
    # a hybrid study's replayed strategies run `validate` real repeats, which may be more than
    # the baseline's `repeats` (a replay checked against more real runs than the table has)
    baseline = spec.baseline or next(iter(entries))
    replayed_more = spec.validate_repeats if spec.replay == "auto" else 0
    for repeat in range(max(spec.repeats, replayed_more)):
        for label, entry in entries.items():
            if repeat >= spec.repeats and label == baseline:
                continue
            seed = first_seed + repeat
            overrides = _run_overrides(spec, base, entry, label, seed,
                                       results_dir / dirs[label])
            exp = _load_experiment(base_path, overrides, f"strategies.{label}", source)
            runs.append(StudyRun(len(runs), label, repeat, seed, exp))
    if spec.replay == "auto":
        base_run = next(r for r in runs if r.label == (spec.baseline or list(entries)[0]))
        if base_run.experiment.strategy.scheduler.name != "fifo":
            raise ConfigError("replay", f"replay: auto records the table from the baseline's "
                                        f"runs, so every trial must run to max_t: the baseline "
                                        f"{base_run.label!r} uses scheduler "
                                        f"{base_run.experiment.strategy.scheduler.name!r}; make "
                                        f"the baseline fifo/random", source)
    if spec.validate_repeats and spec.replay != "auto":
        # with a table every strategy is replayed and nothing runs for real: K real repeats
        # would be silently left out
        raise ConfigError("validate", "validate: K runs K real repeats of each replayed "
                                      "strategy beside the real baseline of a hybrid study; it "
                                      "needs replay: auto (with a table, or no replay, drop "
                                      "validate)", source)
    if runs[0].experiment.budget.time_s is None:
        raise ConfigError("budget.time_s", "a study compares strategies at equal time: give "
                                           "budget.time_s (seconds per run)", source)
    return Study(spec, source, base, list(entries), runs, results_dir, entries)


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


def _first_error(exc: ValidationError, doc: dict[str, Any], source: str) -> ConfigError:
    return config_error(exc, doc, source, StudySpec)
