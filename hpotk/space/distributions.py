"""Distribution-spec search spaces: an inline mapping ``{name: spec}`` (SageMaker and Azure ML).

A spec is one of:

- a mapping with ``type`` and its arguments, Azure ML style::

      choice(values)                  one of the values
      uniform(min_value, max_value)   uniform between the bounds
      loguniform(min_value, max_value)   exp(uniform(min_value, max_value))
      normal(mu, sigma)               normal
      lognormal(mu, sigma)            exp(normal(mu, sigma))
      quniform(min_value, max_value, q)      round(uniform(...) / q) * q
      qloguniform(min_value, max_value, q)   round(exp(uniform(...)) / q) * q
      qnormal(mu, sigma, q)           round(normal(mu, sigma) / q) * q
      qlognormal(mu, sigma, q)        round(exp(normal(mu, sigma)) / q) * q
      randint(upper)                  an integer in [0, upper)

  Note: as in Azure ML, ``loguniform`` and ``qloguniform`` take natural-log EXPONENTS, not
  values: ``loguniform(-9.21, -2.30)`` samples between 1e-4 and 0.1. For bounds given as values
  write ``{type: continuous, min_value: 1e-4, max_value: 0.1, scaling: log}``.
  ``quniform``/``qloguniform`` keep their values within the bounds: the bounds are snapped
  inwards to multiples of q, and every multiple in between is equally likely. When q and the
  snapped bounds are whole numbers the values are ints (``quniform(16, 128, 16)`` gives 16, 32...).

- a SageMaker-style range: ``{type: integer | continuous, min_value, max_value,
  scaling}`` or ``{type: categorical, values}``. ``scaling`` (also SageMaker's spellings Linear,
  Logarithmic, ReverseLogarithmic, Auto) is ``linear``, ``log`` (needs min_value > 0),
  ``reverse_log`` (continuous only, needs 0 <= min_value < max_value < 1: dense near 1, for
  values like momentum) or ``auto`` (the default): hpotk's rule for auto is log when
  min_value > 0 and max_value / min_value >= 100 (two orders of magnitude or more), else linear.

- the same as a compact string: ``"loguniform(-9.2, -2.3)"``, ``"choice(16, 32, 64)"``,
  ``"quniform(0, 1, q=0.1)"``, ``"continuous(1e-4, 0.1, scaling='log')"`` (positional arguments
  in the order above, or by name). A string that neither looks like a call nor starts with a
  distribution name and "(" is a fixed value.

- ``{type: fixed, value: V}`` or a bare value (number, string, bool, null, list): a fixed
  value. A bare list is fixed too (so a best config written back as a space stays as it was);
  to tune over a list of values write ``choice(...)``.

Every mapping spec may also carry ``role`` (``model`` | ``algorithm``; default from
`hpotk.space.param.default_role`) and ``default`` (a searcher's starting point).
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from hpotk.errors import ConfigError
from hpotk.space._checks import (
    check_keys,
    dedupe,
    fmt,
    integral,
    join,
    nonempty_list,
    number,
    ordered,
    positive,
    value_kind,
)
from hpotk.space.param import Fixed, Param, Space, default_role

# type -> its arguments, in positional order for the compact string form
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "choice": ("values",),
    "uniform": ("min_value", "max_value"),
    "loguniform": ("min_value", "max_value"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "quniform": ("min_value", "max_value", "q"),
    "qloguniform": ("min_value", "max_value", "q"),
    "qnormal": ("mu", "sigma", "q"),
    "qlognormal": ("mu", "sigma", "q"),
    "randint": ("upper",),
    "integer": ("min_value", "max_value", "scaling"),
    "continuous": ("min_value", "max_value", "scaling"),
    "categorical": ("values",),
    "fixed": ("value",),
}
OPTIONAL = ("scaling", "role", "default")
SCALINGS = {"linear": "linear", "log": "log", "logarithmic": "log", "reverse_log": "reverse_log",
            "reverselogarithmic": "reverse_log", "auto": "auto"}
_CALL = re.compile(r"^\s*[A-Za-z_]\w*\s*\(.*\)\s*$", re.DOTALL)
_STARTS = re.compile(r"^\s*(\w+)\s*\(")


def build_distributions(doc: dict[str, Any], *, path: str = "space") -> Space:
    """Build a `Space` from ``{name: spec}`` (see the module docstring for the specs).

    Raises:
        ConfigError: naming the key path of the first invalid spec or argument.
    """
    if not isinstance(doc, dict):
        raise ConfigError(path, f"expected a mapping of name -> distribution, got {doc!r}")
    space = Space()
    for name, spec in doc.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(join(path, str(name)), f"a param name must be a non-empty string, "
                                                     f"got {name!r}")
        item = build_one(name, spec, join(path, name), space.notes)
        if isinstance(item, Param):
            space.params[name] = item
        else:
            space.fixed[name] = item
    return space


def build_one(name: str, spec: Any, path: str, notes: list[str]) -> Param | Fixed:
    """One param from its spec; remarks for `hpotk plan` are appended to ``notes``."""
    origin = spec if isinstance(spec, str) else ""
    if isinstance(spec, str) and _looks_like_call(spec):
        spec = parse_call(spec, path)
    if not isinstance(spec, dict):  # a bare value, lists included (a best config's fanout)
        return Fixed(name, spec, "fixed value", None, default_role(name))
    kind = spec.get("type")
    if not isinstance(kind, str) or kind.lower() not in ARGUMENTS:
        raise ConfigError(join(path, "type"), f"unknown distribution type {kind!r}; valid: "
                                              f"{', '.join(ARGUMENTS)}")
    kind = kind.lower()
    check_keys(spec, ("type", *ARGUMENTS[kind], *OPTIONAL[1:]), path)
    for arg in ARGUMENTS[kind]:
        if arg not in spec and arg not in OPTIONAL:
            raise ConfigError(join(path, arg), f"{kind} needs {', '.join(ARGUMENTS[kind])}; "
                                               f"{arg} is missing")
    role = spec.get("role", default_role(name))
    if role not in ("model", "algorithm"):
        raise ConfigError(join(path, "role"), f"unknown role {role!r}; valid roles: model, "
                                              "algorithm")
    origin = origin or _describe_spec(kind, spec)
    if kind == "fixed":
        return Fixed(name, spec["value"], "fixed value", None, role)
    p = _PARSERS[kind](name, spec, path, notes)
    if isinstance(p, Fixed):
        return Fixed(name, p.value, f"{origin}: {p.reason}", None, role)
    default = _check_default(p, spec, path) if "default" in spec else None
    return Param(p.name, p.kind, p.scale, low=p.low, high=p.high, mu=p.mu, sigma=p.sigma,
                 step=p.step, choices=p.choices, default=default, role=role, origin=origin,
                 path=path)


def _looks_like_call(text: str) -> bool:
    """A whole call ``f(...)``, or a string starting with a distribution's name and ``(``
    (so a typo such as ``"uniform(0,"`` is an error, not a fixed string)."""
    start = _STARTS.match(text)
    return bool(_CALL.match(text) or (start and start.group(1).lower() in ARGUMENTS))


def parse_call(text: str, path: str) -> dict[str, Any]:
    """``"quniform(0, 1, q=0.1)"`` -> ``{"type": "quniform", "min_value": 0, ...}``."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            raise ValueError("not a call")
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError) as exc:
        raise ConfigError(path, f"cannot read {text!r} as a distribution like "
                                f"'loguniform(-9.2, -2.3)' or 'choice(16, 32)': {exc}") from None
    kind = call.func.id.lower()
    if kind not in ARGUMENTS:
        raise ConfigError(path, f"unknown distribution {call.func.id!r} in {text!r}; valid: "
                                f"{', '.join(ARGUMENTS)}")
    names = ARGUMENTS[kind]
    if kind in ("choice", "categorical") and not (len(args) == 1 and isinstance(args[0], list)):
        args = [list(args)] if args else []
    if len(args) > len(names):
        raise ConfigError(path, f"{kind} takes {len(names)} arguments ({', '.join(names)}), "
                                f"got {len(args)} in {text!r}")
    spec: dict[str, Any] = {"type": kind, **dict(zip(names, args, strict=False))}
    for key, value in kwargs.items():
        if key in spec:
            raise ConfigError(path, f"{key} given twice in {text!r}")
        spec[key] = value
    return spec


