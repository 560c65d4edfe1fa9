"""Population Based Training (Jaderberg et al. 2017) over the space's *algorithm* params.

Every ``perturbation_interval`` iterations a trial in the bottom ``quantile`` of the population
loads the checkpoint of a trial in the top ``quantile`` (exploit) and perturbs that trial's
algorithm params (explore): with probability ``resample_probability`` a value is drawn afresh from
the param's own distribution, otherwise a number is multiplied by one of
``perturbation_factors`` (and clipped back into its bounds) and a choice moves to a neighbouring
value. The mutations are built from `hpotk.space.param.Param`, never from Ray domains.

Why only algorithm params (the NERSC Ray Tune guide): exploit copies a trial's *weights* into another trial, so
all trials must share one architecture. A space that tunes a *model* param (``role="model"``:
layer sizes, layer counts, ...) is refused; fix those params or choose another scheduler.

PBT needs checkpoints, every ``perturbation_interval`` iterations: `checkpoint_every` says so
(the one place hpotk reads it from; the runner turns checkpoints on). It keeps every checkpoint
of its trials, whatever ``checkpoint.keep`` says (see `PBT`). Only random or grid search can feed PBT (Ray refuses it
behind any other searcher).

The lineage (`PBT`): every exploit/explore is appended to ``results/<name>/pbt_lineage.jsonl``
the moment it happens (Ray's own ``pbt_global.txt`` lives in the driver's staging directory, on
Slurm a node-local /tmp, and reaches the results only now and then). `hpotk.pbt.lineage`
rebuilds any trial's stitched history from it and the results' history rows.

Reproducibility: Ray's PBT draws from the global ``random`` module (whom to clone, which factor,
whether to resample, the resampled value; `ParamSampler` too). `PBT` gives those draws a
generator of its own, seeded from the experiment seed and swapped in only while the scheduler
runs, so that the same sequence of results (the same trials reporting the same values in the
same order) gives the same decisions, whatever else in the driver uses ``random``. What is NOT
reproducible: the order in which concurrent trials report (it depends on timing), the training
itself where torch is not deterministic, and decisions after a resume (Tune does not save a
scheduler's state in its experiment checkpoint: the restored scheduler starts again from the
seed, with fresh per-trial state).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import time
from pathlib import Path
from typing import Any

from ray.tune.schedulers import PopulationBasedTraining

from hpotk import layout
from hpotk._plain import plain
from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.schedulers import SchedulerContext
from hpotk.schedulers.population import Population, wants_population
from hpotk.schedulers.population import describe as describe_population
from hpotk.space.param import Param

LINEAGE_LOG = layout.LINEAGE_LOG  # in the experiment's results directory
SEARCHERS = ("random", "grid")  # the searchers Ray lets PBT run behind
POPULATION = True  # every trial exists from the start (hpotk.schedulers.population)
LIST_LIMIT = 64  # a discrete param with at most this many values mutates to a neighbouring value

OPTIONS = {
    "perturbation_interval": int, "burn_in_period": int, "quantile": (int, float),
    "resample_probability": (int, float), "perturbation_factors": (list, tuple),
    "synch": bool, "log_config": bool,
}


class ParamSampler:
    """Draws a fresh value of one numeric `Param` (picklable, unlike a lambda)."""

    def __init__(self, param: Param):
        self.param = param

    def __call__(self) -> Any:
        p = self.param
        if p.scale == "log":
            value = math.exp(random.uniform(math.log(p.low), math.log(p.high)))
        elif p.scale == "reverse_log":
            value = 1.0 - math.exp(random.uniform(math.log(1.0 - p.high), math.log(1.0 - p.low)))
        elif p.scale == "normal":
            value = random.gauss(p.mu, p.sigma)
        elif p.scale == "lognormal":
            value = random.lognormvariate(p.mu, p.sigma)
        else:
            value = random.uniform(p.low, p.high)
        return _fit(p, value)


class KeepInBounds:
    """PBT's ``custom_explore_fn``: puts perturbed numbers back into their param's bounds/step."""

    def __init__(self, params: list[Param]):
        self.params = [p for p in params if not p.is_choice]

    def __call__(self, config: dict) -> dict:
        for p in self.params:
            if p.name in config:
                config[p.name] = _fit(p, config[p.name])
        return config


def _fit(p: Param, value: float) -> Any:
    if p.low is not None and p.high is not None:
        value = min(max(float(value), p.low), p.high)
    if p.step:
        base = p.low if p.low is not None else 0.0
        value = base + round((value - base) / p.step) * p.step
        if p.high is not None and value > p.high + 1e-12:
            value -= p.step
    return p.cast(value)


def mutations(params: list[Param]) -> dict[str, Any]:
    """``hyperparam_mutations`` for Ray's PBT: a value list or a `ParamSampler` per param."""
    out: dict[str, Any] = {}
    for p in params:
        if p.is_choice:
            out[p.name] = list(p.choices)
        elif p.is_discrete and len(p.grid_values()) <= LIST_LIMIT:
            out[p.name] = p.grid_values()
        else:
            out[p.name] = ParamSampler(p)
    return out


