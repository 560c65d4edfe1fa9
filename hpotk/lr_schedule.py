"""Learning-rate schedules: the ``lr_schedule`` key of an experiment, and fitting one to a PBT
lineage (`hpotk schedule`).

The time axis is PBT's: one step per evaluation iteration. Iteration ``i`` (Tune's
``training_iteration``, 1, 2, ...) trains with the lr of epoch index ``e = i - 1`` in torch's
terms, as if ``scheduler.step()`` were called after each evaluation. The forms, with ``lr0``
the optimiser's lr (the config's ``lr``)::

    {type: constant}                                   lr0
    {type: multistep, milestones: [12, 25], gamma: 0.3} MultiStepLR: lr0 * gamma ** (milestones <= e)
    {type: step, step_size: 10, gamma: 0.5}            StepLR: lr0 * gamma ** (e // step_size)
    {type: exponential, gamma: 0.95}                   ExponentialLR: lr0 * gamma ** e
    {type: cosine, T_max: 30, eta_min: 1e-5}           CosineAnnealingLR (torch's closed form)
    {type: piecewise, points: [[1, 0.01], [9, 0.004]]} lr of the last point at or before
                                                        iteration i (the first point's before it)
    {type: warmup, warmup_iters: 5, start_factor: 0.1,  LinearLR up to lr0, then ``then``:
     then: {type: exponential, gamma: 0.9}}             SequentialLR (`hpotk.lr_schedule_warmup`)
    {type: onecycle, total_steps: 40, pct_start: 0.3}  OneCycleLR peaking at lr0 (ditto)

``piecewise`` points are absolute lrs of the ``lr`` param (what a PBT lineage followed); the
other forms scale the optimiser's lr like torch's schedulers do. An optimiser with several
parameter groups (e.g. rgcn's ``sparse-lr`` group) has each group scaled by the same factor.

Fitting (`fit`): candidates constant, MultiStepLR, StepLR, ExponentialLR and CosineAnnealingLR
are fitted to log lr(t) by least squares; the milestones of MultiStepLR are the change points
that ruptures' dynamic programming finds (Truong, Oudre and Vayatis, "Selective review of
offline change point detection methods", 2020), StepLR's step size and the cosine's ``T_max`` are
searched with ``scipy.optimize.brute``, the cosine's other parameters with
``scipy.optimize.least_squares``. With ``hpotk.lr_schedule_warmup``'s rise-then-fall fits (warm-up then exponential, step or
cosine decay; one-cycle, cos and linear) they are the candidates of `fit`. The choice among them
is by the Bayesian information criterion
on log lr, ``n ln(RSS / n) + k ln(n)`` (``k`` counts every fitted number, each milestone
included).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hpotk.errors import ConfigError

TYPES = ("constant", "multistep", "step", "exponential", "cosine", "piecewise", "warmup",
         "onecycle")
RISING = ("warmup", "onecycle")  # their spec, lr and fits live in hpotk.lr_schedule_warmup
KEYS = {
    "constant": (),
    "multistep": ("milestones", "gamma"),
    "step": ("step_size", "gamma"),
    "exponential": ("gamma",),
    "cosine": ("T_max", "eta_min"),
    "piecewise": ("points",),
    "warmup": ("warmup_iters", "start_factor", "then"),
    "onecycle": ("total_steps", "pct_start", "anneal_strategy", "div_factor", "final_div_factor"),
}
REQUIRED = {"multistep": ("milestones", "gamma"), "step": ("step_size", "gamma"),
            "exponential": ("gamma",), "cosine": ("T_max",), "piecewise": ("points",),
            "warmup": ("warmup_iters",), "onecycle": ("total_steps",)}
EXAMPLES = {
    "multistep": "{type: multistep, milestones: [12, 25], gamma: 0.3}",
    "step": "{type: step, step_size: 10, gamma: 0.5}",
    "exponential": "{type: exponential, gamma: 0.95}",
    "cosine": "{type: cosine, T_max: 30, eta_min: 0.00001}",
    "piecewise": "{type: piecewise, points: [[1, 0.01], [9, 0.004]]}",
    "constant": "{type: constant}",
    "warmup": "{type: warmup, warmup_iters: 5, start_factor: 0.1, then: {type: cosine, T_max: 30}}",
    "onecycle": "{type: onecycle, total_steps: 40, pct_start: 0.3, anneal_strategy: cos}",
}
FIT_ORDER = ("constant", "multistep", "step", "exponential", "cosine", "warmup-exponential",
             "warmup-step", "warmup-cosine", "onecycle-cos", "onecycle-linear")  # BIC ties
MAX_MILESTONES = 8
RSS_FLOOR = 1e-10  # per point: a log-lr error below 1e-5 counts as exact (BIC of a perfect fit)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def _integer(value: Any) -> bool:
    return _number(value) and float(value) == int(value)


def validate(spec: Any, path: str = "lr_schedule") -> dict[str, Any] | None:
    """A checked, normalised ``lr_schedule`` mapping (None stays None).

    Raises:
        ConfigError: naming the key path, the value and an example of the form.
    """
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(path, f"expected a mapping with 'type' (one of {list(TYPES)}), e.g. "
                                f"{EXAMPLES['multistep']}; got {spec!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise ConfigError(f"{path}.type", f"expected one of {list(TYPES)}, got {kind!r}")
    for key in spec:
        if key != "type" and key not in KEYS[kind]:
            raise ConfigError(f"{path}.{key}", f"unknown key for type {kind}; valid keys: "
                                               f"{['type', *KEYS[kind]]} (e.g. {EXAMPLES[kind]})")
    for key in REQUIRED.get(kind, ()):
        if key not in spec:
            raise ConfigError(f"{path}.{key}", f"required for type {kind}, e.g. {EXAMPLES[kind]}")
    if kind in RISING:
        from hpotk import lr_schedule_warmup as rising

        check = rising.validate_warmup if kind == "warmup" else rising.validate_onecycle
        return check(spec, path)
    out: dict[str, Any] = {"type": kind}
    if "gamma" in KEYS[kind]:
        gamma = spec["gamma"]
        if not _number(gamma) or gamma <= 0:
            raise ConfigError(f"{path}.gamma", f"expected a number > 0 (the factor per step), "
                                               f"got {gamma!r}")
        out["gamma"] = float(gamma)
    if kind == "multistep":
        ms = spec["milestones"]
        if not isinstance(ms, (list, tuple)) or not all(_integer(m) and m >= 1 for m in ms):
            raise ConfigError(f"{path}.milestones", f"expected a list of iterations >= 1, e.g. "
                                                    f"[12, 25]; got {ms!r}")
        ms = [int(m) for m in ms]
        if ms != sorted(set(ms)):
            raise ConfigError(f"{path}.milestones", f"must be increasing without repeats, "
                                                    f"got {ms!r}")
        out["milestones"] = ms
    if kind == "step":
        size = spec["step_size"]
        if not _integer(size) or size < 1:
            raise ConfigError(f"{path}.step_size", f"expected an integer >= 1, got {size!r}")
        out["step_size"] = int(size)
    if kind == "cosine":
        t_max = spec["T_max"]
        if not _integer(t_max) or t_max < 1:
            raise ConfigError(f"{path}.T_max", f"expected an integer >= 1 (iterations of one "
                                               f"half cosine), got {t_max!r}")
        eta = spec.get("eta_min", 0.0)
        if not _number(eta) or eta < 0:
            raise ConfigError(f"{path}.eta_min", f"expected a number >= 0, got {eta!r}")
        out["T_max"], out["eta_min"] = int(t_max), float(eta)
    if kind == "piecewise":
        out["points"] = _check_points(spec["points"], f"{path}.points")
    return out


def _check_points(points: Any, path: str) -> list[list[Any]]:
    if not isinstance(points, (list, tuple)) or not points:
        raise ConfigError(path, f"expected a non-empty list of [iteration, lr] pairs, e.g. "
                                f"[[1, 0.01], [9, 0.004]]; got {points!r}")
    out: list[list[Any]] = []
    for i, point in enumerate(points):
        if (not isinstance(point, (list, tuple)) or len(point) != 2 or not _integer(point[0])
                or point[0] < 1 or not _number(point[1]) or point[1] <= 0):
            raise ConfigError(f"{path}[{i}]", f"expected [iteration >= 1, lr > 0], got {point!r}")
        if out and int(point[0]) <= out[-1][0]:
            raise ConfigError(f"{path}[{i}]", f"iterations must increase: {point[0]} follows "
                                              f"{out[-1][0]}")
        out.append([int(point[0]), float(point[1])])
    return out


def factor(spec: Mapping[str, Any], epoch: int) -> float:
    """The factor on lr0 at epoch index ``epoch`` (iteration - 1) for the scaling forms."""
    kind = spec["type"]
    if kind == "constant":
        return 1.0
    if kind == "multistep":
        return spec["gamma"] ** bisect.bisect_right(spec["milestones"], epoch)
    if kind == "step":
        return spec["gamma"] ** (epoch // spec["step_size"])
    if kind == "exponential":
        return spec["gamma"] ** epoch
    raise ValueError(f"{kind} is not a scaling form")


def lr_at(spec: Mapping[str, Any] | None, iteration: int, lr0: float,
          base: float | None = None) -> float:
    """The lr that trains iteration ``iteration`` (1-based) of a parameter group.

    Args:
        spec: a validated ``lr_schedule`` (None: constant).
        iteration: Tune's training iteration being trained (1 for the first).
        lr0: the config's ``lr`` (the first parameter group's lr as built).
        base: this group's lr as built (default ``lr0``); other groups keep their ratio to lr0.
    """
    base = lr0 if base is None else base
    epoch = max(int(iteration) - 1, 0)
    if spec is None:
        return base
    kind = spec["type"]
    if kind == "piecewise":
        points = spec["points"]
        index = max(bisect.bisect_right([p[0] for p in points], iteration) - 1, 0)
        return points[index][1] * (base / lr0 if lr0 else 1.0)
    if kind == "cosine":
        eta = spec["eta_min"]
        return eta + (base - eta) * (1 + math.cos(math.pi * epoch / spec["T_max"])) / 2
    if kind in RISING:
        from hpotk import lr_schedule_warmup as rising

        if kind == "warmup":
            return rising.warmup_lr(spec, epoch, lr0, base)
        return rising.onecycle_lr(spec, epoch, base)
    return base * factor(spec, epoch)


def torch_scheduler(optimizer: Any, spec: Mapping[str, Any] | None) -> Any:
    """A torch LR scheduler for ``spec`` on ``optimizer`` (step it once per evaluation), for
    scripts run by the command trainable (they get the spec as ``HPOTK_LR_SCHEDULE``)."""
    from torch.optim import lr_scheduler as s

    spec = validate(spec) or {"type": "constant"}
    kind = spec["type"]
    if kind == "multistep":
        return s.MultiStepLR(optimizer, milestones=spec["milestones"], gamma=spec["gamma"])
    if kind == "step":
        return s.StepLR(optimizer, step_size=spec["step_size"], gamma=spec["gamma"])
    if kind == "exponential":
        return s.ExponentialLR(optimizer, gamma=spec["gamma"])
    if kind == "cosine":
        return s.CosineAnnealingLR(optimizer, T_max=spec["T_max"], eta_min=spec["eta_min"])
    if kind in RISING:
        from hpotk import lr_schedule_warmup as rising

        build = rising.torch_warmup if kind == "warmup" else rising.torch_onecycle
        return build(optimizer, spec)
    lr0 = optimizer.param_groups[0]["lr"]
    return s.LambdaLR(optimizer, lambda epoch: lr_at(spec, epoch + 1, lr0) / lr0)


def describe(spec: Mapping[str, Any] | None, lr0: float) -> str:
    """The schedule in torch's terms, e.g. ``MultiStepLR(optimizer, milestones=[12, 25],
    gamma=0.31)``, with lr0."""
    spec = spec or {"type": "constant"}
    if spec["type"] == "constant":
        return f"optimizer lr={lr0:.4g}; no scheduler (constant lr)"
    return f"optimizer lr={lr0:.4g}; {torch_text(spec, lr0)}"


def torch_text(spec: Mapping[str, Any], lr0: float) -> str:
    """The torch code that builds the scheduler of ``spec`` (not constant) on ``optimizer``."""
    kind = spec["type"]
    if kind == "multistep":
        return f"MultiStepLR(optimizer, milestones={spec['milestones']}, gamma={spec['gamma']:.3g})"
    if kind == "step":
        return f"StepLR(optimizer, step_size={spec['step_size']}, gamma={spec['gamma']:.3g})"
    if kind == "exponential":
        return f"ExponentialLR(optimizer, gamma={spec['gamma']:.4g})"
    if kind == "cosine":
        return f"CosineAnnealingLR(optimizer, T_max={spec['T_max']}, eta_min={spec['eta_min']:.3g})"
    if kind in RISING:
        from hpotk import lr_schedule_warmup as rising

        return rising.torch_text(spec, lr0)
    return f"piecewise lr at iterations {[p[0] for p in spec['points']]}"


# ---------------------------------------------------------------------------------------------
# fitting


@dataclass
class Fit:
    """One candidate schedule fitted to lr(t).

    Attributes:
        name: one of FIT_ORDER (constant, multistep, ..., warmup-cosine, onecycle-linear).
        lr0: the fitted starting lr.
        spec: the ``lr_schedule`` mapping (``{type: constant}`` for a constant).
        predicted: the fitted lr per iteration.
        rss: residual sum of squares of log lr; ``rmse`` its root mean.
        k: fitted numbers; ``bic``: n ln(max(RSS/n, floor)) + k ln(n).
    """

    name: str
    lr0: float
    spec: dict[str, Any]
    predicted: list[float]
    rss: float
    k: int
    bic: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def rmse(self) -> float:
        return math.sqrt(self.rss / max(len(self.predicted), 1))

    @property
    def torch(self) -> str:
        return describe(self.spec, self.lr0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "lr0": self.lr0, "lr_schedule": self.spec,
                "torch": self.torch, "rss_log": self.rss, "rmse_log": self.rmse, "k": self.k,
                "bic": self.bic, "predicted": self.predicted}


def _bic(rss: float, n: int, k: int) -> float:
    return n * math.log(max(rss / n, RSS_FLOOR)) + k * math.log(n)


def _predict(spec: dict[str, Any], lr0: float, n: int) -> list[float]:
    return [lr_at(spec, i, lr0) for i in range(1, n + 1)]


def _make(name: str, spec: dict[str, Any], lr0: float, y: Any, k: int) -> Fit:
    import numpy as np

    predicted = _predict(spec, lr0, len(y))
    rss = float(np.sum((np.log(predicted) - y) ** 2))
    return Fit(name, float(lr0), spec, predicted, rss, k)


def _powers_fit(y: Any, steps: Any) -> tuple[float, float]:
    """Least squares of ``y = log lr0 + steps * log gamma``: (lr0, gamma)."""
    import numpy as np

    design = np.column_stack([np.ones_like(y), steps])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(math.exp(a)), float(math.exp(b))


def fit_constant(y: Any) -> Fit:
    import numpy as np

    return _make("constant", {"type": "constant"}, math.exp(float(np.mean(y))), y, 1)


def fit_exponential(y: Any) -> Fit:
    import numpy as np
    from scipy import stats

    reg = stats.linregress(np.arange(len(y), dtype=float), y)
    spec = {"type": "exponential", "gamma": float(math.exp(reg.slope))}
    return _make("exponential", spec, math.exp(reg.intercept), y, 2)


def fit_multistep(y: Any) -> Fit:
    """Milestones from ruptures' exact change-point search (Dynp, l2 cost) for 1..8 change
    points, one lr0 and gamma by least squares for each; the count with the lowest BIC."""
    import numpy as np

    try:
        import ruptures
    except ImportError:
        from hpotk.errors import HpotkError

        raise HpotkError("fitting MultiStepLR needs ruptures (change points): pip install "
                         "'hpotk[schedule]' or pip install ruptures") from None
    n = len(y)
    if n < 3:
        return _make("multistep", {"type": "multistep", "milestones": [1], "gamma": 1.0},
                     math.exp(float(np.mean(y))), y, 3)
    algo = ruptures.Dynp(model="l2", min_size=1, jump=1).fit(np.asarray(y).reshape(-1, 1))
    best: Fit | None = None
    for count in range(1, min(MAX_MILESTONES, n - 1) + 1):
        try:
            breaks = algo.predict(n_bkps=count)
        except ruptures.exceptions.BadSegmentationParameters:
            break
        milestones = [int(b) for b in breaks[:-1]]  # the epoch index where a new segment starts
        steps = np.array([bisect.bisect_right(milestones, e) for e in range(n)], dtype=float)
        lr0, gamma = _powers_fit(np.asarray(y), steps)
        candidate = _make("multistep", {"type": "multistep", "milestones": milestones,
                                        "gamma": gamma}, lr0, y, 2 + count)
        candidate.bic = _bic(candidate.rss, n, candidate.k)
        if best is None or candidate.bic < best.bic - 1e-9:
            best = candidate
    assert best is not None
    return best


def fit_step(y: Any) -> Fit:
    """StepLR: the step size by ``scipy.optimize.brute`` over 1..n-1, lr0 and gamma by least
    squares for each."""
    import numpy as np
    from scipy import optimize

    n = len(y)
    y = np.asarray(y)
    epochs = np.arange(n)

    def cost(size: Any) -> float:
        s = max(int(round(float(np.atleast_1d(size)[0]))), 1)
        lr0, gamma = _powers_fit(y, (epochs // s).astype(float))
        return float(np.sum((np.log(lr0) + (epochs // s) * np.log(gamma) - y) ** 2))

    if n < 3:
        size = 1
    else:
        size = int(round(float(np.atleast_1d(optimize.brute(cost, (slice(1, n, 1),),
                                                            finish=None))[0])))
    lr0, gamma = _powers_fit(y, (epochs // size).astype(float))
    return _make("step", {"type": "step", "step_size": size, "gamma": gamma}, lr0, y, 3)


def fit_cosine(y: Any) -> Fit:
    """CosineAnnealingLR: ``T_max`` by ``scipy.optimize.brute`` over n/2..2n, lr0 and eta_min by
    ``scipy.optimize.least_squares`` on log lr for each (eta_min = lr0 * exp(q), q <= 0).

    ``T_max`` stays at least half the run: torch's cosine is periodic, and a short period would
    fit noise (one anneal over the run is what the schedule is for). ``eta_min`` stays at most
    lr0, so the cosine anneals down: with eta_min above lr0 it is a bump that rises for T_max
    iterations and falls back, which the warm-up and one-cycle fits describe as what it is."""
    import numpy as np
    from scipy import optimize

    y = np.asarray(y)
    n = len(y)
    epochs = np.arange(n, dtype=float)

    def inner(t_max: int) -> tuple[float, float, float]:
        shape = (1 + np.cos(np.pi * epochs / t_max)) / 2

        def residual(p: Any) -> Any:
            lr0 = np.exp(p[0])
            eta = lr0 * np.exp(p[1])
            return np.log(np.maximum(eta + (lr0 - eta) * shape, 1e-300)) - y

        start = [float(y[0]), float(min(y[-1] - y[0], -0.1))]
        sol = optimize.least_squares(residual, start, bounds=([-50, -30], [10, 0]))
        lr0 = float(np.exp(sol.x[0]))
        return float(np.sum(sol.fun ** 2)), lr0, lr0 * float(np.exp(sol.x[1]))

    def cost(t: Any) -> float:
        return inner(max(int(round(float(np.atleast_1d(t)[0]))), 1))[0]

    low = max(1, n // 2)
    t_max = int(round(float(np.atleast_1d(optimize.brute(cost, (slice(low, 2 * n + 1, 1),),
                                                         finish=None))[0])))
    _, lr0, eta = inner(t_max)
    return _make("cosine", {"type": "cosine", "T_max": t_max, "eta_min": eta}, lr0, y, 3)


def fit(lrs: list[float]) -> list[Fit]:
    """Every candidate fitted to ``lrs`` (the lr of iterations 1..n), each with its BIC,
    best (lowest BIC) first (the rise-then-fall families only from 4 iterations on)."""
    import numpy as np

    values = np.asarray([float(v) for v in lrs], dtype=float)
    if len(values) == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        from hpotk.errors import HpotkError

        raise HpotkError(f"cannot fit a schedule: the lr series must be positive numbers, "
                         f"got {list(lrs)[:10]}")
    from hpotk import lr_schedule_warmup as rising

    y = np.log(values)
    fits = [fit_constant(y), fit_multistep(y), fit_step(y), fit_exponential(y), fit_cosine(y),
            *rising.fits(y)]
    for f in fits:
        f.bic = _bic(f.rss, len(y), f.k)
    order = {name: i for i, name in enumerate(FIT_ORDER)}
    return sorted(fits, key=lambda f: (round(f.bic, 9), f.k, order[f.name]))


def piecewise(iterations: list[int], lrs: list[float]) -> dict[str, Any]:
    """The exact lineage as ``{type: piecewise, points}``: a point where the lr changes."""
    points: list[list[Any]] = []
    for i, lr in zip(iterations, lrs, strict=True):
        if not points or not math.isclose(points[-1][1], float(lr), rel_tol=1e-12):
            points.append([int(i), float(lr)])
    return {"type": "piecewise", "points": points}
