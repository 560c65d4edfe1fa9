"""Bayesian optimisation with Dragonfly's GP bandit (as in the NERSC Ray Tune guide), behind hpotk's own Searcher.

Ray removed its Dragonfly searcher; this module drives ``CPGPBandit`` in ask/tell mode on a
``CPFunctionCaller`` domain built with ``load_config`` — as the NERSC Ray Tune guide does — from hpotk's `Param`s:

============================================  ============================================
Param                                         Dragonfly dimension
============================================  ============================================
choice of numbers (power2, numeric options)   ``discrete_numeric`` over the numbers
other choice (strings, bools, mixed)          ``discrete`` over the choice indices
linear int / quantised (grid of n values)     ``int`` over the grid index 0..n-1
any other scale (float, log, reverse_log,     ``float`` u in [0, 1], mapped by
normal, lognormal; quantised log)             `hpotk.searchers.unit.from_unit` (the GP
                                              works in the param's own scale)
============================================  ============================================

Dragonfly maximises, so a "min" metric is negated. Errored trials and NaN/inf results are not
told to the GP. The state (observations, trials in flight, RNGs) pickles; the optimiser is
rebuilt from it and the observations replayed — redoing the last GP re-tuning with the seed
it had — so a restored (or unpickled) searcher suggests exactly what the saved one would.

Keeping workers busy. Dragonfly here is pure Python (no Fortran, see tools/install_dragonfly.py),
and a naive ask/tell loop re-tunes nothing after the first fit while spending ~1000 acquisition
evaluations per ask. This adapter instead:

* suggests the first ``n_initial_points`` (and any further suggestion while fewer than that
  many results are in) from a scrambled Sobol design — instant, and spread out;
* re-tunes the GP's hyperparameters (marginal likelihood, ``gp_fit_max_evals`` evaluations)
  only every ``refit_every`` new results; in between, new results are added to the fitted GP
  (a cheap posterior update);
* bounds the acquisition optimiser to ``acq_opt_max_evals`` evaluations per suggestion;
* adds trials still running to the GP as observations of its own mean ("kriging believer")
  for the one suggestion, so concurrent suggestions spread out instead of piling onto one
  point (Dragonfly's own hallucination costs seconds per suggestion in pure Python);
* falls back to the next Sobol point (logged once) if Dragonfly fails on a degenerate data set
  (e.g. all results equal), so a numerical failure never stalls the experiment.

Warm starts (`hpotk.warm_start`): `DragonflySearcher.evaluate_first` queues configs suggested
before the Sobol design, and `DragonflySearcher.tell_history` adds earlier (config, metrics)
pairs to the observations, exactly as if this searcher had suggested them: they count towards
``n_initial_points``, so with enough history the first suggestion is already the GP's.
``benchmarks/bo_latency.py`` measures what a suggestion costs against TPE.

Options:
    acq (str or list, default "ei-ucb-ttei", Dragonfly's own default): acquisition, or several
        joined by "-" (one is drawn at random per suggestion). Names: ucb (GP-UCB), ei, pi,
        ts (Thompson sampling), ttei (top-two EI); ModelArts' "poi" means pi.
    n_initial_points (int >= 1, default max(5, 2 x number of params), but at most half of
        budget.trials and at least 2): Sobol points before the GP suggests.
    refit_every (int >= 1, default 5): results between two re-tunings of the GP.
    acq_opt_max_evals (int >= 10, default 200): acquisition evaluations per suggestion.
    gp_fit_max_evals (int >= 10, default 100): likelihood evaluations per re-tuning of the GP's
        hyperparameters (Dragonfly's default, 500, costs ~10 s per re-tuning in pure Python).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hpotk._plain import plain
from hpotk.errors import ConfigError
from hpotk.options import check_options
from hpotk.searchers import SearchContext, SearchPlan
from hpotk.searchers.base import SpaceSearcher
from hpotk.searchers.unit import from_unit, n_grid
from hpotk.space.param import Param, Space

logger = logging.getLogger(__name__)

# Acquisitions CPGPBandit can use on a Cartesian-product (mixed) domain. Dragonfly's "add_ucb"
# needs a Euclidean domain's bounds and "rand" is no model at all: both refused.
ACQUISITIONS = {"ucb": "ucb", "ei": "ei", "pi": "pi", "poi": "pi", "ts": "ts", "ttei": "ttei"}
DEFAULT_ACQ = "ei-ucb-ttei"  # Dragonfly's own default for non-Euclidean domains
SINGLE_OBJECTIVE_REASON = "Dragonfly's GP bandit models one objective"
OPTIONS = {"acq": (str, list), "n_initial_points": int, "refit_every": int,
           "acq_opt_max_evals": int, "gp_fit_max_evals": int}
DEFAULTS = {"refit_every": 5, "acq_opt_max_evals": 200, "gp_fit_max_evals": 100}
MINIMUM = {"n_initial_points": 1, "refit_every": 1, "acq_opt_max_evals": 10,
           "gp_fit_max_evals": 10}
# ModelArts' BO knobs that Dragonfly's acquisitions do not have.
UNSUPPORTED = {
    "kappa": "Dragonfly's GP-UCB sets its exploration weight itself (beta_t grows with the "
             "number of results, as in GP-UCB theory); there is no kappa",
    "xi": "Dragonfly's EI and PI have no exploration margin xi",
    "kind": "use 'acq' (ucb, ei, poi/pi, ts, ttei)",
}


@dataclass(frozen=True)
class _Dim:
    """One param as a Dragonfly dimension: its spec and the way back to a value."""

    param: Param
    spec: dict[str, Any]

    @classmethod
    def of(cls, p: Param) -> _Dim:
        if p.choices is not None:
            numeric = all(isinstance(c, (int, float)) and not isinstance(c, bool)
                          for c in p.choices)
            if numeric and len(set(p.choices)) == len(p.choices):
                items = [float(c) for c in p.choices]
                return cls(p, {"name": p.name, "type": "discrete_numeric", "items": items})
            items = [str(i) for i in range(len(p.choices))]
            return cls(p, {"name": p.name, "type": "discrete", "items": items})
        if p.scale == "linear" and p.is_discrete:
            return cls(p, {"name": p.name, "type": "int", "min": 0, "max": n_grid(p) - 1})
        return cls(p, {"name": p.name, "type": "float", "min": 0.0, "max": 1.0})

    def decode(self, raw: Any) -> Any:
        """Dragonfly's coordinate -> the param's value."""
        p, kind = self.param, self.spec["type"]
        if kind == "discrete_numeric":
            items = self.spec["items"]
            index = min(range(len(items)), key=lambda i: abs(items[i] - float(raw)))
            return p.choices[index]
        if kind == "discrete":
            return p.choices[int(raw)]
        if kind == "int":
            return p.cast(p.low + int(raw) * (p.step or 1))
        return from_unit(p, float(raw))

    def encode(self, value: Any) -> Any:
        """A valid value of the param -> Dragonfly's coordinate (`decode` inverted)."""
        p, kind = self.param, self.spec["type"]
        if kind in ("discrete_numeric", "discrete"):
            index = next((i for i, c in enumerate(p.choices) if c is value or (
                c == value and isinstance(c, bool) == isinstance(value, bool))), None)
            if index is None:
                raise ValueError(f"{value!r} is not one of {p.name!r}'s choices "
                                 f"{list(p.choices)}")
            return self.spec["items"][index]
        if kind == "int":
            k = round((float(value) - p.low) / (p.step or 1))
            return min(max(int(k), 0), self.spec["max"])
        return _to_unit(p, float(value))

    def from_unit(self, u: float) -> Any:
        """A coordinate at position u in [0, 1) (for the Sobol design), as plain Python."""
        kind = self.spec["type"]
        if kind in ("discrete_numeric", "discrete"):
            items = self.spec["items"]
            return items[min(int(u * len(items)), len(items) - 1)]
        if kind == "int":
            n = self.spec["max"] + 1
            return min(int(u * n), n - 1)
        return float(u)


