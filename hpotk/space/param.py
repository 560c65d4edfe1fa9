"""The one internal model of a search space: `Param` (tuned), `Fixed` (not tuned), `Space`.

Both front-ends (tiered JSON, distribution specs) build these; every searcher translates from
`Param`, never from Ray domains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["int", "float", "bool", "categorical"]
# How a numeric param is sampled between low and high:
#   linear       uniform (quantised by `step` if set)
#   log          log-uniform (quantised by `step` if set)
#   reverse_log  1 - loguniform(1-high, 1-low): dense near 1 (SageMaker ReverseLogarithmic)
#   normal       normal(mu, sigma) (quantised by `step` if set); low/high unused
#   lognormal    exp(normal(mu, sigma)) (quantised by `step` if set); low/high unused
# Choice-valued params (categorical, bool, power2) carry `choices` and scale "choice".
Scale = Literal["linear", "log", "reverse_log", "normal", "lognormal", "choice"]
Role = Literal["model", "algorithm"]

# Names that are learning (algorithm) params unless a space says otherwise: PBT may mutate only
# these; everything else is taken to be architecture (the NERSC Ray Tune guide: PBT cannot change a model's shape
# mid-training).
ALGORITHM_PARAM_NAMES = frozenset(
    {
        "lr", "learning_rate", "learning-rate", "sparse-lr", "sparse_lr", "weight_decay",
        "weight-decay", "momentum", "dropout", "batch_size", "batch-size", "l2norm",
        "regularization-coef", "regularization_coef", "gamma", "beta1", "beta2", "eps",
        "num-negs", "num_negs", "label_smoothing", "grad_clip", "warmup",
    }
)


def default_role(name: str) -> Role:
    return "algorithm" if name in ALGORITHM_PARAM_NAMES else "model"


@dataclass(frozen=True)
class Param:
    """One tuned hyperparameter.

    Attributes:
        name: the name the trainable receives (written as in the source, dashes kept).
        kind: value type the trainable receives.
        scale: how it is sampled (see `Scale`).
        low, high: bounds for linear/log/reverse_log scales (inclusive).
        mu, sigma: for normal/lognormal scales.
        step: quantisation step (`inc_val`, `q`) or None for continuous.
        choices: the values of a choice-valued param (categorical, bool, power2).
        default: value used when the param is inactive (tier) and as searchers' starting point.
        tier: tier of a tiered-JSON param (1..3), None otherwise.
        role: "algorithm" (learning params PBT may mutate) or "model" (architecture).
        origin: how the param was specified, for `hpotk plan` (e.g. "power2 over [16, 128]").
        path: key path in the source file, for error messages.
    """

    name: str
    kind: Kind
    scale: Scale
    low: float | None = None
    high: float | None = None
    mu: float | None = None
    sigma: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    default: Any = None
    tier: int | None = None
    role: Role = "algorithm"
    origin: str = ""
    path: str = ""

    @property
    def is_choice(self) -> bool:
        return self.choices is not None

    @property
    def is_discrete(self) -> bool:
        """True when the param takes finitely many values (choice, or int / quantised in bounds)."""
        if self.is_choice:
            return True
        return self.scale in ("linear", "log") and (self.kind == "int" or self.step is not None)

    def grid_values(self) -> list[Any]:
        """Every value of a discrete param, in order. ValueError for a continuous one."""
        if self.choices is not None:
            return list(self.choices)
        if not self.is_discrete or self.low is None or self.high is None:
            raise ValueError(f"param {self.name!r} ({self.describe()}) is continuous")
        step = self.step or 1
        n = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        values = [self.low + i * step for i in range(n)]
        return [self.cast(v) for v in values]

    def cast(self, value: Any) -> Any:
        """Coerce a sampled value to the param's kind (ints rounded, quantised floats cleaned)."""
        if self.choices is not None:
            return value
        if self.kind == "int":
            return int(round(float(value)))
        if self.kind == "bool":
            return bool(value)
        if self.step is not None:
            return round(float(value), 12)
        return float(value)

    def describe(self) -> str:
        """Human-readable sampling rule, e.g. ``loguniform(0.001, 0.01)``."""
        if self.choices is not None:
            return f"choice({list(self.choices)})"
        q = f", q={_num(self.step)}" if self.step is not None else ""
        if self.scale in ("normal", "lognormal"):
            prefix = "q" if self.step is not None else ""
            return f"{prefix}{self.scale}(mu={_num(self.mu)}, sigma={_num(self.sigma)}{q})"
        names = {"linear": "uniform", "log": "loguniform", "reverse_log": "reverse_loguniform"}
        name = names[self.scale]
        if self.kind == "int" and self.scale == "linear" and (self.step in (None, 1)):
            return f"randint[{_num(self.low)}, {_num(self.high)}]"
        prefix = "q" if self.step is not None else ""
        kind = " (int)" if self.kind == "int" else ""
        return f"{prefix}{name}({_num(self.low)}, {_num(self.high)}{q}){kind}"