def _describe_spec(kind: str, spec: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={fmt(spec[k])}" for k in ARGUMENTS[kind] if k in spec)
    return f"{kind}({args})"


def _choice(name: str, spec: dict, path: str, notes: list[str]) -> Param:
    values = nonempty_list(spec["values"], join(path, "values"))
    values, dropped = dedupe(values)
    if dropped:
        notes.append(f"{name}: repeated value(s) {', '.join(fmt(d) for d in dropped)} dropped")
    return Param(name, value_kind(values), "choice", choices=tuple(values))


def _bounds(spec: dict, path: str, ints: bool = False) -> tuple[float, float]:
    read = integral if ints else number
    low = read(spec["min_value"], join(path, "min_value"))
    high = read(spec["max_value"], join(path, "max_value"))
    ordered(low, high, path)
    return low, high


def _uniform(name: str, spec: dict, path: str, notes: list[str]) -> Param:
    low, high = _bounds(spec, path)
    return Param(name, "float", "linear", low=float(low), high=float(high))


def _loguniform(name: str, spec: dict, path: str, notes: list[str]) -> Param | Fixed:
    lo, hi = _bounds(spec, path)
    low, high = math.exp(lo), math.exp(hi)
    if 0 < lo and hi <= 1:
        notes.append(f"{name}: loguniform takes natural-log exponents (Azure ML): "
                     f"exp({fmt(lo)})..exp({fmt(hi)}) = [{fmt(low)}, {fmt(high)}]; for values "
                     f"{fmt(lo)}..{fmt(hi)} write loguniform({fmt(math.log(lo))}, "
                     f"{fmt(math.log(hi))})")
    if "q" not in spec:
        return Param(name, "float", "log", low=low, high=high)
    return _quantised(name, "log", low, high, spec, path, notes)


def _quniform(name: str, spec: dict, path: str, notes: list[str]) -> Param | Fixed:
    low, high = _bounds(spec, path)
    return _quantised(name, "linear", low, high, spec, path, notes)


def _quantised(name: str, scale: str, low: float, high: float, spec: dict, path: str,
               notes: list[str]) -> Param | Fixed:
    q = positive(spec["q"], join(path, "q"))
    lo, hi = q * math.ceil(low / q - 1e-9), q * math.floor(high / q + 1e-9)
    if hi < lo:
        raise ConfigError(join(path, "q"), f"no multiple of q={fmt(q)} between "
                                           f"{fmt(low)} and {fmt(high)}")
    ints = float(q).is_integer() and float(lo).is_integer() and float(hi).is_integer()
    lo, hi = (int(lo), int(hi)) if ints else (round(lo, 12), round(hi, 12))
    if (lo, hi) != (low, high):
        notes.append(f"{name}: bounds [{fmt(low)}, {fmt(high)}] snapped to multiples of "
                     f"q={fmt(q)}: [{fmt(lo)}, {fmt(hi)}]")
    if lo == hi:
        return Fixed(name, lo, f"only one multiple of q in range: {fmt(lo)}")
    return Param(name, "int" if ints else "float", scale, low=lo, high=hi, step=q)


def _normal(name: str, spec: dict, path: str, notes: list[str]) -> Param:
    mu = number(spec["mu"], join(path, "mu"))
    sigma = positive(spec["sigma"], join(path, "sigma"))
    scale = "lognormal" if spec["type"].lower().endswith("lognormal") else "normal"
    q = positive(spec["q"], join(path, "q")) if "q" in spec else None
    kind = "int" if q is not None and float(q).is_integer() else "float"
    return Param(name, kind, scale, mu=float(mu), sigma=float(sigma), step=q)


def _randint(name: str, spec: dict, path: str, notes: list[str]) -> Param | Fixed:
    upper = integral(spec["upper"], join(path, "upper"))
    if upper < 1:
        raise ConfigError(join(path, "upper"), f"randint(upper) draws from [0, upper): upper "
                                               f"must be >= 1, got {upper}")
    if upper == 1:
        return Fixed(name, 0, "randint(1) can only give 0")
    return Param(name, "int", "linear", low=0, high=upper - 1)


def _sagemaker(name: str, spec: dict, path: str, notes: list[str]) -> Param:
    ints = spec["type"].lower() == "integer"
    low, high = _bounds(spec, path, ints=ints)
    raw = spec.get("scaling", "auto")
    scaling = SCALINGS.get(raw.lower().replace("-", "_")) if isinstance(raw, str) else None
    if scaling is None:
        raise ConfigError(join(path, "scaling"), f"unknown scaling {raw!r}; valid: linear, log, "
                                                 "reverse_log, auto (or Linear, Logarithmic, "
                                                 "ReverseLogarithmic, Auto)")
    if scaling == "auto":
        scaling = "log" if low > 0 and high / low >= 100 else "linear"
        notes.append(f"{name}: scaling auto -> {scaling} (log when min_value > 0 and "
                     "max_value / min_value >= 100)")
    if scaling == "log" and low <= 0:
        raise ConfigError(join(path, "min_value"), f"log scaling needs min_value > 0, got "
                                                   f"{fmt(low)}")
    if scaling == "reverse_log":
        if ints:
            raise ConfigError(join(path, "scaling"), "reverse_log applies only to continuous "
                                                     "ranges (as in SageMaker)")
        if not (0 <= low and high < 1):
            raise ConfigError(path, f"reverse_log needs 0 <= min_value < max_value < 1, got "
                                    f"[{fmt(low)}, {fmt(high)}]")
    if ints:
        return Param(name, "int", scaling, low=int(low), high=int(high))
    return Param(name, "float", scaling, low=float(low), high=float(high))


def _check_default(p: Param, spec: dict, path: str) -> Any:
    value = spec["default"]
    dpath = join(path, "default")
    if p.choices is not None:
        if not any(value == c and isinstance(value, bool) == isinstance(c, bool)
                   for c in p.choices):
            raise ConfigError(dpath, f"default {fmt(value)} is not one of the values "
                                     f"{list(p.choices)}")
        return value
    value = integral(value, dpath) if p.kind == "int" else float(number(value, dpath))
    if p.low is not None and not p.low <= value <= p.high:
        raise ConfigError(dpath, f"default {fmt(value)} is outside [{fmt(p.low)}, {fmt(p.high)}]")
    return value


_PARSERS = {
    "choice": _choice, "categorical": _choice, "uniform": _uniform, "loguniform": _loguniform,
    "qloguniform": _loguniform, "quniform": _quniform, "normal": _normal, "lognormal": _normal,
    "qnormal": _normal, "qlognormal": _normal, "randint": _randint, "integer": _sagemaker,
    "continuous": _sagemaker,
}