def _to_unit(p: Param, value: float) -> float:
    """The position u in [0, 1] that `hpotk.searchers.unit.from_unit` maps to ``value``, for
    the params bo gives a float coordinate (continuous scales); clipped into [0, 1]."""
    import math
    from statistics import NormalDist

    if p.scale == "linear":
        u = (value - p.low) / (p.high - p.low) if p.high > p.low else 0.0
    elif p.scale == "log":
        span = math.log(p.high) - math.log(p.low)
        u = (math.log(value) - math.log(p.low)) / span if span > 0 else 0.0
    elif p.scale == "reverse_log":
        lo, hi = math.log(1.0 - p.high), math.log(1.0 - p.low)
        u = (hi - math.log(1.0 - value)) / (hi - lo) if hi > lo else 0.0
    elif p.scale == "normal":
        u = NormalDist(p.mu, p.sigma).cdf(value)
    elif p.scale == "lognormal":
        u = NormalDist(p.mu, p.sigma).cdf(math.log(value)) if value > 0 else 0.0
    else:
        raise ValueError(f"unknown scale {p.scale!r} for param {p.name!r}")
    return min(max(float(u), 0.0), 1.0)


@contextlib.contextmanager
def _quiet_and_seeded(seed: int) -> Iterator[None]:
    """Run Dragonfly code with numpy's global RNG seeded (restored after) and its warnings off.

    Dragonfly draws from ``np.random`` directly; seeding it per call makes bo reproducible
    without disturbing anyone else's use of the global RNG.
    """
    import numpy as np

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        np.random.set_state(state)


