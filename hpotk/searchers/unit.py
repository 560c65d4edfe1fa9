"""Mapping points of the unit interval onto a `Param`'s values, and snapping values onto its grid.

Searchers that work in a space of their own (sobol's unit cube, Dragonfly's domain, hyperopt's
expressions) come back to a param's values through here, so every searcher gives the trainable
the same kind of value for the same param: ints as ``int``, quantised values on the param's grid
``low + k * step`` inside ``[low, high]``, choices as the choice objects themselves.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

from hpotk.space.param import Param

# Keeps the inverse normal CDF finite at u = 0 or 1 (about 6.4 standard deviations).
_U_EPS = 1e-10


def n_grid(p: Param) -> int:
    """Number of values of a bounded discrete numeric param (``low + k * step``, k < n)."""
    step = p.step or 1
    return int(math.floor((p.high - p.low) / step + 1e-9)) + 1


def from_unit(p: Param, u: float) -> Any:
    """The value of ``p`` at quantile-like position ``u`` in [0, 1].

    Choices and linear discrete params split [0, 1] into equal cells, one per value; linear,
    log and reverse-log params map ``u`` linearly in their own scale; normal and lognormal
    params go through the inverse normal CDF. The result is snapped (`snap`) and cast.
    """
    u = min(max(float(u), 0.0), 1.0)
    if p.choices is not None:
        return p.choices[min(int(u * len(p.choices)), len(p.choices) - 1)]
    if p.scale == "linear" and p.is_discrete:
        n = n_grid(p)
        return p.cast(p.low + min(int(u * n), n - 1) * (p.step or 1))
    if p.scale == "linear":
        value = p.low + u * (p.high - p.low)
    elif p.scale == "log":
        value = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
    elif p.scale == "reverse_log":
        lo, hi = math.log(1.0 - p.high), math.log(1.0 - p.low)
        value = 1.0 - math.exp(hi - u * (hi - lo))
    elif p.scale in ("normal", "lognormal"):
        z = NormalDist(p.mu, p.sigma).inv_cdf(min(max(u, _U_EPS), 1.0 - _U_EPS))
        value = z if p.scale == "normal" else math.exp(z)
    else:
        raise ValueError(f"unknown scale {p.scale!r} for param {p.name!r}")
    return snap(p, value)


def snap(p: Param, value: Any) -> Any:
    """``value`` made a valid value of ``p``: clipped to its bounds, quantised, cast.

    Bounded discrete params go to the nearest grid value ``low + k * step`` (ints: step 1);
    unbounded ones (normal, lognormal) to the nearest multiple of ``step`` (an int to the
    nearest int); continuous bounded ones are clipped into ``[low, high]``.
    """
    if p.choices is not None:
        return value
    value = float(value)
    bounded = p.low is not None and p.high is not None and p.scale != "normal" \
        and p.scale != "lognormal"
    if bounded and p.is_discrete:
        step = p.step or 1
        k = min(max(round((value - p.low) / step), 0), n_grid(p) - 1)
        return p.cast(p.low + k * step)
    if bounded:
        value = min(max(value, p.low), p.high)
    if p.step:
        value = round(value / p.step) * p.step
    return p.cast(value)


def contains(p: Param, value: Any) -> bool:
    """True when ``value`` is a value ``p`` can take, of the right type (for tests and checks)."""
    if p.choices is not None:
        return any(value is c or (type(value) is type(c) and value == c) for c in p.choices)
    if p.kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
        return False
    if p.kind == "float" and not isinstance(value, float):
        return False
    if not math.isfinite(value):
        return False
    if p.scale in ("normal", "lognormal"):
        on_step = p.step is None or _near_multiple(value, p.step)
        return on_step and (p.scale == "normal" or value >= 0)
    if not p.low - 1e-9 <= value <= p.high + 1e-9:
        return False
    if p.is_discrete:
        return _near_multiple(value - p.low, p.step or 1)
    if p.step is not None:
        return _near_multiple(value, p.step)
    return True


def _near_multiple(x: float, step: float) -> bool:
    return abs(x / step - round(x / step)) < 1e-6