def _settings(ctx: SchedulerContext, options: dict[str, Any]) -> dict[str, Any]:
    check_options(options, OPTIONS, ctx.path)
    s = {"perturbation_interval": max(1, ctx.max_t // 4), "burn_in_period": 0, "quantile": 0.25,
         "resample_probability": 0.25, "perturbation_factors": (1.2, 0.8), "synch": False,
         "log_config": True}
    s.update({k: v for k, v in options.items() if v is not None})
    if s["perturbation_interval"] < 1:
        raise ConfigError(f"{ctx.path}.perturbation_interval",
                          f"must be >= 1 iteration, got {s['perturbation_interval']}")
    if s["burn_in_period"] < 0:
        raise ConfigError(f"{ctx.path}.burn_in_period",
                          f"must be >= 0, got {s['burn_in_period']}")
    if not 0 < s["quantile"] <= 0.5:
        raise ConfigError(f"{ctx.path}.quantile",
                          f"must be in (0, 0.5] (the fraction of the population copied from and "
                          f"into), got {s['quantile']}")
    if not 0 <= s["resample_probability"] <= 1:
        raise ConfigError(f"{ctx.path}.resample_probability",
                          f"must be in [0, 1], got {s['resample_probability']}")
    factors = s["perturbation_factors"]
    if not factors or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0
                              for f in factors):
        raise ConfigError(f"{ctx.path}.perturbation_factors",
                          f"must be a non-empty list of positive numbers, got {factors!r}")
    s["perturbation_factors"] = tuple(float(f) for f in factors)
    _check_space(ctx)
    if ctx.searcher is not None and ctx.searcher not in SEARCHERS:
        raise ConfigError(ctx.path, f"pbt cannot run behind searcher {ctx.searcher!r}: Ray's PBT "
                                    f"takes its configs from {' or '.join(SEARCHERS)} search only")
    return s


def _check_space(ctx: SchedulerContext) -> None:
    model = ctx.space.model_params()
    if model:
        names = ", ".join(repr(p.name) for p in model)
        raise ConfigError(
            model[0].path or f"space.{model[0].name}",
            f"pbt cannot tune model (architecture) params ({names}): PBT copies the weights of a "
            f"better trial into a worse one, so every trial must have the same architecture, and "
            f"it may vary only algorithm (learning) params. Fix these params to one value, or "
            f"use another scheduler (asha, ahb, hyperband, ...)")
    if not ctx.space.algorithm_params():
        raise ConfigError(ctx.path, "pbt needs at least one tuned algorithm param (e.g. lr) to "
                                    "mutate; the space has none")


