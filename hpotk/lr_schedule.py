"""Learning-rate schedules: the ``lr_schedule`` key of an experiment, the lr it gives each
iteration, and the torch scheduler that does the same. What trainables need at run time; the
fits of a schedule to a PBT lineage (`hpotk schedule`) live in `hpotk.pbt.fits`.

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
     then: {type: exponential, gamma: 0.9}}             SequentialLR (below)
    {type: onecycle, total_steps: 40, pct_start: 0.3}  OneCycleLR peaking at lr0 (below)

``piecewise`` points are absolute lrs of the ``lr`` param (what a PBT lineage followed); the
other forms scale the optimiser's lr like torch's schedulers do. An optimiser with several
parameter groups (e.g. rgcn's ``sparse-lr`` group) has each group scaled by the same factor.

The forms that rise, then fall (``RISING``). PBT often raises the lr before it lowers it: early
on, the trials that train fastest with a larger lr win; later, the ones that settle with a
smaller lr do. A decay alone fits such a lineage only with a wrong start, so these are the torch
schedulers made for it::

    {type: warmup, warmup_iters: 5, start_factor: 0.1,     LinearLR(start_factor, end_factor=1,
     then: {type: cosine, T_max: 30, eta_min: 1e-5}}       total_iters=5), then ``then`` from lr0,
                                                           joined by SequentialLR(milestones=[5])
    {type: onecycle, total_steps: 40, pct_start: 0.3,      OneCycleLR(max_lr=lr0, ...,
     anneal_strategy: cos, div_factor: 25,                 cycle_momentum=False)
     final_div_factor: 10000}

With epoch ``e = iteration - 1`` as for every form: ``warmup`` trains at ``lr0 * (start_factor +
(1 - start_factor) * e / warmup_iters)`` while ``e < warmup_iters``, then follows ``then``
(constant, multistep, step, exponential or cosine; default constant) with its epochs counted
from the end of the warm-up, because SequentialLR restarts the second scheduler at its
milestone: ``then``'s milestones, step size and ``T_max`` count iterations after the warm-up.
``onecycle``'s ``lr0`` is the peak (``max_lr``; other parameter groups keep their ratio): from
``lr0 / div_factor`` it anneals up to ``lr0`` at epoch ``pct_start * total_steps - 1``, then
down to ``lr0 / div_factor / final_div_factor`` at epoch ``total_steps - 1`` (torch's
``get_lr``, linear or cos). torch's OneCycleLR raises after ``total_steps`` steps, so set it to
at least ``budget.max_t``; hpotk's own trainables keep the last lr past it. The momentum is
left alone (``cycle_momentum=False``): ``lr_schedule`` drives the lr only.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

from hpotk.errors import ConfigError

TYPES = ("constant", "multistep", "step", "exponential", "cosine", "piecewise", "warmup",
         "onecycle")
RISING = ("warmup", "onecycle")  # the forms that rise, then fall
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
THEN_TYPES = ("constant", "multistep", "step", "exponential", "cosine")  # after a warm-up
ANNEAL = ("cos", "linear")
WARMUP_START_FACTOR = 1 / 3  # torch's LinearLR default
ONECYCLE_DEFAULTS = {"pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
                     "final_div_factor": 1e4}  # torch's OneCycleLR defaults


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
        check = validate_warmup if kind == "warmup" else validate_onecycle
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
        if kind == "warmup":
            return warmup_lr(spec, epoch, lr0, base)
        return onecycle_lr(spec, epoch, base)
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
        build = torch_warmup if kind == "warmup" else torch_onecycle
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
        return _rising_text(spec, lr0)
    return f"piecewise lr at iterations {[p[0] for p in spec['points']]}"


def piecewise(iterations: list[int], lrs: list[float]) -> dict[str, Any]:
    """The exact lineage as ``{type: piecewise, points}``: a point where the lr changes."""
    points: list[list[Any]] = []
    for i, lr in zip(iterations, lrs, strict=True):
        if not points or not math.isclose(points[-1][1], float(lr), rel_tol=1e-12):
            points.append([int(i), float(lr)])
    return {"type": "piecewise", "points": points}


# ---------------------------------------------------------------------------------------------
# the forms that rise, then fall


def validate_warmup(spec: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``{type: warmup}`` checked and normalised (keys were checked by `lr_schedule.validate`)."""
    iters = spec["warmup_iters"]
    if not _integer(iters) or iters < 1:
        raise ConfigError(f"{path}.warmup_iters", f"expected an integer >= 1 (iterations the lr "
                                                  f"rises linearly to the config's lr), got "
                                                  f"{iters!r}")
    start = spec.get("start_factor", WARMUP_START_FACTOR)
    if not _number(start) or not 0 < start <= 1:
        raise ConfigError(f"{path}.start_factor", f"expected a number with 0 < start_factor <= 1 "
                                                  f"(the warm-up starts at lr * start_factor, "
                                                  f"as in torch's LinearLR), got {start!r}")
    then = spec.get("then", {"type": "constant"})
    if not isinstance(then, Mapping):
        raise ConfigError(f"{path}.then", f"expected the schedule after the warm-up, a mapping "
                                          f"with type one of {list(THEN_TYPES)}, e.g. {{type: "
                                          f"cosine, T_max: 30}}; got {then!r}")
    if then.get("type") not in THEN_TYPES:
        raise ConfigError(f"{path}.then.type", f"after a warm-up, expected one of "
                                               f"{list(THEN_TYPES)}, got {then.get('type')!r}")
    return {"type": "warmup", "warmup_iters": int(iters), "start_factor": float(start),
            "then": validate(then, f"{path}.then")}


