"""`Param` -> Ray Tune search domain (used for `Space.to_ray()` and the random/grid searchers).

Plain cases map onto Ray's own domains (``choice``, ``uniform``, ``loguniform``, ``randint``,
``randn``). Everything else gets a Ray ``Float``/``Integer`` domain whose sampler is
`ParamSampler`, which draws exactly what `Param` means, because Ray's own domains differ from it:

- ``tune.qrandint(low, high, 1)`` never returns ``high`` (Ray 2.60), so int ranges would lose
  their upper end;
- ``tune.quniform`` refuses bounds that are not multiples of q, and snaps values to multiples
  of q, while a tiered ``inc_val`` grid starts at ``low`` (``[1, 10]`` step 2 is 1, 3, ..., 9);
- lognormal, reverse-log and int-valued normal have no Ray domain at all.

`hpotk.space.ray_sampler.ParamSampler` draws (with `hpotk.space.sampling.draw`) from the random
state Ray hands it,
so a seeded ``BasicVariantGenerator`` is reproducible; it is a module-level class so the domains
pickle. Ray is imported only when a domain is made.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