class PBT(Population, PopulationBasedTraining):
    """Ray's PBT, keeping every checkpoint, logging its lineage, drawing from a seeded RNG.

    Checkpoints: exploit loads the checkpoint a top trial saved at its last perturbation; by then
    the top trial may have saved newer ones, and a ``checkpoint.keep`` limit would have deleted it
    ("Could not recover from checkpoint as it does not exist on storage anymore"; Ray warns about
    ``num_to_keep <= 2``). So each trial's checkpoint manager keeps all of them.

    Lineage: each exploit appends one JSON line to `LINEAGE_LOG` in the experiment directory
    (``lineage_path`` if set, else the trials' own experiment directory on local storage: the
    results directory hpotk gives Tune, wherever a resume finds it),
    flushed and fsynced: ``event`` "exploit", ``time``, ``target``/``target_iter`` (the trial
    that copies and the iteration it had reached), ``donor``/``donor_iter`` (whose checkpoint,
    saved at which iteration), ``old_config``/``donor_config``/``new_config`` (the mutated params
    only), ``operations`` (Ray's explore steps, e.g. "* 0.8", "resample") and both scores. A line
    already in the log (the same transition replayed after a resume) is not written again.

    RNG: see the module docstring; ``seed`` seeds it.

    Population (`hpotk.schedulers.population`): with ``slots`` (``budget.concurrent``) below the
    population size, every member exists from the start and ``slots`` of them train at a time;
    Ray's PBT pauses a member at a perturbation point while others wait, and resumes the least
    trained one.
    """

    def __init__(self, *args: Any, seed: int = 0, lineage_path: str | None = None,
                 slots: int | None = None, **kwargs: Any):
        self.slots = slots
        self._rng_state = random.Random(f"hpotk-pbt-{seed}").getstate()
        self.lineage_path = lineage_path
        self._logged: set[str] | None = None  # keys of the lines in the log, read once
        self._operations: dict[str, Any] = {}
        outer = random.getstate()
        random.setstate(self._rng_state)
        try:
            super().__init__(*args, **kwargs)
        finally:
            self._rng_state = random.getstate()
            random.setstate(outer)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_logged"] = None  # read again from the log after an unpickle (resume)
        return state

    def _own_rng(self, method: Any, *args: Any) -> Any:
        """``method(*args)`` with the global ``random`` state replaced by this scheduler's."""
        outer = random.getstate()
        random.setstate(self._rng_state)
        try:
            return method(*args)
        finally:
            self._rng_state = random.getstate()
            random.setstate(outer)

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        manager = trial.run_metadata.checkpoint_manager
        if manager.checkpoint_config.num_to_keep is not None:
            manager._checkpoint_config = dataclasses.replace(manager.checkpoint_config,
                                                             num_to_keep=None)
        self._own_rng(super().on_trial_add, tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        return self._own_rng(super().on_trial_result, tune_controller, trial, result)

    def _get_new_config(self, trial: Any, trial_to_clone: Any) -> tuple[dict, dict]:
        new_config, operations = super()._get_new_config(trial, trial_to_clone)
        self._operations = dict(operations or {})
        return new_config, operations

    def _exploit(self, tune_controller: Any, trial: Any, trial_to_clone: Any) -> None:
        state, donor_state = self._trial_state[trial], self._trial_state[trial_to_clone]
        names = list(self._hyperparam_mutations)
        target_iter = _iteration(state)
        donor_iter = _iteration(donor_state)
        old = {k: trial.config.get(k) for k in names}
        donor_config = {k: trial_to_clone.config.get(k) for k in names}
        scores = (state.last_score, donor_state.last_score)
        super()._exploit(tune_controller, trial, trial_to_clone)
        self.record({
            "event": "exploit", "time": time.time(),
            "target": trial.trial_id, "target_iter": target_iter,
            "donor": trial_to_clone.trial_id, "donor_iter": donor_iter,
            "old_config": old, "donor_config": donor_config,
            "new_config": {k: trial.config.get(k) for k in names},
            "operations": {k: str(v) for k, v in self._operations.items()},
            "target_score": _number(scores[0]), "donor_score": _number(scores[1]),
            "time_attr": self._time_attr,
        }, trial)

    def log_file(self, trial: Any = None) -> Path | None:
        """Where the lineage goes: ``lineage_path``, else the trial's experiment directory."""
        if self.lineage_path:
            return Path(self.lineage_path)
        storage = getattr(trial, "storage", None)
        try:
            from pyarrow.fs import LocalFileSystem

            if isinstance(storage.storage_filesystem, LocalFileSystem):
                return Path(storage.experiment_fs_path) / LINEAGE_LOG
        except (AttributeError, ImportError, TypeError):
            pass
        return None

    def record(self, event: dict[str, Any], trial: Any = None) -> None:
        """Append ``event`` to the lineage log (flushed), unless that very line is there."""
        path = self.log_file(trial)
        if path is None:
            return
        if self._logged is None:
            self._logged = {layout.lineage_event_key(e) for e in layout.read_lineage_events(path)}
        key = layout.lineage_event_key(event)
        if key in self._logged:
            return
        self._logged.add(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        layout.append_jsonl(path, [event], sync=True,
                            default=functools.partial(plain, otherwise=str))


def _iteration(state: Any) -> int:
    result = state.last_result or {}
    return int(result.get("training_iteration", state.last_train_time) or 0)


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def build(ctx: SchedulerContext, **options: Any) -> PBT:
    s = _settings(ctx, options)
    params = ctx.space.algorithm_params()
    scheduler = PBT(
        time_attr=ctx.time_attr,
        perturbation_interval=s["perturbation_interval"],
        burn_in_period=s["burn_in_period"],
        hyperparam_mutations=mutations(params),
        quantile_fraction=float(s["quantile"]),
        resample_probability=float(s["resample_probability"]),
        perturbation_factors=s["perturbation_factors"],
        custom_explore_fn=KeepInBounds(params),
        log_config=s["log_config"],
        synch=s["synch"],
        seed=ctx.seed,
        slots=ctx.concurrent if wants_population(ctx) else None,
    )
    return scheduler


def checkpoint_every(ctx: SchedulerContext, **options: Any) -> int:
    """Trials checkpoint once per perturbation interval: exploit loads the donor's latest."""
    return int(_settings(ctx, options)["perturbation_interval"])


def describe(ctx: SchedulerContext, **options: Any) -> dict:
    s = _settings(ctx, options)
    factors = "/".join(f"x{f:g}" for f in s["perturbation_factors"])
    how = {}
    for name, m in mutations(ctx.space.algorithm_params()).items():
        p = ctx.space.params[name]
        how[name] = (f"neighbouring value of {m}" if isinstance(m, list)
                     else f"{factors} within bounds, or resample {p.describe()}")
    return {
        "mutations": how,
        "summary": f"every {s['perturbation_interval']} iterations (after "
                   f"{s['burn_in_period']}) the bottom {s['quantile']:g} of trials copy a top "
                   f"{s['quantile']:g} trial's checkpoint and perturb its algorithm params "
                   f"(resample with probability {s['resample_probability']:g}); needs checkpoints; "
                   f"every exploit is logged to {LINEAGE_LOG} (see hpotk schedule)",
        "population": describe_population(ctx, "perturbation points"),
    }
