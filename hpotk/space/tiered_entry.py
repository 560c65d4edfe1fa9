"""One hyperparameter entry of a tiered-JSON space (Neptune ML), validated field by field.

An entry is ``{"param": "lr", "type": "float", "range": [0.001, 0.01], "inc_strategy": "log"}``.
`parse_entry` checks every field and returns an `Entry`; turning it into a `Param` or `Fixed`
(tier activation, graph-size scaling) is `hpotk.space.tiered`'s job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpotk.errors import ConfigError
from hpotk.space._checks import (
    check_keys,
    dedupe,
    fmt,
    integral,
    is_number,
    join,
    nonempty_list,
    number,
    ordered,
    positive,
)
from hpotk.space.param import default_role

FIELDS = ("param", "type", "default", "range", "options", "inc_strategy", "inc_val",
          "node_strategy", "edge_strategy", "role")
TYPES = ("int", "float", "bool")
INC_STRATEGIES = ("linear", "log", "power2")
# node_strategy / edge_strategy: the graph size (nodes or edges) the stated range is meant for.
GRAPH_UNITS = {"perM": 1e6, "per10M": 1e7, "per100M": 1e8}
ROLES = ("model", "algorithm")
MISSING = object()


@dataclass
class Entry:
    """A validated entry. ``default`` is `MISSING` when the file gives none."""

    name: str
    path: str
    type: str | None
    role: str
    default: Any = MISSING
    range: tuple[float, float] | None = None
    options: list[Any] | None = None
    inc_strategy: str = "linear"
    inc_val: float | None = None
    graph: tuple[str, str] | None = None  # ("node" | "edge", "perM" | "per10M" | "per100M")
    notes: list[str] = field(default_factory=list)

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING


def parse_entry(entry: Any, path: str, *, tunable: bool) -> Entry:
    """Validate one entry of a tier list (``tunable``) or of ``fixed-param``."""
    if not isinstance(entry, dict):
        raise ConfigError(path, f"expected a mapping like {{\"param\": ..., \"type\": ...}}, "
                                f"got {entry!r}")
    check_keys(entry, FIELDS, path)
    name = entry.get("param")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(join(path, "param"), f"every entry needs a param name (a non-empty "
                                               f"string), got {name!r}")
    type_ = entry.get("type")
    if type_ is not None and type_ not in TYPES:
        raise ConfigError(join(path, "type"), f"unknown type {type_!r}; valid types: "
                                              f"{', '.join(TYPES)}")
    role = entry.get("role", default_role(name))
    if role not in ROLES:
        raise ConfigError(join(path, "role"), f"unknown role {role!r}; valid roles: "
                                              f"{', '.join(ROLES)}")
    e = Entry(name=name, path=path, type=type_, role=role)
    if "range" in entry and "options" in entry:
        raise ConfigError(path, f"{name!r} gives both range and options; keep one")
    if "range" in entry:
        _parse_range(e, entry)
    elif "options" in entry:
        _parse_options(e, entry["options"])
    for key in ("inc_strategy", "inc_val", "node_strategy", "edge_strategy"):
        if key in entry and e.range is None:
            raise ConfigError(join(path, key), f"{key} applies only to a param with a range")
    if e.range is not None:
        _parse_increment(e, entry)
        _parse_graph_strategy(e, entry)
    if "default" in entry:
        e.default = _parse_default(e, entry["default"])
    if tunable and e.range is None and e.options is None and type_ != "bool":
        raise ConfigError(path, f"{name!r} has neither range nor options, so it cannot be tuned; "
                                "give one, or move it to fixed-param with a default")
    if not tunable and not e.has_default:
        raise ConfigError(path, f"fixed param {name!r} needs a default (the value it is fixed to)")
    return e


def _parse_range(e: Entry, entry: dict[str, Any]) -> None:
    path = join(e.path, "range")
    value = entry["range"]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(path, f"expected [low, high], got {value!r}")
    if e.type is None:
        raise ConfigError(join(e.path, "type"), f"type is required with a range; valid types: "
                                                f"{', '.join(TYPES)}")
    if e.type == "bool":
        raise ConfigError(path, "a bool param takes no range (it is tuned over true/false)")
    if e.type == "int":
        low, high = integral(value[0], join(path, 0)), integral(value[1], join(path, 1))
    else:
        low, high = float(number(value[0], join(path, 0))), float(number(value[1], join(path, 1)))
    ordered(low, high, path)
    e.range = (low, high)


def _parse_options(e: Entry, value: Any) -> None:
    path = join(e.path, "options")
    options = nonempty_list(value, path, "options")
    for i, option in enumerate(options):
        _check_option(e.type, option, join(path, i))
    if e.type == "float":
        options = [[float(x) for x in o] if isinstance(o, list) else float(o) for o in options]
    kept, dropped = dedupe(options)
    if dropped:
        e.notes.append(f"{e.name}: repeated option(s) {', '.join(fmt(d) for d in dropped)} "
                       "dropped (each option is tried with equal weight)")
    e.options = kept


def _check_option(type_: str | None, option: Any, path: str) -> None:
    """An option must match ``type``; a list of such values is accepted too (e.g. ``fanout``:
    one value per GNN layer)."""
    if type_ is None:
        return
    values = option if isinstance(option, list) else [option]
    if isinstance(option, list) and not option:
        raise ConfigError(path, "empty list as an option")
    for v in values:
        ok = (isinstance(v, bool) if type_ == "bool"
              else is_number(v) and (type_ == "float" or float(v).is_integer()))
        if not ok:
            raise ConfigError(path, f"option {option!r} is not of type {type_}")


def _parse_increment(e: Entry, entry: dict[str, Any]) -> None:
    low, high = e.range
    inc = entry.get("inc_strategy", "linear")
    if inc not in INC_STRATEGIES:
        raise ConfigError(join(e.path, "inc_strategy"), f"unknown inc_strategy {inc!r}; valid: "
                                                        f"{', '.join(INC_STRATEGIES)}")
    e.inc_strategy = inc
    if inc in ("log", "power2") and low <= 0:
        raise ConfigError(join(e.path, "range"), f"a {inc} range must be > 0 (log of "
                                                 f"{fmt(low)} is undefined), got low {fmt(low)}")
    if inc == "power2":
        if e.type != "int":
            raise ConfigError(join(e.path, "type"), f"power2 gives powers of two: type must be "
                                                    f"int, got {e.type}")
        if not power2_values(low, high):
            raise ConfigError(join(e.path, "range"), f"no power of two in [{fmt(low)}, "
                                                     f"{fmt(high)}]")
    if "inc_val" not in entry:
        return
    path = join(e.path, "inc_val")
    if inc == "power2":
        raise ConfigError(path, "inc_val does not apply to power2 (the values are the powers "
                                "of two in range); remove it")
    step = integral(entry["inc_val"], path) if e.type == "int" else entry["inc_val"]
    step = positive(step, path)
    if step > high - low:
        raise ConfigError(path, f"inc_val {fmt(step)} is larger than the range width "
                                f"{fmt(high - low)} of [{fmt(low)}, {fmt(high)}]")
    e.inc_val = step


def _parse_graph_strategy(e: Entry, entry: dict[str, Any]) -> None:
    given = [k for k in ("node_strategy", "edge_strategy") if k in entry]
    if len(given) == 2:
        raise ConfigError(join(e.path, "edge_strategy"),
                          "give node_strategy or edge_strategy, not both")
    if not given:
        return
    key = given[0]
    unit = entry[key]
    if not isinstance(unit, str) or unit not in GRAPH_UNITS:
        raise ConfigError(join(e.path, key), f"unknown {key} {unit!r}; valid: "
                                             f"{', '.join(GRAPH_UNITS)}")
    e.graph = (key.split("_")[0], unit)


def _parse_default(e: Entry, value: Any) -> Any:
    path = join(e.path, "default")
    if e.type == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false for a bool param, got {value!r}")
    elif e.type in ("int", "float") and not isinstance(value, list):
        value = _coerce_number(value, e.type, path)
    elif e.type in ("int", "float"):  # a per-layer list such as fanout's [10, 15, 15]
        value = [_coerce_number(v, e.type, join(path, i)) for i, v in enumerate(value)]
    if e.range is not None:
        low, high = e.range
        if isinstance(value, list):
            raise ConfigError(path, f"expected one {e.type} within the range, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(path, f"default {fmt(value)} is outside range "
                                    f"[{fmt(low)}, {fmt(high)}]")
    elif e.options is not None and not any(value == o for o in e.options):
        e.notes.append(f"{e.name}: default {fmt(value)} is not one of the options "
                       f"{[o for o in e.options]}; it is used only while {e.name} is not tuned")
    return value


def _coerce_number(value: Any, type_: str, path: str) -> int | float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(path, f"expected a number, got {value!r}") from None
    if type_ == "int":
        return integral(value, path)
    return float(number(value, path))


def power2_values(low: float, high: float) -> list[int]:
    """The powers of two in [low, high], ascending: ``power2_values(16, 128) == [16, 32, 64, 128]``."""
    if high < 1:
        return []
    k = max(0, math.ceil(math.log2(low)) - 1) if low > 0 else 0
    out = []
    while 2**k <= high:
        if 2**k >= low:
            out.append(2**k)
        k += 1
    return out
