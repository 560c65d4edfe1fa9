"""Optuna's samplers behind hpotk's own Searcher: one or several objectives, constraints, history.

Three names: ``optuna_tpe`` (TPESampler, multivariate; MOTPE with several objectives),
``nsga2`` (NSGAIISampler) and ``optuna_gp`` (GPSampler: log-EI, log-EHVI with several
objectives). Ray's ``OptunaSearch`` is not used: it takes Ray domains (no reverse-log, normal or
lognormal params), cannot pickle NSGA-II's sampler (a thread lock), leaves a trial that reported
NaN running in the study for ever, and gives samplers no constraint values.

The adapter drives an in-memory study in ask/tell fashion. Each param is an Optuna distribution:

==========================================  ==================================  ================
Param                                       Optuna distribution                 back to a value
==========================================  ==================================  ================
choice (categorical, bool, power2)          categorical over the indices        ``choices[i]``
linear int / quantised (grid of n values)   int 0..n-1 (the grid index)         ``low + k*step``
linear float                                float [low, high]                   as is
log int (step 1)                            int [low, high], log                as is
log float (quantised: snapped)              float [low, high], log              `snap`
reverse_log                                 float [1-high, 1-low], log          ``1 - v``
normal / lognormal                          float [0, 1], the normal CDF        `from_unit`
==========================================  ==================================  ================

Every objective is read from the trial's final result in its own direction (the study has one
direction per objective), so with several objectives Tune's own metric may stay unset. A trial
that errored is told as failed, which Optuna's samplers leave out (as hyperopt's do). One whose
result lacks a finite value of an objective (NaN, inf, missing) gets that objective's worst value
seen so far, so the sampler steers away from a region that diverges (left out, a GP suggests the
same point again), and is failed while no trial has reported a finite one. Constraints: before a trial is told, each bound becomes one constraint value,
``value - max`` or ``min - value`` (<= 0 feasible), set with ``Trial.set_constraint`` — Optuna 5
deprecates the samplers' ``constraints_func`` for it and every sampler reads these values; a
constrained metric the result lacks counts as satisfied (0), as in `hpotk.objectives`.
History (a warm start's earlier ``(config, metrics)``) enters the study as completed trials
before the first suggestion, so the model starts informed; a point outside today's space, or
without every objective, is skipped (NSGA-II takes history as its first generations). Configs to
run first (`OptunaSearcher.evaluate_first`) are queued in the study (``enqueue_trial``).

The study, the trials in flight and the sampler (its random state included) pickle together,
so a restored or unpickled searcher suggests what the saved one would.

Options:
    optuna_tpe: n_startup_trials (int >= 1, default Optuna's 10, but at most a quarter of
        budget.trials and at least 5): random trials first; n_ei_candidates (int >= 1,
        default 24); multivariate (bool, default true): model the params jointly;
        constant_liar (bool, default true when budget.concurrent > 1): trials still running
        count as bad, so concurrent suggestions spread out.
    nsga2: population_size (int >= 2, default Optuna's 50, but at most a quarter of
        budget.trials and at least 4); crossover_prob (default 0.9), mutation_prob (default
        1 / number of params), swapping_prob (default 0.5), each in [0, 1].
    optuna_gp: n_startup_trials (as optuna_tpe); deterministic_objective (bool, default
        false): fit the GP without observation noise.
"""

from __future__ import annotations

import io
import math
import pickle
import threading
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.searchers import SearchContext, SearchPlan
from hpotk.searchers.base import SpaceSearcher
from hpotk.searchers.unit import from_unit, n_grid, snap
from hpotk.space.param import Param, Space

#: Optuna's samplers model every objective (and the constraints: see `hpotk.searchers.constrained`)
MULTI_OBJECTIVE = True
MODELS_CONSTRAINTS = True

TPE_OPTIONS = {"n_startup_trials": int, "n_ei_candidates": int, "multivariate": bool,
               "constant_liar": bool}
NSGA2_OPTIONS = {"population_size": int, "crossover_prob": (int, float),
                 "mutation_prob": (int, float), "swapping_prob": (int, float)}
