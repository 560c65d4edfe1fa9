"""Neptune ML ``model-HPO-configuration.json`` files, and reading space files.

A Neptune file is ``{"models": [ {model entry} ]}``; the entry holds ``model``, ``task_type``,
``eval_metric``, ``eval_frequency`` and the four tier lists. As in Neptune ML, the ``models``
array must hold exactly one entry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hpotk.errors import ConfigError
from hpotk.space._checks import check_keys, integral, is_number, join
from hpotk.space.tiered import SECTIONS

TASK_TYPES = ("node_class", "node_regression", "link_prediction")
EVAL_METRICS = ("acc", "acc_topk", "F1", "mse", "mrr", "precision", "recall", "roc_auc")
EVAL_FREQUENCIES = ("evaluate_every_epoch", "evaluate_every_batch", "evaluate_every_pct")
ENTRY_KEYS = ("model", "task_type", "eval_metric", "eval_frequency", *SECTIONS)
# Used when the entry does not say (eval_frequency: Neptune ML's stated default; eval_metric: the
# usual metric of each task: accuracy for classification, mse for regression, mrr for links).
DEFAULT_EVAL_FREQUENCY = {"type": "evaluate_every_epoch", "value": 1}
DEFAULT_METRIC = {"node_class": "acc", "node_regression": "mse", "link_prediction": "mrr",
                  None: "acc"}


def read_document(spec: str | os.PathLike, base_dir: str | os.PathLike | None,
                  path: str) -> tuple[Any, str]:
    """Load a .json / .yaml / .yml file; relative paths are taken from ``base_dir``.

    Returns:
        the parsed document and the file's path (for error messages).
    """
    file = Path(spec)
    if not file.is_absolute() and base_dir is not None:
        file = Path(base_dir) / file
    if file.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise ConfigError(path, f"expected a .json, .yaml or .yml file, got {str(spec)!r}")
    if not file.is_file():
        where = f" (relative paths are taken from {base_dir})" if base_dir is not None else ""
        raise ConfigError(path, f"file not found: {file}{where}")
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() == ".json":
        try:
            return json.loads(text), str(file)
        except json.JSONDecodeError as exc:
            raise ConfigError(path, f"invalid JSON in {file}: {exc.msg} at line {exc.lineno} "
                                    f"column {exc.colno}") from None
    import yaml

    try:
        return yaml.safe_load(text), str(file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise ConfigError(path, f"invalid YAML in {file}{where}: {problem}") from None


def load_neptune(doc_or_path: dict[str, Any] | str | os.PathLike, *,
                 base_dir: str | os.PathLike | None = None, path: str = "") -> dict[str, Any]:
    """The single model entry of a Neptune ML ``model-HPO-configuration.json``, validated.

    Args:
        doc_or_path: the parsed document, or a path to it (relative to ``base_dir``).
        base_dir: directory for a relative path.
        path: key path of the document, for error messages.

    Returns:
        ``{"model", "task_type", "eval_metric": {"metric"[, "topk"]},
        "eval_frequency": {"type", "value"}, "1-tier-param", "2-tier-param", "3-tier-param",
        "fixed-param"}``; missing tier lists are ``[]``, missing ``task_type`` is None, missing
        ``eval_metric`` / ``eval_frequency`` get the defaults above. The tier lists are as
        written: pass the entry to `hpotk.space.build` to resolve them.

    Raises:
        ConfigError: when ``models`` does not hold exactly one valid entry.
    """
    source = None
    doc = doc_or_path
    if isinstance(doc_or_path, (str, os.PathLike)):
        doc, source = read_document(doc_or_path, base_dir, path)
    try:
        return _load(doc, path)
    except ConfigError as err:
        raise ConfigError(err.path, err.message, err.source or source) from None


def _load(doc: Any, path: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or "models" not in doc:
        raise ConfigError(path, "a Neptune ML model-HPO-configuration has one top-level key, "
                                f"models (a list holding one model entry); got {_short(doc)}")
    check_keys(doc, ("models",), path, "key")
    models = doc["models"]
    mpath = join(path, "models")
    if not isinstance(models, list) or not models:
        raise ConfigError(mpath, f"expected a list holding one model entry, got {models!r}")
    if len(models) > 1:
        names = [m.get("model") if isinstance(m, dict) else m for m in models]
        raise ConfigError(mpath, f"holds {len(models)} model entries ({names}); like Neptune ML, "
                                 "hpotk accepts exactly one per file: keep the one to tune")
    return neptune_entry(models[0], join(mpath, 0))


def neptune_entry(entry: Any, path: str) -> dict[str, Any]:
    """Validate one model entry (see `load_neptune` for what it returns)."""
    if not isinstance(entry, dict):
        raise ConfigError(path, f"expected a model entry (a mapping), got {entry!r}")
    check_keys(entry, ENTRY_KEYS, path, "key")
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError(join(path, "model"), f"expected the model name (e.g. rgcn, transe, "
                                               f"distmult, rotate), got {model!r}")
    task = entry.get("task_type")
    if task is not None and task not in TASK_TYPES:
        raise ConfigError(join(path, "task_type"), f"unknown task_type {task!r}; valid: "
                                                   f"{', '.join(TASK_TYPES)}")
    out = {"model": model, "task_type": task,
           "eval_metric": _eval_metric(entry.get("eval_metric"), task, join(path, "eval_metric")),
           "eval_frequency": _eval_frequency(entry.get("eval_frequency"),
                                             join(path, "eval_frequency"))}
    for section in SECTIONS:
        out[section] = entry.get(section, [])
    return out


def _eval_metric(value: Any, task: str | None, path: str) -> dict[str, Any]:
    if value is None:
        return {"metric": DEFAULT_METRIC[task]}
    if isinstance(value, str):  # Neptune ML's documentation types it as a string in one place
        value = {"metric": value}
    if not isinstance(value, dict):
        raise ConfigError(path, f"expected {{\"metric\": ...}}, got {value!r}")
    check_keys(value, ("metric", "topk"), path, "key")
    metric = value.get("metric")
    canonical = {m.lower(): m for m in EVAL_METRICS}
    if not isinstance(metric, str) or metric.lower() not in canonical:
        raise ConfigError(join(path, "metric"), f"unknown metric {metric!r}; valid: "
                                                f"{', '.join(EVAL_METRICS)}")
    out: dict[str, Any] = {"metric": canonical[metric.lower()]}
    if "topk" in value:
        if out["metric"] != "acc_topk":
            raise ConfigError(join(path, "topk"), "topk applies only to metric acc_topk")
        topk = integral(value["topk"], join(path, "topk"))
        if topk < 1:
            raise ConfigError(join(path, "topk"), f"must be >= 1, got {topk}")
        out["topk"] = topk
    return out


def _eval_frequency(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return dict(DEFAULT_EVAL_FREQUENCY)
    if not isinstance(value, dict):
        raise ConfigError(path, f"expected {{\"type\": ..., \"value\": ...}}, got {value!r}")
    check_keys(value, ("type", "value"), path, "key")
    kind = value.get("type")
    if kind not in EVAL_FREQUENCIES:
        raise ConfigError(join(path, "type"), f"unknown type {kind!r}; valid: "
                                              f"{', '.join(EVAL_FREQUENCIES)}")
    amount = value.get("value", 1)
    vpath = join(path, "value")
    if kind == "evaluate_every_pct":
        if not is_number(amount) or not 0 < amount <= 1:
            raise ConfigError(vpath, f"evaluate_every_pct takes a fraction in (0, 1], got "
                                     f"{amount!r}")
        return {"type": kind, "value": float(amount)}
    amount = integral(amount, vpath)
    if amount < 1:
        raise ConfigError(vpath, f"{kind} takes a count >= 1, got {amount}")
    return {"type": kind, "value": amount}


def _short(doc: Any) -> str:
    if isinstance(doc, dict):
        return f"keys {sorted(map(str, doc))}"
    return repr(doc)[:80]
