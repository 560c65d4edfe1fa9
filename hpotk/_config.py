"""The one translation of a file's validation errors into hpotk's `ConfigError`, and the strict
base model every file kind shares (experiment files, study files, and whatever comes next).

A `ConfigError` names the file, the key path as the user wrote it (``budget.trials``,
``strategies[2].set``), the value received and what is allowed: pydantic's own locations carry
union branch tags (``str``, ``dict[str,any]``, ``function-after[...]``, a model's name) that
are no keys of the file, so the path is rebuilt by walking the document itself.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hpotk.errors import ConfigError

# errors that only say "this union branch does not take this type": another branch's error
# (the one that matched the value's type) says what is wrong
TYPE_MISMATCH = {"list_type", "dict_type", "string_type", "none_required", "model_type",
                 "model_attributes_type", "int_type", "float_type", "bool_type"}


class Strict(BaseModel):
    """A file section: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


_MISSING = object()


def config_error(exc: ValidationError, doc: Any, source: str | None,
                 root: type[BaseModel]) -> ConfigError:
    """The one error to show for ``exc``, raised validating ``doc`` (loaded from ``source``)
    as ``root``: the deepest error that is not a mere type mismatch of a union branch."""
    errors = exc.errors()
    specific = [e for e in errors if e["type"] not in TYPE_MISMATCH] or errors
    err = max(specific, key=lambda e: len(_user_loc(e, doc)))
    loc = _user_loc(err, doc)
    path = key_path(loc)
    if err["type"] == "extra_forbidden":
        model = model_at(root, loc[:-1])
        valid = sorted(k for k in (model.model_fields if model else {}) if k != "source")
        return ConfigError(path, f"unknown key; valid keys: {valid}", source)
    if err["type"] == "missing":
        return ConfigError(path, "required key is missing", source)
    message = _message(err, [e for e in errors if _user_loc(e, doc) == loc
                             and e["type"] not in ("extra_forbidden", "missing")])
    value = lookup(doc, loc)
    got = f", got {value!r}" if value is not _MISSING else ""
    return ConfigError(path, f"{message}{got}", source)


def _message(err: dict[str, Any], same_key: list[dict[str, Any]]) -> str:
    """``err``'s message; where a union's branches all failed at one key, what each allows
    ("Input should be a valid string or a valid dictionary")."""
    first = err["msg"].removeprefix("Value error, ")
    if err["type"] not in TYPE_MISMATCH and not any(e["type"] == "literal_error"
                                                    for e in same_key):
        return first
    others = []
    for e in same_key:
        text = e["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
        text = text.split(", unable to")[0]
        if e is not err and text not in others and not first.startswith("Input should be " + text):
            others.append(text)
    return first.split(", unable to")[0] + "".join(f" or {o}" for o in others)


def _user_loc(err: dict[str, Any], doc: Any) -> list[Any]:
    """``err``'s location as keys of ``doc``: parts that are no key there (union branch tags,
    validator names) are dropped; a missing key is kept at the end."""
    loc, node = [], doc
    parts = list(err["loc"])
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            loc.append(part)
            node = node[part]
        elif isinstance(node, (list, tuple)) and isinstance(part, int) and part < len(node):
            loc.append(part)
            node = node[part]
        elif i == len(parts) - 1 and err["type"] == "missing" and isinstance(node, dict):
            loc.append(part)
    return loc


def key_path(loc: list[Any]) -> str:
    """``["space", "lr", "range", 0]`` -> ``space.lr.range[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def lookup(doc: Any, loc: list[Any]) -> Any:
    node = doc
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


def model_at(root: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    """The model that validates the mapping at ``loc`` (through lists, dicts and unions)."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            model = _model_in(model)
            continue
        fields = getattr(model, "model_fields", None)
        if fields is not None and part in fields:
            model = _model_in(fields[part].annotation)
        else:  # a key of a dict[str, Model]
            model = _model_in(model)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _model_in(annotation: Any) -> Any:
    """The BaseModel in ``annotation`` (a model, or a union / list / dict holding one)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