GP_OPTIONS = {"n_startup_trials": int, "deterministic_objective": bool}


# ---------------------------------------------------------------------------------------------
# Param <-> Optuna distribution


@dataclass(frozen=True)
class _Dim:
    """One param as an Optuna distribution, and the ways to and from its values (Optuna's
    internal and external values are the same here: a categorical's choices are its indices)."""

    param: Param
    how: str  # "choice" | "grid" | "value" | "reverse" | "unit"
    distribution: Any

    @classmethod
    def of(cls, p: Param) -> _Dim:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if p.choices is not None:
            return cls(p, "choice", CategoricalDistribution(list(range(len(p.choices)))))
        if p.scale == "linear" and p.is_discrete:
            return cls(p, "grid", IntDistribution(0, n_grid(p) - 1))
        if p.scale == "linear":
            return cls(p, "value", FloatDistribution(p.low, p.high))
        if p.scale == "log" and p.kind == "int" and p.step in (None, 1) \
                and math.ceil(p.low) <= math.floor(p.high):
            return cls(p, "value", IntDistribution(math.ceil(p.low), math.floor(p.high), log=True))
        if p.scale == "log":
            return cls(p, "value", FloatDistribution(p.low, p.high, log=True))
        if p.scale == "reverse_log":
            return cls(p, "reverse", FloatDistribution(1.0 - p.high, 1.0 - p.low, log=True))
        if p.scale in ("normal", "lognormal"):
            return cls(p, "unit", FloatDistribution(0.0, 1.0))
        raise ValueError(f"unknown scale {p.scale!r} for param {p.name!r}")

    def value(self, internal: Any) -> Any:
        """The param's value for Optuna's ``internal``."""
        p = self.param
        if self.how == "choice":
            return p.choices[int(internal)]
        if self.how == "grid":
            return p.cast(p.low + int(internal) * (p.step or 1))
        if self.how == "reverse":
            return snap(p, 1.0 - float(internal))
        if self.how == "unit":
            return from_unit(p, float(internal))
        return snap(p, internal)

    def internal(self, value: Any) -> Any:
        """Optuna's value for the param's ``value``; None when it is not in today's space."""
        p = self.param
        if self.how == "choice":
            return next((i for i, c in enumerate(p.choices) if _same(c, value)), None)
        try:
            x = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(x) or isinstance(value, bool):
            return None
        if self.how == "grid":
            k = (x - p.low) / (p.step or 1)
            if abs(k - round(k)) > 1e-6 or not 0 <= round(k) < n_grid(p):
                return None
            return int(round(k))
        if self.how == "unit":
            if p.scale == "lognormal":
                if x <= 0:
                    return None
                x = math.log(x)
            return NormalDist(p.mu, p.sigma).cdf(x)
        if self.how == "reverse":
            x = 1.0 - x
        d = self.distribution
        if not d.low - 1e-12 * max(1.0, abs(d.low)) <= x <= d.high + 1e-12 * max(1.0, abs(d.high)):
            return None
        x = min(max(x, d.low), d.high)
        from optuna.distributions import IntDistribution

        if isinstance(d, IntDistribution):  # log int
            return int(round(x)) if abs(x - round(x)) < 1e-9 else None
        return x


def _same(choice: Any, value: Any) -> bool:
    """A history value is this choice: equal, and both booleans or neither (numpy's included)."""
    if choice is value:
        return True
    is_bool = type(value).__name__ in ("bool", "bool_")
    if isinstance(choice, bool) != is_bool:
        return False
    try:
        return bool(choice == value)
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Constraints and objectives