def validate_onecycle(spec: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``{type: onecycle}`` checked, with torch's defaults filled in."""
    total = spec["total_steps"]
    if not _integer(total) or total < 2:
        raise ConfigError(f"{path}.total_steps", f"expected an integer >= 2 (iterations in the "
                                                 f"cycle; at least budget.max_t, torch's "
                                                 f"OneCycleLR raises past it), got {total!r}")
    total = int(total)
    pct = spec.get("pct_start", ONECYCLE_DEFAULTS["pct_start"])
    if not _number(pct) or not 1 / total < pct < 1:
        raise ConfigError(f"{path}.pct_start", f"expected {1 / total:.4g} < pct_start < 1 "
                                               f"(1/total_steps < pct_start < 1: the peak, at "
                                               f"epoch pct_start * total_steps - 1, must come "
                                               f"after the first iteration and before the "
                                               f"last), got {pct!r}")
    anneal = spec.get("anneal_strategy", ONECYCLE_DEFAULTS["anneal_strategy"])
    if anneal not in ANNEAL:
        raise ConfigError(f"{path}.anneal_strategy", f"expected one of {list(ANNEAL)}, got "
                                                     f"{anneal!r}")
    out = {"type": "onecycle", "total_steps": total, "pct_start": float(pct),
           "anneal_strategy": anneal}
    for key in ("div_factor", "final_div_factor"):
        value = spec.get(key, ONECYCLE_DEFAULTS[key])
        if not _number(value) or value <= 0:
            raise ConfigError(f"{path}.{key}", f"expected a number > 0 (the cycle starts at "
                                               f"lr / div_factor and ends at that / "
                                               f"final_div_factor), got {value!r}")
        out[key] = float(value)
    return out


def warmup_lr(spec: Mapping[str, Any], epoch: int, lr0: float, base: float) -> float:
    """LinearLR's closed form while warming up, then ``then`` restarted at the milestone."""
    iters, start = spec["warmup_iters"], spec["start_factor"]
    if epoch < iters:
        return base * (start + (1.0 - start) * epoch / iters)
    return lr_at(spec["then"], epoch - iters + 1, lr0, base)


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    """torch's OneCycleLR._annealing_cos / _annealing_linear, with the same float operations."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def onecycle_lr(spec: Mapping[str, Any], epoch: int, base: float) -> float:
    """OneCycleLR.get_lr for a group whose ``max_lr`` is ``base``; the last lr past the cycle."""
    total = spec["total_steps"]
    initial = base / spec["div_factor"]
    low = initial / spec["final_div_factor"]
    peak = float(spec["pct_start"] * total) - 1
    step = min(epoch, total - 1)
    if step <= peak:
        return _anneal(spec["anneal_strategy"], initial, base, step / peak)
    return _anneal(spec["anneal_strategy"], base, low, (step - peak) / (total - 1 - peak))


def peak_epoch(spec: Mapping[str, Any]) -> float:
    """The epoch (iteration - 1) at which the lr reaches lr0, the top of the rise."""
    if spec["type"] == "warmup":
        return float(spec["warmup_iters"])
    return float(spec["pct_start"] * spec["total_steps"]) - 1


def torch_warmup(optimizer: Any, spec: Mapping[str, Any]) -> Any:
    """LinearLR for the warm-up, and SequentialLR handing over to ``then`` at its end."""
    from torch.optim import lr_scheduler as s

    warm = s.LinearLR(optimizer, start_factor=spec["start_factor"], end_factor=1.0,
                      total_iters=spec["warmup_iters"])
    if spec["then"]["type"] == "constant":
        return warm
    after = torch_scheduler(optimizer, spec["then"])
    return s.SequentialLR(optimizer, schedulers=[warm, after], milestones=[spec["warmup_iters"]])


def torch_onecycle(optimizer: Any, spec: Mapping[str, Any]) -> Any:
    """OneCycleLR peaking at each group's lr as built (so groups keep their ratio)."""
    from torch.optim import lr_scheduler as s

    return s.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                        total_steps=spec["total_steps"], pct_start=float(spec["pct_start"]),
                        anneal_strategy=spec["anneal_strategy"], div_factor=spec["div_factor"],
                        final_div_factor=spec["final_div_factor"], cycle_momentum=False)


def _rising_text(spec: Mapping[str, Any], lr0: float) -> str:
    """A warm-up or one-cycle scheduler as the torch code that builds it."""
    if spec["type"] == "onecycle":
        return (f"OneCycleLR(optimizer, max_lr={lr0:.4g}, total_steps={spec['total_steps']}, "
                f"pct_start={spec['pct_start']:.6g}, "
                f"anneal_strategy='{spec['anneal_strategy']}', "
                f"div_factor={spec['div_factor']:.4g}, "
                f"final_div_factor={spec['final_div_factor']:.4g}, cycle_momentum=False)")
    warm = (f"LinearLR(optimizer, start_factor={spec['start_factor']:.4g}, end_factor=1.0, "
            f"total_iters={spec['warmup_iters']})")
    if spec["then"]["type"] == "constant":
        return warm
    return (f"SequentialLR(optimizer, schedulers=[{warm}, {torch_text(spec['then'], lr0)}], "
            f"milestones=[{spec['warmup_iters']}])")
