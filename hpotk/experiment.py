"""The experiment spec: load a YAML/JSON file (or a Neptune model-HPO-configuration.json),
apply ``--set`` overrides, validate, fill defaults.

Every error is a `ConfigError` naming the file, the key path, the value received and what is
allowed. Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from hpotk._config import Strict, config_error
from hpotk.errors import ConfigError

EVAL_FREQUENCY_TYPES = ("evaluate_every_epoch", "evaluate_every_batch", "evaluate_every_pct")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


_Strict = Strict  # the strict base model all file kinds share (hpotk._config)


class Metric(_Strict):
    name: str
    mode: Literal["min", "max"] = "min"


class Constraint(_Strict):
    """A bound on a reported metric: a trial beyond it is infeasible (`hpotk.objectives`)."""

    name: str
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> Constraint:
        if self.max is None and self.min is None:
            raise ValueError(f"constraint on {self.name!r} has no bound: give max: or min:")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"constraint on {self.name!r}: min {self.min} > max {self.max}")
        return self

    def text(self) -> str:
        from hpotk.objectives import constraint_text

        return constraint_text(self)


class WarmStart(_Strict):
    """Start from earlier experiments (`hpotk.warm_start`)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)
    from_: list[str] = Field(alias="from", min_length=1)
    mode: Literal["configs", "history", "bounds"] = "configs"
    top: int = Field(10, ge=1)

    @field_validator("from_", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Component(BaseModel):
    """A scheduler or searcher: its registry name plus free options (checked by the module)."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Strategy(_Strict):
    scheduler: Component = Component(name="fifo")
    searcher: Component = Component(name="random")

    @property
    def label(self) -> str:
        return f"{self.scheduler.name}/{self.searcher.name}"


class Budget(_Strict):
    trials: int = Field(10, ge=1)
    concurrent: int = Field(1, ge=1)
    time_s: float | None = Field(None, gt=0)
    trial_time_s: float | None = Field(None, gt=0)
    max_t: int = Field(10, ge=1)
    # seconds with trials waiting and none training before the run ends as failed (hpotk._stall)
    stall_s: float = Field(300.0, gt=0)


class Resources(_Strict):
    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)


class Checkpoint(_Strict):
    every: int = Field(0, ge=0)
    at_end: bool = False
    keep: int = Field(1, ge=1)


class EvalFrequency(_Strict):
    type: Literal["evaluate_every_epoch", "evaluate_every_batch", "evaluate_every_pct"] = (
        "evaluate_every_epoch"
    )
    value: float = Field(1, gt=0)

    @model_validator(mode="after")
    def _pct_in_range(self) -> EvalFrequency:
        if self.type == "evaluate_every_pct" and not 0 < self.value <= 1:
            raise ValueError(f"evaluate_every_pct needs 0 < value <= 1, got {self.value}")
        return self


class EarlyStop(_Strict):
    enabled: bool = False
    window: int = Field(3, ge=1)


class Experiment(_Strict):
    name: str
    trainable: str | dict[str, Any]
    data: dict[str, Any] = Field(default_factory=dict)
    space: str | dict[str, Any]
    # one objective, or several (a list: the first is the primary one, which Ray's checkpoint
    # scoring and single-number summaries use); `objectives` is always the list
    metric: Metric | list[Metric]
    constraints: list[Constraint] = Field(default_factory=list)
    warm_start: WarmStart | None = None
    _objectives: list[Metric] = PrivateAttr(default_factory=list)
    strategy: Strategy = Strategy()
    budget: Budget = Budget()
    resources: Resources = Resources()
    checkpoint: Checkpoint = Checkpoint()
    # auto: reuse actors where the trainable resets itself (hpotk.trainables.reuses_actors)
    reuse_actors: bool | Literal["auto"] = "auto"
    results: str = "results/"
    seed: int = 0
    fail_fast: bool = False
    max_failures: int = Field(0, ge=0)
    eval_frequency: EvalFrequency = EvalFrequency()
    early_stop: EarlyStop = EarlyStop()
    task: dict[str, Any] = Field(default_factory=dict)
    # a learning-rate schedule stepped once per evaluation (hpotk.lr_schedule checks it)
    lr_schedule: Any = None
    # Not part of the file: where it was loaded from (relative paths resolve against it).
    source: str | None = Field(None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name_is_a_directory_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a valid experiment name: use letters, digits, '.', '_' and '-'"
            )
        return value

    @field_validator("metric")
    @classmethod
    def _distinct_objectives(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("an empty list: give one {name, mode} or several")
            names = [m.name for m in value]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{twice[0]!r} is listed twice: list each objective once")
        return value

    @model_validator(mode="after")
    def _objectives_list(self) -> Experiment:
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        self._objectives = list(metrics)
        self.metric = metrics[0]
        return self

    @property
    def objectives(self) -> list[Metric]:
        """Every objective (one, or several when ``metric`` is a list); the first is primary."""
        return list(getattr(self, "_objectives", None) or [self.metric])

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def base_dir(self) -> Path:
        return Path(self.source).resolve().parent if self.source else Path.cwd()

    @property
    def results_dir(self) -> Path:
        return (Path(self.results).expanduser().resolve() / self.name)

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"source"}, by_alias=True)
        if self.multi_objective:
            data["metric"] = [m.model_dump(mode="json") for m in self.objectives]
        data["strategy"] = {
            "scheduler": {"name": self.strategy.scheduler.name, **self.strategy.scheduler.options},
            "searcher": {"name": self.strategy.searcher.name, **self.strategy.searcher.options},
        }
        return data


# ---------------------------------------------------------------------------------------------
# Loading


def read_document(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON file into a mapping; ConfigError for a missing file or bad syntax."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise ConfigError("", f"no such file {str(p)!r}", source=str(p))
    if p.is_dir():
        raise ConfigError("", f"{str(p)!r} is a directory, expected an experiment file", str(p))
    text = p.read_text()
    try:
        if p.suffix == ".json":
            doc = json.loads(text)
        else:
            doc = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                          str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError("", f"invalid YAML{where}: {problem}", str(p)) from None
    if not isinstance(doc, dict):
        raise ConfigError("", f"expected a mapping of keys at the top level, got "
                              f"{type(doc).__name__}", str(p))
    return doc


def parse_override(item: str) -> tuple[str, Any]:
    """``"budget.trials=8"`` -> ``("budget.trials", 8)``; values are parsed as YAML scalars."""
    import yaml

    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("--set", f"expected KEY.PATH=VALUE, got {item!r}")
    if not all(re.match(r"^[A-Za-z0-9_-]+$", part) for part in key.split(".")):
        raise ConfigError("--set", f"bad key path {key!r} in {item!r}: use dot-separated key "
                                   "names, e.g. budget.trials=8")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(doc: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each ``key.path=value`` in a copy of ``doc``, creating mappings as needed."""
    doc = copy.deepcopy(doc)
    for item in overrides:
        key, value = parse_override(item)
        parts = key.split(".")
        node: Any = doc
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if part == "strategy" and isinstance(nxt, str):
                nxt = node[part] = _strategy_mapping(nxt)
            if isinstance(nxt, str) and part in ("scheduler", "searcher"):
                nxt = node[part] = {"name": nxt}
            if not isinstance(nxt, dict):
                prefix = ".".join(parts[: i + 1])
                raise ConfigError(f"--set {key}", f"{prefix} is {nxt!r}, not a mapping, so it "
                                                  f"has no key {parts[i + 1]!r}")
            node = nxt
        node[parts[-1]] = value
    return doc


def _strategy_mapping(value: str) -> dict[str, Any]:
    scheduler, _, searcher = value.partition("/")
    return {"scheduler": {"name": scheduler}, "searcher": {"name": searcher or "random"}}


def normalise_strategy(value: Any, path: str = "strategy",
                       base_dir: str | Path | None = None) -> dict[str, Any]:
    """``"asha/tpe"``, ``"asha"``, ``"tpe"`` or a mapping -> ``{scheduler: {...}, searcher: {...}}``.

    A name may be a plug-in, ``"module:factory"`` (a module file relative to ``base_dir``)."""
    from hpotk.schedulers import SCHEDULERS
    from hpotk.searchers import SEARCHERS

    if isinstance(value, str):
        text = value.strip()
        if "/" in text:
            scheduler, searcher = (s.strip() for s in text.split("/", 1))
        elif text in SEARCHERS and text not in SCHEDULERS:
            scheduler, searcher = "fifo", text
        else:
            scheduler, searcher = text, "random"
        value = {"scheduler": scheduler, "searcher": searcher}
    if not isinstance(value, dict):
        raise ConfigError(path, f"expected 'scheduler/searcher' (e.g. asha/random) or a mapping, "
                                f"got {value!r}")
    out = {}
    for key, item in value.items():
        if key not in ("scheduler", "searcher"):
            raise ConfigError(f"{path}.{key}", "unknown key; valid keys: ['scheduler', 'searcher']")
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{path}.{key}", f"expected a name or a mapping with 'name', got "
                                               f"{item!r}")
        out[key] = dict(item)
    registries = {"scheduler": SCHEDULERS, "searcher": SEARCHERS}
    for key, item in out.items():
        # unknown name -> choices; a plug-in is imported and checked, its file path absolute
        item["name"] = registries[key].canonical(item["name"], f"{path}.{key}", base_dir)
    return out


