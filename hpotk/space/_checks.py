"""Small validation helpers shared by the search-space front-ends (key paths, numbers, keys)."""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError


def join(path: str, key: str | int) -> str:
    """Extend a key path: ``join("space", "lr") == "space.lr"``, ``join("a", 2) == "a[2]"``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_keys(mapping: dict[str, Any], allowed: list[str] | tuple[str, ...], path: str,
               what: str = "field") -> None:
    """Refuse keys outside ``allowed`` (the error lists the valid ones)."""
    for key in mapping:
        if key not in allowed:
            raise ConfigError(join(path, str(key)), f"unknown {what} {key!r}; valid {what}s: "
                              f"{', '.join(allowed)}")


def is_number(value: Any) -> bool:
    """True for int/float (not bool), finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any, path: str, what: str = "a number") -> float | int:
    """``value`` if it is a finite number (bools refused), else ConfigError."""
    if not is_number(value):
        raise ConfigError(path, f"expected {what}, got {value!r}")
    return value


def integral(value: Any, path: str) -> int:
    """An integer, accepting integral floats such as ``4.0``; ConfigError otherwise."""
    number(value, path, "an integer")
    if float(value) != int(value):
        raise ConfigError(path, f"expected an integer, got {value!r}")
    return int(value)


def positive(value: Any, path: str) -> float | int:
    number(value, path)
    if value <= 0:
        raise ConfigError(path, f"must be > 0, got {value!r}")
    return value


def ordered(low: float, high: float, path: str) -> None:
    """Refuse an empty or inverted range."""
    if not low < high:
        raise ConfigError(path, f"low {fmt(low)} must be < high {fmt(high)}")


def nonempty_list(value: Any, path: str, what: str = "values") -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(path, f"expected a list of {what}, got {value!r}")
    if not value:
        raise ConfigError(path, f"empty list of {what}: give at least one")
    return list(value)


def dedupe(values: list[Any]) -> tuple[list[Any], list[Any]]:
    """``values`` in order without repeats (``1`` and ``True`` kept apart), and the repeats."""
    kept: list[Any] = []
    dropped: list[Any] = []
    for v in values:
        if any(v == k and type(v) is type(k) for k in kept):
            dropped.append(v)
        else:
            kept.append(v)
    return kept, dropped


def value_kind(values: list[Any]) -> str:
    """The Param kind of a list of choice values: bool, int, float or categorical."""
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(is_number(v) for v in values):
        return "float"
    return "categorical"


def fmt(x: Any) -> str:
    """A number as a person writes it: ``16`` not ``16.0``, ``0.001`` not ``0.0010000``."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    if isinstance(x, float):
        return f"{x:.6g}"
    return repr(x) if isinstance(x, str) else str(x)