@dataclass(frozen=True)
class _Bound:
    """One side of a constraint: ``name <= limit`` (upper) or ``name >= limit``."""

    name: str
    limit: float
    upper: bool

    @property
    def key(self) -> str:
        return f"{self.name} {'<=' if self.upper else '>='} {self.limit:g}"

    def value(self, metrics: dict[str, Any] | None) -> float:
        """Optuna's constraint value (<= 0 feasible); 0 when the metric is missing or NaN, and
        an infinite metric a margin of the bound's size (a GP cannot fit infinities)."""
        try:
            x = float((metrics or {})[self.name])
        except (KeyError, TypeError, ValueError):
            return 0.0
        if math.isnan(x):
            return 0.0
        c = x - self.limit if self.upper else self.limit - x
        return c if math.isfinite(c) else math.copysign(max(1.0, abs(self.limit)), c)


def bounds_of(constraints: list[Any]) -> list[_Bound]:
    """The constraints of an experiment (``.name``, ``.max``, ``.min``) as bounds."""
    out = []
    for c in constraints:
        if c.max is not None:
            out.append(_Bound(c.name, float(c.max), True))
        if c.min is not None:
            out.append(_Bound(c.name, float(c.min), False))
    return out


# ---------------------------------------------------------------------------------------------
# Pickling a study: NSGA-II's sampler holds a thread lock; a fresh one is as good


_LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


class _StudyPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        lock = _LOCKS.get(type(obj))
        return (lock, ()) if lock else NotImplemented


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _StudyPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# The searcher


class OptunaSearcher(SpaceSearcher):
    """An Optuna sampler over a `Space`, ask/tell style (see the module docstring).

    Args:
        space, seed: see `SpaceSearcher`.
        objectives: every objective as (name, mode); the first is Ray's metric/mode.
        sampler: a fresh Optuna sampler, seeded.
        constraints: the experiment's constraints (``.name``, ``.max``, ``.min``).
        history: earlier (config, metrics) pairs, added as completed trials.
    """

    _transient = ("_study", "_asked")

    def __init__(self, space: Space, objectives: list[tuple[str, str]], sampler: Any,
                 seed: int = 0, constraints: list[Any] = (), history: list[Any] = ()):
        import optuna

        metric, mode = objectives[0]
        super().__init__(space, metric, mode, seed)
        self.objectives = [(str(name), str(m)) for name, m in objectives]
        self.bounds = bounds_of(list(constraints))
        self.dims = {name: _Dim.of(p) for name, p in space.params.items()}
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial otherwise
        self._study = optuna.create_study(
            directions=["maximize" if m == "max" else "minimize" for _, m in self.objectives],
            sampler=sampler, pruner=optuna.pruners.NopPruner())
        self._asked: dict[str, Any] = {}  # trial_id -> optuna Trial in flight
        self.history_added, self.history_skipped = self._add_history(list(history))

    @property
    def study(self) -> Any:
        """The Optuna study (read it; do not ask or tell it)."""
        return self._study

    def _distributions(self) -> dict[str, Any]:
        return {name: dim.distribution for name, dim in self.dims.items()}

    def values_of(self, metrics: dict[str, Any] | None) -> list[float | None]:
        """Every objective's value in ``metrics``, None where it is missing or not finite."""
        values = []
        for name, _ in self.objectives:
            try:
                value = float((metrics or {})[name])
            except (KeyError, TypeError, ValueError):
                value = math.nan
            values.append(value if math.isfinite(value) else None)
        return values

    def _worst(self) -> list[float | None]:
        """Each objective's worst value among the study's completed trials (None: none yet)."""
        from optuna.trial import TrialState

        worst: list[float | None] = [None] * len(self.objectives)
        for trial in self._study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            for i, ((_, mode), value) in enumerate(zip(self.objectives, trial.values, strict=True)):
                if worst[i] is None or (value > worst[i] if mode == "min" else value < worst[i]):
                    worst[i] = value
        return worst

    def _constraints(self, metrics: dict[str, Any] | None) -> dict[str, float]:
        return {b.key: b.value(metrics) for b in self.bounds}

    def _add_history(self, history: list[Any]) -> tuple[int, int]:
        import optuna

        sampler = self._study.sampler
        generation_key = getattr(type(sampler), "_get_generation_key", None)
        population = getattr(sampler, "population_size", None)
        distributions = self._distributions()
        added = skipped = 0
        for config, metrics in history:
            params = {name: dim.internal(config.get(name, _MISSING))
                      for name, dim in self.dims.items()}
            values = self.values_of(metrics)
            if None in values or any(v is None for v in params.values()):
                skipped += 1
                continue
            system_attrs = {}
            if generation_key is not None and population:  # NSGA-II: the first generations
                system_attrs[generation_key()] = added // population
            self._study.add_trial(optuna.trial.create_trial(
                values=values, params=params, distributions=distributions,
                system_attrs=system_attrs, constraints=self._constraints(metrics) or None))
            added += 1
        return added, skipped

    def evaluate_first(self, points: list[dict[str, Any]]) -> int:
        """Suggest ``points`` (configs, e.g. a warm start's) before the sampler's own; their
        results are told like any trial's. A point outside today's space is skipped. Returns
        how many were queued."""
        queued = 0
        for point in points:
            params = {name: dim.internal(point.get(name, _MISSING))
                      for name, dim in self.dims.items()}
            if all(v is not None for v in params.values()):
                self._study.enqueue_trial(params, skip_if_exists=False)
                queued += 1
        return queued

    # --- SpaceSearcher ---------------------------------------------------------------------

    def _propose(self, trial_id: str) -> dict[str, Any]:
        trial = self._study.ask(fixed_distributions=self._distributions())
        self._asked[trial_id] = trial
        return {name: dim.value(trial.params[name]) for name, dim in self.dims.items()}

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        from optuna.trial import TrialState

        self.pending.pop(trial_id, None)
        trial = self._asked.pop(trial_id, None)
        if trial is None:
            return
        self.n_observed += 1
        values = [None] if error else self.values_of(result)
        if None in values:
            self.n_failed += 1
            if not error:
                values = [w if v is None else v for v, w in zip(values, self._worst(), strict=True)]
            if None in values:
                self._study.tell(trial, state=TrialState.FAIL)
                return
            trial.set_user_attr("hpotk", "no finite objective: told as the worst seen")
        for key, value in self._constraints(result).items():
            trial.set_constraint(key, value)
        self._study.tell(trial, values)

    # --- state -----------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["_optuna"] = _dumps((self._study, self._asked))
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        study, asked = pickle.loads(state.pop("_optuna"))
        self.__dict__.update(state)
        self._study, self._asked = study, asked