def load(path: str | Path | dict[str, Any], overrides: list[str] | None = None,
         extra: dict[str, Any] | None = None) -> Experiment:
    """Load, override and validate an experiment file (or mapping).

    Args:
        path: a hpotk experiment (YAML/JSON) or a Neptune ``model-HPO-configuration.json``; or
            the experiment as a mapping, validated the same way (relative paths in it are taken
            from the current directory).
        overrides: ``--set key.path=value`` items, applied in order.
        extra: overrides already parsed (``--trials``, ``--parallel``, ``--data``), applied last.
    """
    if isinstance(path, dict):
        source, doc, base = None, copy.deepcopy(path), Path.cwd()
    else:
        source, doc, base = str(path), read_document(path), Path(path).resolve().parent
        if "models" in doc and "trainable" not in doc:
            doc = neptune_to_experiment(doc, Path(path))
        doc.setdefault("name", Path(path).stem)
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str):
        # trials run in their own directories: a data file is found from the experiment file's
        data["path"] = str((base / data["path"]).expanduser())
    try:
        doc = apply_overrides(doc, overrides or [])
        for key, value in (extra or {}).items():
            doc = apply_overrides(doc, [f"{key}={json.dumps(value)}"])
    except ConfigError as exc:
        raise ConfigError(exc.path, exc.message, source) from None
    return validate(doc, source)


