"""`Param` -> Ray Tune search domain (used for `Space.to_ray()` and the random/grid searchers).

Plain cases map onto Ray's own domains (``choice``, ``uniform``, ``loguniform``, ``randint``,
``randn``). Everything else gets a Ray ``Float``/``Integer`` domain whose sampler is
`ParamSampler`, which draws exactly what `Param` means, because Ray's own domains differ from it:

- ``tune.qrandint(low, high, 1)`` never returns ``high`` (Ray 2.60), so int ranges would lose
  their upper end;
- ``tune.quniform`` refuses bounds that are not multiples of q, and snaps values to multiples
  of q, while a tiered ``inc_val`` grid starts at ``low`` (``[1, 10]`` step 2 is 1, 3, ..., 9);
- lognormal, reverse-log and int-valued normal have no Ray domain at all.

`hpotk.space.ray_sampler.ParamSampler` draws (with `draw`) from the random state Ray hands it,
so a seeded ``BasicVariantGenerator`` is reproducible; it is a module-level class so the domains
pickle. Ray is imported only when a domain is made.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.space.param import Param


def to_ray_domain(p: Param) -> Any:
    """The Ray Tune domain that samples ``p``."""
    from ray import tune
    from ray.tune.search.sample import Float, Integer

    from hpotk.space.ray_sampler import ParamSampler

    if p.choices is not None:
        return tune.choice(list(p.choices))
    if p.step is None and p.kind != "int":
        if p.scale == "linear":
            return tune.uniform(p.low, p.high)
        if p.scale == "log":
            return tune.loguniform(p.low, p.high)
        if p.scale == "normal":
            return tune.randn(p.mu, p.sigma)
    if p.scale == "linear" and p.kind == "int" and p.step in (None, 1):
        return tune.randint(int(p.low), int(p.high) + 1)  # Ray's upper bound is exclusive
    if p.scale not in ("linear", "log", "normal", "lognormal", "reverse_log"):
        raise ValueError(f"unknown scale {p.scale!r} for param {p.name!r}")
    lower = p.low if p.low is not None else -math.inf
    upper = p.high if p.high is not None else math.inf
    domain = Integer(lower, upper) if p.kind == "int" else Float(lower, upper)
    domain.set_sampler(ParamSampler(p))
    return domain


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