_MISSING = object()


# ---------------------------------------------------------------------------------------------
# Builders


def _check_space(ctx: SearchContext, name: str) -> None:
    if not ctx.space.params:
        raise ConfigError("space", f"the {name} searcher needs at least one tuned param; every "
                                   "param is fixed (use searcher random)")


def _at_least(ctx: SearchContext, key: str, value: int, low: int) -> int:
    if value < low:
        raise ConfigError(f"{ctx.path}.{key}", f"must be >= {low}, got {value}")
    return value


def _probability(ctx: SearchContext, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{ctx.path}.{key}", f"must be in [0, 1], got {value}")
    return float(value)


def _default_start(ctx: SearchContext) -> int:
    return min(10, max(5, ctx.trials // 4))


def _plan(ctx: SearchContext, name: str, sampler: Any, notes: list[str]) -> SearchPlan:
    searcher = OptunaSearcher(ctx.space, ctx.all_objectives, sampler, seed=ctx.seed,
                              constraints=list(ctx.constraints), history=list(ctx.history))
    objectives = ", ".join(f"{n} ({m})" for n, m in ctx.all_objectives)
    notes = [f"{name}: {notes[0]}; objectives {objectives}", *notes[1:]]
    if searcher.bounds:
        notes.append(f"{name}: constraints {', '.join(b.key for b in searcher.bounds)} "
                     "(c <= 0 feasible) go to the sampler with every trial")
    if ctx.history:
        notes.append(f"{name}: history: {searcher.history_added} earlier results added to the "
                     f"study, {searcher.history_skipped} skipped (outside today's space or "
                     "without every objective)")
    return SearchPlan(search_alg=searcher, param_space=ctx.space.fixed_values(),
                      num_samples=ctx.trials, notes=notes)


def _startup_note(name: str, n: int, ctx: SearchContext, what: str) -> list[str]:
    if n >= ctx.trials:
        return [f"{name}: {what} {n} >= budget.trials {ctx.trials}: every trial is random "
                "search"]
    return []


def build_tpe(ctx: SearchContext, **options: Any) -> SearchPlan:
    """Optuna's TPESampler (multivariate; MOTPE with several objectives)."""
    import optuna

    check_options(options, TPE_OPTIONS, ctx.path)
    _check_space(ctx, "optuna_tpe")
    start = options.get("n_startup_trials")
    start = _at_least(ctx, "n_startup_trials", _default_start(ctx) if start is None else start, 1)
    candidates = options.get("n_ei_candidates")
    candidates = _at_least(ctx, "n_ei_candidates", 24 if candidates is None else candidates, 1)
    multivariate = options.get("multivariate")
    multivariate = True if multivariate is None else multivariate
    liar = options.get("constant_liar")
    liar = ctx.concurrent > 1 if liar is None else liar
    sampler = optuna.samplers.TPESampler(
        seed=ctx.seed, n_startup_trials=start, n_ei_candidates=candidates,
        multivariate=multivariate, constant_liar=liar)
    return _plan(ctx, "optuna_tpe", sampler, [
        f"Optuna's TPE, {start} random trials first, multivariate={multivariate}, "
        f"constant_liar={liar}", *_startup_note("optuna_tpe", start, ctx, "n_startup_trials")])


def build_nsga2(ctx: SearchContext, **options: Any) -> SearchPlan:
    """Optuna's NSGAIISampler: generations of ``population_size`` trials."""
    import optuna

    check_options(options, NSGA2_OPTIONS, ctx.path)
    _check_space(ctx, "nsga2")
    size = options.get("population_size")
    size = min(50, max(4, ctx.trials // 4)) if size is None else size
    size = _at_least(ctx, "population_size", size, 2)
    crossover = _probability(ctx, "crossover_prob", options.get("crossover_prob"))
    mutation = _probability(ctx, "mutation_prob", options.get("mutation_prob"))
    swapping = _probability(ctx, "swapping_prob", options.get("swapping_prob"))
    crossover = 0.9 if crossover is None else crossover
    swapping = 0.5 if swapping is None else swapping
    sampler = optuna.samplers.NSGAIISampler(
        seed=ctx.seed, population_size=size, crossover_prob=crossover, mutation_prob=mutation,
        swapping_prob=swapping)
    generations = ctx.trials / size
    return _plan(ctx, "nsga2", sampler, [
        f"Optuna's NSGA-II, population {size} ({generations:.1f} generations in the budget), "
        f"crossover_prob={crossover}, swapping_prob={swapping}, mutation_prob="
        f"{'1/params' if mutation is None else mutation}",
        *_startup_note("nsga2", size, ctx, "population_size")])


def build_gp(ctx: SearchContext, **options: Any) -> SearchPlan:
    """Optuna's GPSampler (log-EI; log-EHVI with several objectives)."""
    import optuna

    check_options(options, GP_OPTIONS, ctx.path)
    _check_space(ctx, "optuna_gp")
    start = options.get("n_startup_trials")
    start = _at_least(ctx, "n_startup_trials", _default_start(ctx) if start is None else start, 1)
    deterministic = bool(options.get("deterministic_objective") or False)
    with warnings.catch_warnings():  # deterministic_objective is "experimental": said in the note
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.GPSampler(seed=ctx.seed, n_startup_trials=start,
                                            deterministic_objective=deterministic)
    acquisition = "log-EHVI" if len(ctx.all_objectives) > 1 else "log-EI"
    return _plan(ctx, "optuna_gp", sampler, [
        f"Optuna's GP ({acquisition}), {start} random trials first, "
        f"deterministic_objective={deterministic}" + (" (experimental in Optuna)" if deterministic else ""),
        *_startup_note("optuna_gp", start, ctx, "n_startup_trials")])