def validate(doc: dict[str, Any], source: str | None = None) -> Experiment:
    """A validated `Experiment` from a mapping; ConfigError naming the first problem."""
    doc = dict(doc)
    try:
        if "strategy" in doc:
            base_dir = Path(source).resolve().parent if source else None
            doc["strategy"] = normalise_strategy(doc["strategy"], base_dir=base_dir)
        exp = Experiment.model_validate({**doc, "source": source})
        _check_cross_fields(exp)
        from hpotk.lr_schedule import validate as validate_lr_schedule

        exp.lr_schedule = validate_lr_schedule(exp.lr_schedule, "lr_schedule")
        if isinstance(exp.trainable, dict):
            exp.trainable = _check_command(exp.trainable, exp)
        else:
            exp.trainable = _check_trainable(exp)
            if exp.reuse_actors is True:
                from hpotk.trainables import reuses_actors

                reuses_actors(exp.trainable, True)  # a class without reset_config is refused
    except ConfigError as exc:
        raise ConfigError(exc.path, exc.message, exc.source or source) from None
    except ValidationError as exc:
        raise _first_error(exc, doc, source) from None
    return exp


def _check_cross_fields(exp: Experiment) -> None:
    if exp.budget.concurrent > exp.budget.trials:
        exp.budget.concurrent = exp.budget.trials  # more slots than trials is harmless: clamp
    if isinstance(exp.space, str) and not exp.space.strip():
        raise ConfigError("space", "empty path; give a search-space file or an inline mapping")
    if isinstance(exp.trainable, str) and not exp.trainable.strip():
        raise ConfigError("trainable", "empty; give a built-in name, 'pkg.module:Class' or "
                                       "{command: [...], metrics: [...]}")


def _check_trainable(exp: Experiment) -> str:
    """A built-in name, or the user's trainable imported and checked (its file path absolute)."""
    from hpotk import trainables

    spec = trainables.check(exp.trainable, "trainable", exp.base_dir)
    if (exp.checkpoint.every or exp.checkpoint.at_end) and trainables.checkpoints_itself(spec):
        key = "checkpoint.every" if exp.checkpoint.every else "checkpoint.at_end"
        raise ConfigError(key, "a function trainable checkpoints itself: pass the checkpoint to "
                               "ray.tune.report(metrics, checkpoint=...) in it, and leave "
                               "checkpoint.every at 0 and checkpoint.at_end false")
    return spec


def _check_command(spec: dict[str, Any], exp: Experiment) -> dict[str, Any]:
    """The normalised command spec: relative script paths resolved against the experiment file."""
    if "command" not in spec:
        raise ConfigError("trainable", f"a mapping trainable needs 'command' (an argument list); "
                                       f"got keys {sorted(spec)}")
    from hpotk.trainables.command import validate_command_spec

    return validate_command_spec(spec, "trainable", base_dir=str(exp.base_dir),
                                 objective=exp.metric.name)