@dataclass(frozen=True)
class Fixed:
    """A hyperparameter that is not tuned: its value, and why (``fixed-param``, tier inactive...)."""

    name: str
    value: Any
    reason: str
    tier: int | None = None
    role: Role = "algorithm"


@dataclass
class Space:
    """The resolved search space: tuned params and fixed values, in declaration order.

    ``notes`` carries plan-time remarks (tier activation, node_strategy rescaling).
    """

    params: dict[str, Param] = field(default_factory=dict)
    fixed: dict[str, Fixed] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        both = set(self.params) & set(self.fixed)
        if both:
            raise ValueError(f"params both tuned and fixed: {sorted(both)}")

    @property
    def names(self) -> list[str]:
        return list(self.params) + list(self.fixed)

    def fixed_values(self) -> dict[str, Any]:
        return {name: f.value for name, f in self.fixed.items()}

    def defaults(self) -> dict[str, Any]:
        """A complete config from defaults: tuned params' defaults (or midpoints) + fixed values."""
        config = self.fixed_values()
        for p in self.params.values():
            config[p.name] = p.default if p.default is not None else _midpoint(p)
        return config

    def algorithm_params(self) -> list[Param]:
        return [p for p in self.params.values() if p.role == "algorithm"]

    def model_params(self) -> list[Param]:
        return [p for p in self.params.values() if p.role == "model"]

    def to_ray(self) -> dict[str, Any]:
        """Ray Tune param_space: a domain for each tuned param, the value for each fixed one."""
        from hpotk.space.ray_domains import to_ray_domain

        space: dict[str, Any] = {p.name: to_ray_domain(p) for p in self.params.values()}
        space.update(self.fixed_values())
        return space

    def describe(self) -> dict[str, Any]:
        """What `hpotk plan --json` prints about the space."""
        return {
            "tuned": {
                p.name: {"sampling": p.describe(), "tier": p.tier, "role": p.role, "origin": p.origin}
                for p in self.params.values()
            },
            "fixed": {
                f.name: {"value": f.value, "why": f.reason, "tier": f.tier}
                for f in self.fixed.values()
            },
            "notes": list(self.notes),
        }


def _midpoint(p: Param) -> Any:
    if p.choices is not None:
        return p.choices[0]
    if p.scale in ("normal", "lognormal"):
        value = p.mu if p.scale == "normal" else math.exp(p.mu or 0.0)
    elif p.scale == "log":
        value = math.sqrt(p.low * p.high)
    else:
        value = (p.low + p.high) / 2
    if p.step and p.scale == "linear":  # the grid starts at low (see Param.grid_values)
        value = p.low + round((value - p.low) / p.step) * p.step
    elif p.step:
        value = round(value / p.step) * p.step
    return p.cast(value)


def _num(x: float | None) -> str:
    if x is None:
        return "None"
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))
