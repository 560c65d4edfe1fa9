"""Drawing values of a `Param` by its own rules, with numpy only (no Ray): what the Ray sampler
(`hpotk.space.ray_sampler`) hands Tune's random and grid searchers, and what anything else that
samples a space can use.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpotk.space.param import Param


def draw(p: Param, rng: Any, size: int) -> list[Any]:
    """``size`` values of ``p`` drawn with ``rng`` (numpy Generator, RandomState or Ray's wrapper).

    Rules, by scale:
        linear, step s     low + k*s, k uniform over 0..floor((high-low)/s)
        linear, int        every integer in [low, high] equally likely
        linear             uniform(low, high)
        log, step s        round(loguniform(low, high) / s) * s, kept in [low, high]
        log, int           loguniform over [low - 0.5, high + 0.5], rounded
        log                loguniform(low, high)
        normal             normal(mu, sigma) (rounded to step / int if set)
        lognormal          exp(normal(mu, sigma)) (rounded to step / int if set)
        reverse_log        1 - loguniform(1 - high, 1 - low): dense near 1
    """
    import numpy as np

    s = p.step
    if p.scale == "linear" and (s is not None or p.kind == "int"):
        s = s or 1
        n = int(math.floor((p.high - p.low) / s + 1e-9)) + 1
        values = p.low + s * np.asarray(rng.integers(0, n, size=size), dtype=float)
    elif p.scale == "linear":
        values = rng.uniform(p.low, p.high, size=size)
    elif p.scale == "log":
        lo, hi = (p.low - 0.5, p.high + 0.5) if p.kind == "int" and s is None else (p.low, p.high)
        values = np.exp(rng.uniform(math.log(lo), math.log(hi), size=size))
    elif p.scale == "normal":
        values = rng.normal(p.mu, p.sigma, size=size)
    elif p.scale == "lognormal":
        values = np.exp(rng.normal(p.mu, p.sigma, size=size))
    elif p.scale == "reverse_log":
        lo, hi = math.log(1.0 - p.high), math.log(1.0 - p.low)
        values = 1.0 - np.exp(rng.uniform(lo, hi, size=size))
    else:
        raise ValueError(f"unknown scale {p.scale!r} for param {p.name!r}")
    values = np.asarray(values, dtype=float)
    if s is not None and p.scale != "linear":
        values = np.round(values / s) * s
    if p.kind == "int":
        values = np.round(values)
    if p.low is not None and p.scale in ("linear", "log"):
        values = np.clip(values, p.low, p.high)
    return [p.cast(v) for v in values]
