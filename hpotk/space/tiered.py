"""Tiered-JSON search spaces (Amazon Neptune ML's ``model-HPO-configuration.json``).

A space has four lists of entries (see `hpotk.space.tiered_entry` for the fields)::

    {"1-tier-param": [...], "2-tier-param": [...], "3-tier-param": [...], "fixed-param": [...]}

Which tiers are tuned depends on the trial budget, as in Neptune ML:

    trials < 10      tier 1
    10 <= trials <= 50   tiers 1-2
    trials > 50      tiers 1-3

Params of inactive tiers and of ``fixed-param`` take their ``default``; each `Fixed` says why.
A missing list counts as empty (Neptune requires all four; hpotk does not).

Sampling rules (DESIGN.md, "Search spaces"):

    inc_strategy linear + inc_val   quantised uniform: low, low+inc_val, ... <= high
    inc_strategy linear             uniform (type int: every integer in [low, high])
    inc_strategy log                log-uniform (with inc_val: quantised to multiples of it)
    inc_strategy power2             choice over the powers of two in range: [16, 128] -> 16..128
    type bool                       choice(True, False)
    options                         choice over the options

``node_strategy`` / ``edge_strategy`` (perM, per10M, per100M): the range is stated for a graph of
one unit (1M / 10M / 100M nodes or edges). For a graph of n units with n > 1 both bounds are
divided by n; int bounds are rounded and kept >= 1; the range is never inverted. If the scaled
range holds a single value the param is fixed to it. The ``default`` is not scaled.

Options may be lists: Neptune ML's example ``fanout`` entry (type int) has ``options`` ``[[10, 30],
[15, 30], [15, 30]]`` (one fanout per GNN layer) and ``default`` ``[10, 15, 15]``. hpotk tunes it
as a choice over the distinct lists (the repeated ``[15, 30]`` is dropped, with a note), and a
default that is not one of the options is allowed (with a note): it is the value used while the
tier is inactive.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError
from hpotk.space._checks import check_keys, fmt, join
from hpotk.space.param import Fixed, Param, Space
from hpotk.space.tiered_entry import GRAPH_UNITS, Entry, parse_entry, power2_values

TIER_KEYS = ("1-tier-param", "2-tier-param", "3-tier-param")
SECTIONS = (*TIER_KEYS, "fixed-param")


def active_tier(trials: int) -> int:
    """The highest tier tuned with a budget of ``trials``: <10 -> 1, 10..50 -> 2, >50 -> 3."""
    if trials < 10:
        return 1
    return 2 if trials <= 50 else 3


def inactive_reason(tier: int, trials: int) -> str:
    """Why ``tier`` is not tuned, e.g. ``tier 3 inactive: budget 12 trials <= 50``."""
    rule = "< 10" if tier == 2 else "<= 50"
    return f"tier {tier} inactive: budget {trials} trials {rule}"


def build_tiered(doc: dict[str, Any], *, trials: int, graph_nodes: float | None = None,
                 graph_edges: float | None = None, path: str = "space") -> Space:
    """Build a `Space` from a tiered-JSON document.

    Args:
        doc: mapping with any of ``1-tier-param``, ``2-tier-param``, ``3-tier-param``,
            ``fixed-param`` (each a list of entries).
        trials: the trial budget; decides which tiers are tuned.
        graph_nodes, graph_edges: size of the graph the model trains on (a count, e.g. 25e6), for
            entries with ``node_strategy`` / ``edge_strategy``; None: ranges are used as stated.
        path: key path of ``doc`` for error messages.

    Raises:
        ConfigError: naming the key path of the first invalid entry or field.
    """
    if not isinstance(doc, dict):
        raise ConfigError(path, f"expected a mapping with {', '.join(SECTIONS)}, got {doc!r}")
    check_keys(doc, SECTIONS, path, "section")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError("budget.trials", f"expected a whole number of trials >= 1, got {trials!r}")
    for key, size in (("graph_nodes", graph_nodes), ("graph_edges", graph_edges)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))
                                 or not size > 0):
            raise ConfigError(key, f"expected a positive count, got {size!r}")
    top = active_tier(trials)
    space = Space(notes=[_activation_note(trials, top)])
    seen: dict[str, str] = {}
    for section in SECTIONS:
        entries = doc.get(section, [])
        section_path = join(path, section)
        if not isinstance(entries, list):
            raise ConfigError(section_path, f"expected a list of entries, got {entries!r}")
        tier = SECTIONS.index(section) + 1 if section in TIER_KEYS else None
        for i, raw in enumerate(entries):
            e = parse_entry(raw, join(section_path, i), tunable=tier is not None)
            if e.name in seen:
                raise ConfigError(join(e.path, "param"), f"duplicate param {e.name!r}, first "
                                                         f"given at {seen[e.name]}")
            seen[e.name] = e.path
            space.notes.extend(e.notes)
            item = _resolve(e, tier, top, trials, graph_nodes, graph_edges, space.notes)
            if isinstance(item, Param):
                space.params[e.name] = item
            else:
                space.fixed[e.name] = item
    return space


def _activation_note(trials: int, top: int) -> str:
    tuned = {1: "tier 1", 2: "tiers 1-2", 3: "tiers 1-3"}[top]
    return (f"budget {trials} trials: {tuned} tuned (tiers by budget: < 10 trials -> 1; "
            "10..50 -> 1-2; > 50 -> 1-3)")


def _resolve(e: Entry, tier: int | None, top: int, trials: int, graph_nodes: float | None,
             graph_edges: float | None, notes: list[str]) -> Param | Fixed:
    if tier is None:
        return Fixed(e.name, e.default, "fixed-param", None, e.role)
    if tier > top:
        if not e.has_default:
            limit = "at least 10" if tier == 2 else "more than 50"
            raise ConfigError(e.path, f"{e.name!r} has no default, but {inactive_reason(tier, trials)}"
                                      f" leaves it untuned; give it a default, move it to "
                                      f"1-tier-param, or raise budget.trials to {limit}")
        return Fixed(e.name, e.default, inactive_reason(tier, trials), tier, e.role)
    default = e.default if e.has_default else None
    origin = f"{tier}-tier-param"
    if e.range is None:
        choices = e.options if e.options is not None else [True, False]
        kind = _choice_kind(e, choices)
        how = "options" if e.options is not None else "bool"
        return Param(e.name, kind, "choice", choices=tuple(choices), default=default, tier=tier,
                     role=e.role, origin=f"{origin}, {how}", path=e.path)
    low, high = e.range
    origin = f"{origin}, {_how(e)}"
    if e.graph is not None:
        size = graph_nodes if e.graph[0] == "node" else graph_edges
        low, high, scaled = _scale_for_graph(e, size, notes)
        origin = f"{origin}; {scaled}" if scaled else origin
    return _ranged(e, low, high, default, tier, origin, notes)


def _choice_kind(e: Entry, choices: list[Any]) -> str:
    if any(isinstance(c, list) for c in choices):
        return "categorical"
    return e.type or "categorical"


def _how(e: Entry) -> str:
    low, high = e.range
    inc = f"linear, inc_val {fmt(e.inc_val)}" if e.inc_val and e.inc_strategy == "linear" else (
        f"{e.inc_strategy}, inc_val {fmt(e.inc_val)}" if e.inc_val else e.inc_strategy)
    return f"{inc} over [{fmt(low)}, {fmt(high)}]"


def _ranged(e: Entry, low: float, high: float, default: Any, tier: int, origin: str,
            notes: list[str]) -> Param | Fixed:
    """A Param over [low, high] by ``inc_strategy``; a Fixed if the range holds one value."""
    kind = e.type
    common = dict(tier=tier, role=e.role, origin=origin, path=e.path)
    if e.inc_strategy == "power2":
        values = power2_values(low, high)
        if len(values) == 1:
            return _collapsed(e, values[0], tier, origin)
        return Param(e.name, "int", "choice", choices=tuple(values), default=default, **common)
    step = e.inc_val
    if step is not None and e.inc_strategy == "log":
        # quantised log-uniform: values are multiples of inc_val, so snap the bounds inwards
        low, high = step * math.ceil(low / step - 1e-9), step * math.floor(high / step + 1e-9)
    elif step is not None:
        high = low + step * math.floor((high - low) / step + 1e-9)
    if kind == "int":
        low, high = int(round(low)), int(round(high))
    else:
        low, high = round(low, 12), round(high, 12)
    if high < low:
        raise ConfigError(join(e.path, "inc_val"), f"no multiple of inc_val {fmt(step)} in "
                                                   f"[{fmt(e.range[0])}, {fmt(e.range[1])}]")
    if high == low:
        return _collapsed(e, low, tier, origin)
    if default is not None and not low <= default <= high:
        notes.append(f"{e.name}: default {fmt(default)} is outside the scaled range "
                     f"[{fmt(low)}, {fmt(high)}]; searchers start from its middle instead")
        default = None
    scale = "log" if e.inc_strategy == "log" else "linear"
    return Param(e.name, kind, scale, low=low, high=high, step=step, default=default, **common)


def _collapsed(e: Entry, value: Any, tier: int, origin: str) -> Fixed:
    return Fixed(e.name, value, f"{origin}: a single value", tier, e.role)


def _scale_for_graph(e: Entry, size: float | None,
                     notes: list[str]) -> tuple[float, float, str]:
    """Divide the range by the graph's size in units (node_strategy / edge_strategy).

    Returns the new bounds and how they were scaled ("" when they were not).
    """
    kind, unit = e.graph
    low, high = e.range
    what = "nodes" if kind == "node" else "edges"
    stated = f"[{fmt(low)}, {fmt(high)}]"
    key = f"{kind}_strategy {unit}"
    if size is None:
        notes.append(f"{e.name}: {key}: graph size unknown, range {stated} used as stated "
                     f"(it is meant for a graph of {_count(GRAPH_UNITS[unit])} {what})")
        return low, high, ""
    n = size / GRAPH_UNITS[unit]
    if n <= 1:
        notes.append(f"{e.name}: {key}: graph of {_count(size)} {what} is at most one unit, "
                     f"range {stated} used as stated")
        return low, high, ""
    low, high = low / n, high / n
    if e.type == "int":
        low, high = max(1, math.floor(low + 0.5)), max(1, math.floor(high + 0.5))
    scaled = (f"{key}: graph of {_count(size)} {what} = {n:g} units, range {stated} / {n:g} "
              f"-> [{fmt(low)}, {fmt(high)}]")
    notes.append(f"{e.name}: {scaled}")
    return low, high, scaled


def _count(n: float) -> str:
    """``25e6 -> '25M'``, ``1.5e9 -> '1500M'``, ``5000 -> '5000'``."""
    return f"{n / 1e6:g}M" if n >= 1e6 else f"{n:g}"
