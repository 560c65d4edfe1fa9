"""`Param` -> Ray Tune search domain (used for `Space.to_ray()` and the random/grid searchers)."""

from __future__ import annotations

import math
from typing import Any

from hpotk.space.param import Param


def to_ray_domain(p: Param) -> Any:
    from ray import tune

    if p.choices is not None:
        return tune.choice(list(p.choices))
    q = p.step
    if p.scale == "linear":
        if p.kind == "int":
            return tune.qrandint(int(p.low), int(p.high), int(q or 1))
        return tune.quniform(p.low, p.high, q) if q else tune.uniform(p.low, p.high)
    if p.scale == "log":
        if p.kind == "int":
            return tune.qlograndint(int(p.low), int(p.high), int(q or 1))
        return tune.qloguniform(p.low, p.high, q) if q else tune.loguniform(p.low, p.high)
    if p.scale == "normal":
        domain = tune.qrandn(p.mu, p.sigma, q) if q else tune.randn(p.mu, p.sigma)
        return _as_int(domain) if p.kind == "int" else domain
    if p.scale == "lognormal":
        return _custom(p, lambda rng, size: rng.lognormal(p.mu, p.sigma, size=size))
    if p.scale == "reverse_log":
        lo, hi = 1.0 - p.high, 1.0 - p.low  # both > 0: validated by the front-end

        def sample(rng, size):
            return 1.0 - _exp_uniform(rng, math.log(lo), math.log(hi), size)

        return _custom(p, sample)
    raise ValueError(f"unknown scale {p.scale!r} for param {p.name!r}")


def _exp_uniform(rng, log_lo: float, log_hi: float, size):
    import numpy as np

    return np.exp(rng.uniform(log_lo, log_hi, size=size))


def _custom(p: Param, draw) -> Any:
    """A Ray Float domain with a custom sampler (lognormal, reverse_log), quantised and cast."""
    from ray.tune.search.sample import Float, Sampler

    class _ParamSampler(Sampler):
        def sample(self, domain, config=None, size=1, random_state=None):
            import numpy as np

            rng = random_state if random_state is not None else np.random.default_rng()
            if not hasattr(rng, "uniform"):  # a _BackwardsCompatibleNumpyRng wrapper
                rng = rng._rng if hasattr(rng, "_rng") else np.random.default_rng()
            values = np.asarray(draw(rng, size), dtype=float)
            if p.step:
                values = np.round(values / p.step) * p.step
            out = [p.cast(v) for v in values]
            return out if size > 1 else out[0]

        def __str__(self) -> str:
            return p.describe()

    lower = p.low if p.low is not None else -math.inf
    upper = p.high if p.high is not None else math.inf
    domain = Float(lower, upper)
    domain.set_sampler(_ParamSampler())
    return domain


def _as_int(domain: Any) -> Any:
    from ray import tune

    base = domain

    def sample(_spec):
        return int(round(base.sample()))

    return tune.sample_from(sample)