def _first_error(exc: ValidationError, doc: dict[str, Any], source: str | None) -> ConfigError:
    return config_error(exc, doc, source, Experiment)


# ---------------------------------------------------------------------------------------------
# Neptune ML model-HPO-configuration.json as a whole experiment

METRIC_MODES = {
    "acc": "max", "acc_topk": "max", "F1": "max", "precision": "max", "recall": "max",
    "roc_auc": "max", "mrr": "max", "mse": "min", "mae": "min",
}
DEFAULT_NEPTUNE_DATA = {
    "rgcn": {"name": "hetero-synthetic"},
    "transe": {"name": "kg-synthetic"},
    "distmult": {"name": "kg-synthetic"},
    "rotate": {"name": "kg-synthetic"},
}


def neptune_to_experiment(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """Map a Neptune ML ``model-HPO-configuration.json`` onto an hpotk experiment mapping.

    ``model`` -> trainable, ``task_type``/``eval_metric`` -> task, ``eval_metric.metric`` ->
    metric ``val_<metric>`` (mode from the metric), ``eval_frequency`` -> eval_frequency, the
    tier lists -> the search space. Trial budget and parallelism come from ``--trials`` and
    ``--parallel`` (Neptune's maxHPONumberOfTrainingJobs / maxHPOParallelTrainingJobs).
    """
    models = doc.get("models")
    if not isinstance(models, list) or not models:
        raise ConfigError("models", "expected a non-empty list with one model entry", str(path))
    if len(models) > 1:
        names = [m.get("model") if isinstance(m, dict) else m for m in models]
        raise ConfigError("models", f"has {len(models)} entries {names}; Neptune ML (and hpotk) "
                                    "tune one model per file: keep one entry or split the file",
                          str(path))
    model = models[0]
    if not isinstance(model, dict):
        raise ConfigError("models[0]", f"expected a mapping, got {model!r}", str(path))
    unknown = set(doc) - {"models"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], "unknown key; valid keys: ['models']", str(path))
    name = model.get("model")
    if not isinstance(name, str):
        raise ConfigError("models[0].model", f"expected a model name, got {name!r}", str(path))
    from hpotk.space.neptune import DEFAULT_METRIC

    task_type = model.get("task_type")
    if task_type is not None and not isinstance(task_type, str):
        raise ConfigError("models[0].task_type", f"expected a task type name, got "
                                                 f"{task_type!r}", str(path))
    eval_metric = model.get("eval_metric", {"metric": DEFAULT_METRIC.get(task_type, "acc")})
    if isinstance(eval_metric, str):  # Neptune ML's documentation writes it as a plain string in one place
        eval_metric = {"metric": eval_metric}
    if not isinstance(eval_metric, dict) or "metric" not in eval_metric:
        raise ConfigError("models[0].eval_metric", f"expected {{\"metric\": NAME}}, got "
                                                   f"{eval_metric!r}", str(path))
    metric = eval_metric["metric"]
    if not isinstance(metric, str) or metric not in METRIC_MODES:
        raise ConfigError("models[0].eval_metric.metric",
                          f"unknown metric {metric!r}; choose one of {sorted(METRIC_MODES)}",
                          str(path))
    space = {k: v for k, v in model.items()
             if k.endswith("-tier-param") or k == "fixed-param"}
    max_t = _neptune_max_epochs(space)
    experiment: dict[str, Any] = {
        "name": path.stem,
        "trainable": name,
        "data": dict(DEFAULT_NEPTUNE_DATA.get(name, {})),
        "space": space,
        "metric": {"name": f"val_{metric}", "mode": METRIC_MODES[metric]},
        "strategy": "fifo/random",
        "budget": {"trials": 10, "concurrent": 2, "max_t": max_t},
        "task": {"task_type": task_type, "eval_metric": eval_metric},
        # Neptune's enable-early-stop defaults to true (a config key of that name overrides it)
        "early_stop": {"enabled": True, "window": 3},
    }
    if "eval_frequency" in model:
        experiment["eval_frequency"] = model["eval_frequency"]
    return experiment


def _neptune_max_epochs(space: dict[str, Any]) -> int:
    """The largest ``num-epochs`` any trial may ask for (Tune's max_t), 10 if not given."""
    for params in space.values():
        for entry in params if isinstance(params, list) else []:
            if isinstance(entry, dict) and entry.get("param") == "num-epochs":
                values = [v for v in (entry.get("range") or []) if isinstance(v, (int, float))]
                if isinstance(entry.get("default"), (int, float)):
                    values.append(entry["default"])
                if values:
                    return int(max(values))
    return 10