def _import_dragonfly():
    """Dragonfly's pieces; its import-time warning about the missing Fortran DIRECT is silenced
    (hpotk installs it without Fortran on purpose, see tools/install_dragonfly.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from dragonfly import load_config
            from dragonfly.exd.experiment_caller import CPFunctionCaller
            from dragonfly.opt.gp_bandit import CPGPBandit, get_all_cp_gp_bandit_args
            from dragonfly.utils.option_handler import load_options
        except ImportError as e:  # pragma: no cover - depends on the environment
            from hpotk.errors import HpotkError

            raise HpotkError(
                f"the bo searcher needs dragonfly-opt ({e}); install it with "
                "`python tools/install_dragonfly.py` (see docs/development.md)"
            ) from e
    return load_config, CPFunctionCaller, CPGPBandit, get_all_cp_gp_bandit_args, load_options


class DragonflySearcher(SpaceSearcher):
    """Dragonfly's ``CPGPBandit`` in ask/tell mode as a Ray Tune Searcher.

    Args:
        space, metric, mode, seed: see `SpaceSearcher`.
        acq: Dragonfly acquisition(s), "-"-joined (already validated).
        n_initial_points, refit_every, acq_opt_max_evals: see the module docstring.
    """

    _transient = ("_opt", "_caller", "_dims", "_sobol")
    # configs to suggest before the Sobol design (`evaluate_first`); a class default so that a
    # searcher pickled before warm starts existed restores too
    first_points: list[dict[str, Any]] = []
    n_history = 0  # earlier trials added to the observations (`tell_history`)

    def __init__(self, space: Space, metric: str, mode: str, seed: int = 0,
                 acq: str = DEFAULT_ACQ, n_initial_points: int = 5, refit_every: int = 5,
                 acq_opt_max_evals: int = 200, gp_fit_max_evals: int = 100):
        import numpy as np

        super().__init__(space, metric, mode, seed)
        self.acq = acq
        self.n_initial_points = n_initial_points
        self.refit_every = refit_every
        self.acq_opt_max_evals = acq_opt_max_evals
        self.gp_fit_max_evals = gp_fit_max_evals
        self.rng = np.random.default_rng(self.seed)
        self.observations: list[tuple[list, float]] = []  # (Dragonfly point, value to maximise)
        self.pending_points: dict[str, list] = {}  # trial_id -> Dragonfly point
        self.n_sobol = 0  # Sobol points used so far
        self.n_model = 0  # suggestions that came from the GP
        self.n_fallback = 0  # GP failures answered with a Sobol point
        # the last re-tuning of the GP's hyperparameters: number of observations it saw, and
        # the seed of the global RNG it ran with (so a restore can redo it exactly)
        self.fitted_at = -1
        self.fit_seed = 0
        self._opt = self._caller = self._dims = self._sobol = None
        self._rebuild()

    # --- building and replaying ---------------------------------------------------------------

    def _rebuild(self) -> None:
        from scipy.stats import qmc

        self._dims = [_Dim.of(p) for p in self.space.params.values()]
        self._sobol = qmc.Sobol(d=max(len(self._dims), 1), scramble=True, seed=self.seed)
        if self.n_sobol:
            self._sobol.fast_forward(self.n_sobol)
        self._opt = None  # built on first use, from the observations

    def _optimiser(self):
        if self._opt is None:
            load_config, caller_cls, bandit_cls, all_args, load_options = _import_dragonfly()
            with _quiet_and_seeded(self.seed):
                config = load_config({"name": "hpotk", "domain": [d.spec for d in self._dims]})
                self._caller = caller_cls(None, config.domain,
                                          domain_orderings=config.domain_orderings)
                options = load_options(all_args(), reporter=None)
                options.acq = self.acq
                options.gpb_hp_tune_criterion = "ml"  # posterior sampling: ~10x slower fits
                options.acq_opt_max_evals = self.acq_opt_max_evals
                options.handle_parallel = "naive"  # trials in flight: see _believing
                options.hp_tune_max_evals = self.gp_fit_max_evals
                options.init_capital = None  # the initial design is ours (Sobol)
                options.num_init_evals = 0
                options.capital_type = "return_value"
                options.report_results_every = 10**9
                self._opt = bandit_cls(self._caller, options=options, ask_tell_mode=True,
                                       reporter=None)
                self._opt.initialise()
            self._replay()
        return self._opt

    def _replay(self) -> None:
        """Tell a fresh optimiser the observations, redoing the last GP re-tuning on the
        observations it saw with the RNG seed it had: the rebuilt optimiser is the one that
        was pickled, and suggests the same points."""
        told = self.observations[:self.fitted_at] if self.fitted_at >= 0 else self.observations
        with _quiet_and_seeded(self.seed):
            if told:
                self._opt.tell([(list(x), y) for x, y in told])
        if self.fitted_at >= 0:
            with _quiet_and_seeded(self.fit_seed):
                self._opt.step_idx = self.fitted_at
                self._opt._set_next_gp()
            rest = self.observations[self.fitted_at:]
            with _quiet_and_seeded(self.seed):
                if rest:
                    self._opt.tell([(list(x), y) for x, y in rest])

    # --- warm starts (hpotk.warm_start) -------------------------------------------------------

    def evaluate_first(self, points: list[dict[str, Any]]) -> None:
        """Suggest ``points`` (configs of the tuned params, valid values) before the Sobol
        design; their results are observed like any other trial's."""
        self.first_points = [dict(point) for point in points]

    def tell_history(self, history: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
        """Add earlier (config, metrics) pairs to the observations before the first
        suggestion; those without a finite objective are left out. Returns how many went in."""
        told = 0
        for config, metrics in history:
            loss = self.loss_of(metrics)
            if loss is None:
                continue
            point = [d.encode(config[d.param.name]) for d in self._dims]
            self.observations.append((point, -loss))
            told += 1
        if told and self._opt is not None:
            self._opt, self.fitted_at = None, -1  # rebuilt from every observation on next ask
        self.n_history += told
        return told

    # --- suggest / observe --------------------------------------------------------------------

    def _propose(self, trial_id: str) -> dict[str, Any]:
        if self.first_points:
            config = self.first_points.pop(0)
            self.pending_points[trial_id] = [d.encode(config[d.param.name]) for d in self._dims]
            return {d.param.name: config[d.param.name] for d in self._dims}
        point = None
        if len(self.observations) >= self.n_initial_points:
            try:
                point = self._ask_model()
                self.n_model += 1
            except Exception as e:  # noqa: BLE001 - a numerical failure must not stop the run
                if not self.n_fallback:
                    logger.warning("bo: Dragonfly could not suggest (%s: %s); using the next "
                                   "Sobol point instead", type(e).__name__, e)
                self.n_fallback += 1
                self._opt, self.fitted_at = None, -1  # rebuilt from the observations next time
        if point is None:
            point = self._sobol_point()
        self.pending_points[trial_id] = point
        return {d.param.name: d.decode(x) for d, x in zip(self._dims, point, strict=True)}

    def _sobol_point(self) -> list:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "not a power of 2": drawn one by one
            u = self._sobol.random(1)[0]
        self.n_sobol += 1
        return [d.from_unit(u[i]) for i, d in enumerate(self._dims)]

    def _ask_model(self) -> list:
        opt = self._optimiser()
        n = len(self.observations)
        seed = int(self.rng.integers(2**31 - 1))
        with _quiet_and_seeded(seed):
            if self.fitted_at < 0 or n - self.fitted_at >= self.refit_every:
                opt.gp_processor = None  # re-tune the GP hyperparameters at this ask
                self.fitted_at, self.fit_seed = n, seed
            # Dragonfly's ask/tell mode never advances its step counter; UCB's beta_t and
            # the acquisition budget depend on it.
            opt.step_idx = n
            opt._main_loop_pre()  # what CPGPBandit.ask does first: (re-)tune or reuse the GP
            with _believing(opt.gp, [self._caller.get_processed_domain_point_from_raw(x)
                                     for x in self.pending_points.values()]):
                qinfo = opt._determine_next_query()
            raw = self._caller.get_raw_domain_point_from_processed(qinfo.point)
        return [plain(x) for x in raw]

    def _observe(self, trial_id: str, config: dict[str, Any], loss: float | None,
                 error: bool) -> None:
        point = self.pending_points.pop(trial_id)
        if loss is None:
            return  # errored or no finite metric: the GP must not see it
        self.observations.append((point, -loss))
        if self._opt is not None:
            with _quiet_and_seeded(self.seed):
                self._opt.tell([(list(point), -loss)])


@contextlib.contextmanager
def _believing(gp: Any, in_flight: list) -> Iterator[None]:
    """The GP with the trials in flight added as observations of its own mean ("kriging
    believer"), so the next suggestion keeps away from them; put back exactly afterwards.

    Dragonfly's own answer (hallucinated observations) rebuilds an augmented Cholesky factor
    for every acquisition evaluation — seconds per suggestion in pure Python; this costs one
    posterior build per suggestion.
    """
    if not in_flight:
        yield
        return
    saved = {k: getattr(gp, k) for k in ("X", "Y", "num_tr_data", "K_trtr_wo_noise", "L",
                                         "alpha", "domain_lists_of_dists")}
    believed = list(gp.eval(in_flight, uncert_form="none")[0])
    gp.domain_lists_of_dists = [None] * len(saved["domain_lists_of_dists"])  # recompute all
    gp.set_data(list(saved["X"]) + list(in_flight), list(saved["Y"]) + believed,
                build_posterior=True)
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(gp, key, value)


def parse_acq(value: Any, path: str) -> str:
    """The user's ``acq`` (str or list; ModelArts names allowed) as Dragonfly's "a-b" string."""
    names = value if isinstance(value, list) else str(value).replace(",", "-").split("-")
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    unknown = [n for n in names if n not in ACQUISITIONS]
    if not names or unknown:
        raise ConfigError(
            path,
            f"unsupported acquisition {unknown or value!r}; Dragonfly's GP bandit on a mixed "
            f"domain supports {sorted(ACQUISITIONS)} (poi = pi), alone or joined by '-', "
            f"e.g. 'ucb' or '{DEFAULT_ACQ}'",
        )
    return "-".join(dict.fromkeys(ACQUISITIONS[n] for n in names))


def build(ctx: SearchContext, **options: Any) -> SearchPlan:
    for key, why in UNSUPPORTED.items():
        if key in options:
            raise ConfigError(f"{ctx.path}.{key}", f"not supported by the bo searcher: {why}")
    check_options(options, OPTIONS, ctx.path)
    n_params = len(ctx.space.params)
    acq = parse_acq(options["acq"], f"{ctx.path}.acq") if options.get("acq") is not None \
        else DEFAULT_ACQ
    initial = min(max(5, 2 * n_params), max(2, ctx.trials // 2))
    settings = {"n_initial_points": initial, **DEFAULTS}
    for key in settings:
        if options.get(key) is not None:
            if options[key] < MINIMUM[key]:
                raise ConfigError(f"{ctx.path}.{key}",
                                  f"must be >= {MINIMUM[key]}, got {options[key]}")
            settings[key] = options[key]
    if n_params == 0:
        raise ConfigError("space", "the bo searcher needs at least one tuned param; "
                                   "every param is fixed")
    searcher = DragonflySearcher(ctx.space, ctx.metric, ctx.mode, seed=ctx.seed, acq=acq,
                                 **settings)
    notes = [f"bo (Dragonfly GP bandit): acq={acq}, {settings['n_initial_points']} Sobol "
             f"points first, GP re-tuned every {settings['refit_every']} results"]
    if settings["n_initial_points"] >= ctx.trials:
        notes.append(f"bo: n_initial_points {settings['n_initial_points']} >= budget.trials "
                     f"{ctx.trials}: every trial comes from the Sobol design, none from the GP")
    return SearchPlan(
        search_alg=searcher,
        param_space=ctx.space.fixed_values(),
        num_samples=ctx.trials,
        notes=notes,
    )
