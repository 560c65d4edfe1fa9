"""A learned surrogate of a recorded table: any config's learning curve and seconds, so that
searchers that propose new configs (tpe, bo, anneal, sobol) replay too.

Benchmarking libraries do this with a recorded table (Syne Tune's blackbox repository and its
surrogates, YAHPO Gym, HPOBench): learn a model of the table, then ask it. Here:

- **What is modelled.** Each chosen metric (the objective and the study's ``report_metric``)
  as a function of the config and the iteration, one model per metric over every (trial,
  iteration) row, on a logit scale when it stays within [0, 1] (an accuracy: predictions and
  noise stay there too), else on a log scale when the metric is positive (an MAE spans orders
  of magnitude between a good and a diverged config); an iteration that diverged (NaN, inf, or beyond
  Tukey's far-out fence of the table's values) counts as that fence (`_diverged_at_fence`). A trial's mean seconds per iteration and its set-up
  seconds as functions of the config (log scale).
- **Which model.** For each target, scikit-learn's random forest, histogram gradient boosting
  and k-nearest neighbours (and, for the per-trial time targets, a Gaussian process with a
  Matérn kernel; it is left out of the per-iteration models, whose thousands of rows make it
  slow) are cross-validated with folds that hold out whole trials (`GroupKFold`), and the one
  with the smallest held-out error is kept. Holding out whole trials asks what a replay asks:
  the curve of a config the table never ran.
- **Noise.** A model gives the mean curve; real repeats differ. How a replayed config gets
  a recorded trial's luck, and how much of it, is `hpotk.replay.noise` (`Noise`, which
  `Surrogate` is built on), with the calibration of predictions (`calibration`).

`Surrogate.fit` fits (`fit_surrogate` caches the fit on disk); `Surrogate.curves` answers
configs as `hpotk.replay.table.Recorded` trials, which the simulator replays like recorded
ones; `Surrogate.check` says how good it is (`hpotk replay check DIR`).
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpotk.errors import HpotkError
from hpotk.replay.noise import Noise, calibration, transform, untransform
from hpotk.replay.table import Recorded, Table, as_number, normal_value

#: bump when what a fit stores changes (old cached fits are then refitted)
VERSION = 12
_FOLDS = 5


def _candidates(seed: int, per_trial: bool) -> dict[str, Any]:
    """The models cross-validated for a target (fresh, unfitted)."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.neighbors import KNeighborsRegressor

    out: dict[str, Any] = {
        "random forest": RandomForestRegressor(n_estimators=60, min_samples_leaf=2,
                                               max_features=0.8, random_state=seed, n_jobs=1),
        "gradient boosting": HistGradientBoostingRegressor(max_iter=150, learning_rate=0.08,
                                                           random_state=seed),
        "k-NN": KNeighborsRegressor(n_neighbors=5, weights="distance"),
    }
    if per_trial:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0) * Matern(length_scale=0.5, nu=2.5) + WhiteKernel(0.1)
        out["Gaussian process"] = GaussianProcessRegressor(kernel=kernel, normalize_y=True,
                                                           random_state=seed)
    return out


@dataclass
class ModelChoice:
    """The model kept for one target and the held-out error of every candidate.

    Attributes:
        target: what it predicts (a metric, ``iter_s`` or ``setup_s``).
        log: whether it is fitted on the log of the target.
        chosen: the candidate with the smallest held-out RMSE.
        rmse: candidate -> held-out RMSE (on the fitted scale: log units when ``log``).
    """

    target: str
    log: bool | str  # False: as is; True: log; "logit"
    chosen: str
    rmse: dict[str, float]

    def text(self) -> str:
        scale = "logit " if self.log == "logit" else "log " if self.log else ""
        others = ", ".join(f"{k} {v:.3g}" for k, v in sorted(self.rmse.items(),
                                                               key=lambda kv: kv[1]))
        return f"{self.target}: {self.chosen} (held-out RMSE of {scale}{self.target}: {others})"


@dataclass
class SurrogateCheck:
    """How well the surrogate predicts trials it did not see (held-out folds of whole trials).

    Attributes:
        trials, max_t: the table's size.
        choices: target -> `ModelChoice`.
        metric_error: metric -> (median absolute relative error over every held-out (trial,
            iteration), the same at the last iteration).
        spearman: Spearman rank correlation of the held-out predicted and the recorded final
            objective (does the surrogate rank configs as the table does?), and its p-value.
        time_error: median absolute relative error of the held-out seconds per iteration, and
            of the set-up seconds.
        noise_ratio: metric -> the spread (interquartile range, fitted scale) of the recorded
            configs' held-out predicted finals with drawn noise, divided by that of the
            recorded finals: near 1 when the noise has the table's spread.
        noise_scale: metric -> the factor on its drawn residuals (`Surrogate._calibrate`).
        selection: report metric (the objective when there is no other) -> (recorded, replayed)
            mean of it over a
            top-5 by the objective, on random halves of the table (`_calibrate`).
    """

    table: str
    trials: int
    max_t: int
    choices: dict[str, ModelChoice]
    metric_error: dict[str, tuple[float, float]]
    spearman: tuple[float, float]
    time_error: tuple[float, float]
    noise_ratio: dict[str, float] = field(default_factory=dict)
    noise_scale: dict[str, float] = field(default_factory=dict)
    selection: dict[str, tuple[float, float]] = field(default_factory=dict)
    beta: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        lines = [f"surrogate of {self.table}: {self.trials} recorded trials to max_t "
                 f"{self.max_t}; errors on held-out trials ({_FOLDS}-fold, whole trials held out)"]
        for choice in self.choices.values():
            lines.append(f"  model {choice.text()}")
        for metric, (every, last) in self.metric_error.items():
            lines.append(f"  {metric}: median relative error {every:.1%} over every iteration, "
                         f"{last:.1%} at the last")
        rho, p = self.spearman
        lines.append(f"  final objective: Spearman rank correlation of predicted and recorded "
                     f"{rho:.2f} (p = {p:.2g})")
        lines.append(f"  seconds per iteration: median relative error {self.time_error[0]:.1%}; "
                     f"set-up seconds: {self.time_error[1]:.1%}")
        if self.noise_ratio:
            lines.append("  noise: spread (IQR) of held-out predicted finals + drawn noise / recorded finals: " + ", ".join(
                f"{k} {v:.2f}" for k, v in self.noise_ratio.items()) + " (residuals drawn x "
                + ", ".join(f"{v:.2f}" for v in self.noise_scale.values()) + ")")
        for metric, beta in self.beta.items():
            lines.append(f"  {metric}: residual = {beta:.2f} x the objective's residual + the "
                         f"rest of another neighbour's")
        for metric, (recorded, replayed) in self.selection.items():
            lines.append(f"  selection: a top-5 by the objective among half the table gets "
                         f"{metric} {recorded:.4g} recorded, {replayed:.4g} predicted held out "
                         f"+ noise")
        return "\n".join(lines)


class Surrogate(Noise):
    """Fitted models of a table's curves and times, with the residuals that make its noise.

    Build with `Surrogate.fit` (or `fit_surrogate`, cached); ask with `curves`.
    """

    def __init__(self, table: Table, metrics: list[str], encoder: _Encoder,
                 models: dict[str, Any], logs: dict[str, bool], residuals: dict[str, Any],
                 profiles: Any, positions: Any, check: SurrogateCheck, fixed: dict[str, Any]):
        self.table_path = str(table.path)
        self.metric, self.mode, self.max_t = table.metric, table.mode, table.max_t
        self.params = list(table.params)
        self.metrics, self.encoder, self.models, self.logs = metrics, encoder, models, logs
        self.residuals, self.profiles, self.positions = residuals, profiles, positions
        self.report, self.fixed = check, fixed
        self.noise_scale: dict[str, float] = {}  # metric -> factor on its residuals (_calibrate)
        # metric -> slope of its residuals on the objective's, and what is left (_fit)
        self.beta: dict[str, float] = {}
        self.unexplained: dict[str, Any] = {}
        self.folds: Any = None  # recorded trial -> its cross-validation fold
        # metric -> held-out prediction -> the recorded value expected for it (`hpotk.replay.noise.calibration`)
        self.calibrations: dict[str, Any] = {}

    # --- fitting ----------------------------------------------------------------------------

    @classmethod
    def fit(cls, table: Table, metrics: Sequence[str] = (), *, seed: int = 0) -> Surrogate:
        """Fit the surrogate of ``table`` for the objective and ``metrics``.

        HpotkError if the table is too small (fewer than 10 trials) or a metric is missing.
        """
        wanted = [table.metric] + [m for m in metrics if m and m != table.metric]
        n = len(table.trials)
        if n < 10:
            raise HpotkError(f"{table.path}: a surrogate needs at least 10 recorded trials to "
                             f"learn from, the table has {n}; record more (budget.trials)")
        for metric in wanted:
            missing = [t.trial_id for t in table.trials
                       if any(metric not in r for r in t.results)]
            if missing:
                raise HpotkError(f"{table.path}: metric {metric!r} is missing from "
                                 f"{len(missing)} recorded trials (e.g. {missing[0]}); the "
                                 f"surrogate models the metrics every trial reported")
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # OpenMP threads cost 15x on small fits, more under load
            return cls._fit(table, wanted, seed)

    @classmethod
    def _fit(cls, table: Table, wanted: list[str], seed: int) -> Surrogate:
        import numpy as np

        n, T = len(table.trials), table.max_t
        encoder = _Encoder.of(table)
        X = np.array([encoder.encode(t.config) for t in table.trials])
        groups = np.repeat(np.arange(n), T)
        rows = _with_iteration(X, T)
        folds = _folds(n, seed)
        models, logs, residuals, choices, calibrations = {}, {}, {}, {}, {}
        held_out, curves = {}, {}
        for metric in wanted:
            Y = np.array([[float(r[metric]) for r in t.results] for t in table.trials])
            finite = Y[np.isfinite(Y)]
            if not len(finite):
                raise HpotkError(f"{table.path}: metric {metric!r} is never finite in the table")
            # a metric within [0, 1] (an accuracy) on a logit scale, a positive one (an MAE) on
            # a log scale, others as they are
            log: bool | str = ("logit" if np.all((finite >= 0) & (finite <= 1))
                               else bool(np.all(finite > 0)))
            Z = _diverged_at_fence(transform(Y, log), table.mode)
            z, keep = Z.ravel(), np.isfinite(Z.ravel())
            choice, model, oof = _choose(metric, log, rows[keep], z[keep], groups[keep], folds,
                                         seed, per_trial=False)
            full = np.full(n * T, np.nan)
            full[keep] = oof
            if metric == table.metric:  # the model's own ranking, for the check's Spearman
                ranking = full.reshape(n, T)[:, -1].copy()
            # what a held-out prediction is worth: the recorded value expected for it
            calibrations[metric] = calibration(full[keep], z[keep])
            full[keep] = calibrations[metric].predict(full[keep])
            R = (Z.ravel() - full).reshape(n, T)
            residuals[metric] = np.where(np.isfinite(R), R, 0.0)
            models[metric], logs[metric], choices[metric] = model, log, choice
            held_out[metric] = (Y, untransform(full.reshape(n, T), log))
            curves[metric] = (Z, full.reshape(n, T))
        seconds = np.array([t.iter_s for t in table.trials], dtype=float)
        mean_s = np.maximum(seconds.mean(axis=1), 1e-6)
        profiles = seconds / mean_s[:, None]
        setup = np.array([max(t.setup_s, 1e-3) for t in table.trials])
        trial_groups = np.arange(n)
        for target, values in (("iter_s", mean_s), ("setup_s", setup)):
            z = np.log(values)
            choice, model, oof = _choose(target, True, X, z, trial_groups, folds, seed,
                                         per_trial=True)
            residuals[target] = z - oof
            models[target], logs[target], choices[target] = model, True, choice
            held_out[target] = (values, np.exp(oof))
        check = _check(table, wanted, held_out, choices, ranking)
        fixed = {k: v for k, v in table.trials[0].config.items() if k not in table.params}
        surrogate = cls(table, wanted, encoder, models, logs, residuals, profiles, X, check,
                        fixed)
        surrogate.folds = folds
        surrogate.calibrations = calibrations
        surrogate._split_residuals()
        surrogate._calibrate(table, curves, seed)
        check.noise_scale = dict(surrogate.noise_scale)
        return surrogate

    # --- asking -------------------------------------------------------------------------------

    def curves(self, configs: Sequence[Mapping[str, Any]], seed: int,
               used: set[int] | None = None) -> list[Recorded]:
        """The learning curves and seconds of ``configs`` with ``seed``'s noise, as recorded
        trials (``trial_id`` ``surrogate-<hash>``, the config with the table's fixed values).

        ``used``: the recorded trials whose residuals this replay has drawn (updated): each is
        drawn once until every one has been (`_neighbour`). A replay passes its own set."""
        from threadpoolctl import threadpool_limits

        if not configs:
            return []
        with threadpool_limits(1):
            return self._curves(configs, seed, used)

    def _curves(self, configs: Sequence[Mapping[str, Any]], seed: int,
                used: set[int] | None = None) -> list[Recorded]:
        import numpy as np

        T = self.max_t
        X = np.array([self.encoder.encode(c) for c in configs])
        # each config's drawn neighbour (`_neighbour`) and, for the other metrics, another of
        # its nearest (`_other`): see `hpotk.replay.noise`
        pairs = [self._draws(x, c, seed, used) for x, c in zip(X, configs, strict=True)]
        draws = np.array([d for d, _ in pairs], dtype=int)
        other = np.array([o for _, o in pairs], dtype=int)
        rows = _with_iteration(X, T)
        # each config is predicted by the model fitted without its drawn neighbour's fold: the
        # neighbour's residual is its distance from such a model, and a model that saw the
        # neighbour is already pulled toward its luck (counting it twice made replays optimistic)
        fold = self.folds[draws]
        predicted = {}
        for metric in self.metrics:
            Z = self.calibrations[metric].predict(self.models[metric].predict_without(
                rows, np.repeat(fold, T))).reshape(len(X), T)
            R = self._residual(metric, draws, other)
            predicted[metric] = untransform(Z + self.noise_scale.get(metric, 1.0) * R,
                                            self.logs[metric])
        mean_s = np.exp(self.models["iter_s"].predict_without(X, fold)
                        + self.residuals["iter_s"][draws])
        setup = np.exp(self.models["setup_s"].predict_without(X, fold)
                       + self.residuals["setup_s"][draws])
        out = []
        for k, config in enumerate(configs):
            full = {**self.fixed, **dict(config)}
            results = [{m: float(predicted[m][k, i]) for m in self.metrics} for i in range(T)]
            iter_s = [float(s) for s in mean_s[k] * self.profiles[draws[k]]]
            out.append(Recorded(f"surrogate-{_digest(self._key(full))}", full, results, iter_s,
                                float(setup[k])))
        return out

    def curve(self, config: Mapping[str, Any], seed: int,
              used: set[int] | None = None) -> Recorded:
        """`curves` of one config."""
        return self.curves([config], seed, used)[0]

    def check(self) -> SurrogateCheck:
        """Its held-out errors (computed when it was fitted)."""
        return self.report

    def _key(self, config: Mapping[str, Any]) -> tuple:
        return tuple(normal_value(config.get(name)) for name in self.params)


def fit_surrogate(table: Table, metrics: Sequence[str] = (), *, seed: int = 0,
                  cache: bool = True, log: Any = None) -> Surrogate:
    """`Surrogate.fit`, cached on disk (under `hpotk.data.cache.data_dir`, keyed by the table's
    content, the metrics, the seed and `VERSION`): a study replays on the same fit every time."""
    from hpotk.data.cache import data_dir

    wanted = [table.metric] + [m for m in metrics if m and m != table.metric]
    key = _table_digest(table, wanted, seed)
    path = data_dir() / "surrogates" / f"{key}.pkl"
    if cache and path.is_file():
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except Exception:  # noqa: BLE001 - a stale or torn cache file: refit
            pass
    surrogate = Surrogate.fit(table, wanted, seed=seed)
    if cache:
        from hpotk import layout

        path.parent.mkdir(parents=True, exist_ok=True)
        layout.atomic_write(path, pickle.dumps(surrogate))
    if log is not None:
        log(surrogate.report.text())
    return surrogate


# --- helpers ------------------------------------------------------------------------------------

@dataclass
class _Encoder:
    """Configs as points in [0, 1]^d: numbers by position in their range (log ranges on a log
    scale), numeric choices by value, other choices by their position in the list."""

    names: list[str]
    specs: list[dict[str, Any]]

    @classmethod
    def of(cls, table: Table) -> _Encoder:
        params = table.meta.get("params") or {}
        specs = []
        for name in table.params:
            p = dict(params.get(name) or {})
            if not p.get("choices") and (p.get("low") is None or p.get("high") is None):
                values = [as_number(t.config.get(name)) for t in table.trials]
                values = [v for v in values if v is not None]
                if not values:
                    raise HpotkError(f"{table.path}: param {name!r} has no recorded range or "
                                     f"numeric values; the surrogate cannot place its configs")
                p.update(low=min(values), high=max(values))
            specs.append(p)
        return cls(list(table.params), specs)

    def encode(self, config: Mapping[str, Any]) -> list[float]:
        return [_position(p, config.get(name)) for name, p in zip(self.names, self.specs,
                                                                   strict=True)]


def _position(p: Mapping[str, Any], value: Any) -> float:
    choices = p.get("choices")
    if choices:
        numbers = [as_number(c) for c in choices]
        if all(n is not None for n in numbers) and as_number(value) is not None:
            low, high = min(numbers), max(numbers)
            return (as_number(value) - low) / (high - low) if high > low else 0.5
        keys = [normal_value(c) for c in choices]
        v = normal_value(value)
        return keys.index(v) / max(len(keys) - 1, 1) if v in keys else 0.5
    low, high, x = as_number(p.get("low")), as_number(p.get("high")), as_number(value)
    if x is None:
        return 0.5
    if low is None or high is None or high <= low:
        return x
    if p.get("scale") == "log" and low > 0 and x > 0:
        return (math.log(x) - math.log(low)) / (math.log(high) - math.log(low))
    return (x - low) / (high - low)


def _diverged_at_fence(Z: Any, mode: str) -> Any:
    """Values (fitted scale) with the diverged ones set to Tukey's far-out fence of the table's
    values: NaN and inf, and anything beyond ``Q3 + 3 IQR`` (``Q1 - 3 IQR`` for a "max"
    objective). A diverged CGCNN reports NaN or millions of eV; what a scheduler needs of it is
    that it is the worst, and a fit on the raw values would spend itself on their size."""
    import numpy as np

    finite = Z[np.isfinite(Z)]
    q1, q3 = np.percentile(finite, [25, 75])
    if mode == "min":
        fence = q3 + 3 * (q3 - q1)
        return np.where(np.isfinite(Z), np.minimum(Z, fence), fence)
    fence = q1 - 3 * (q3 - q1)
    return np.where(np.isfinite(Z), np.maximum(Z, fence), fence)


def _with_iteration(X: Any, T: int) -> Any:
    """Rows (config, iteration 1..T) with the iteration as log(i)/log(T) in the last column."""
    import numpy as np

    its = np.log(np.arange(1, T + 1)) / (math.log(T) if T > 1 else 1.0)
    return np.hstack([np.repeat(X, T, axis=0), np.tile(its, len(X))[:, None]])


def _folds(n: int, seed: int) -> Any:
    """Trial -> fold (shuffled with ``seed``, as equal as possible)."""
    import numpy as np

    k = min(_FOLDS, n)
    return np.random.default_rng(seed).permutation(np.arange(n) % k)


def _choose(target: str, log: bool, X: Any, y: Any, groups: Any, folds: Any, seed: int, *,
            per_trial: bool) -> tuple[ModelChoice, Any, Any]:
    """Cross-validate the candidates (folds of whole trials), keep the best, refit it on all
    rows; return the choice, the fitted model and its held-out predictions."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # a GP's kernel bounds on a noiseless target: harmless
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _cross_validate(target, log, X, y, groups, folds, seed, per_trial=per_trial)


def _cross_validate(target: str, log: bool, X: Any, y: Any, groups: Any, folds: Any, seed: int,
                    *, per_trial: bool) -> tuple[ModelChoice, Any, Any]:
    import numpy as np
    from sklearn.base import clone

    fold_of_row = folds[groups]
    scores, oofs, fold_models = {}, {}, {}
    for name, model in _candidates(seed, per_trial).items():
        oof = np.full(len(y), np.nan)
        fold_models[name] = {}
        for fold in np.unique(fold_of_row):
            test = fold_of_row == fold
            if test.all():
                continue
            fitted = clone(model)
            if name == "k-NN":
                fitted.set_params(n_neighbors=min(fitted.n_neighbors, int((~test).sum())))
            fitted.fit(X[~test], y[~test])
            oof[test] = fitted.predict(X[test])
            fold_models[name][int(fold)] = fitted
        scores[name] = float(np.sqrt(np.nanmean((oof - y) ** 2)))
        oofs[name] = oof
    chosen = min(scores, key=lambda k: scores[k])
    model = clone(_candidates(seed, per_trial)[chosen])
    model.fit(X, y)
    return (ModelChoice(target, log, chosen, scores), _Folded(model, fold_models[chosen]),
            oofs[chosen])


class _Folded:
    """A chosen model fitted on every row (``full``) and on each cross-validation fold's
    training rows (``folds``: fold -> model, fitted without that fold's trials)."""

    def __init__(self, full: Any, folds: dict[int, Any]):
        self.full, self.folds = full, folds

    def predict(self, X: Any) -> Any:
        return self.full.predict(X)

    def predict_without(self, X: Any, fold_of_row: Any) -> Any:
        """Each row predicted by the model fitted without the trials of its fold."""
        import numpy as np

        out = np.empty(len(X))
        for fold in np.unique(fold_of_row):
            rows = fold_of_row == fold
            out[rows] = self.folds.get(int(fold), self.full).predict(X[rows])
        return out


def _check(table: Table, metrics: list[str], held_out: dict[str, Any],
           choices: dict[str, ModelChoice], ranking: Any) -> SurrogateCheck:
    """The check's numbers from the held-out predictions (``held_out``: metric -> (recorded,
    predicted), calibrated) and, for the Spearman correlation, the model's own held-out
    final objective (``ranking``: the isotonic calibration may tie the best configs)."""
    import numpy as np
    from scipy import stats

    def relative(actual: Any, predicted: Any) -> float:
        a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
        ok = np.isfinite(a) & np.isfinite(p) & (a != 0)
        return float(np.median(np.abs(p[ok] - a[ok]) / np.abs(a[ok]))) if ok.any() else math.nan

    errors = {}
    for metric in metrics:
        Y, P = held_out[metric]
        errors[metric] = (relative(Y, P), relative(Y[:, -1], P[:, -1]))
    Y = held_out[table.metric][0][:, -1]
    ok = np.isfinite(Y) & np.isfinite(ranking)
    rho = (stats.spearmanr(Y[ok], ranking[ok]) if ok.sum() > 2 and np.ptp(ranking[ok]) > 0
           else None)
    spearman = (float(rho.statistic), float(rho.pvalue)) if rho is not None else (math.nan,
                                                                                 math.nan)
    return SurrogateCheck(str(table.path), len(table.trials), table.max_t, choices, errors,
                          spearman, (relative(*held_out["iter_s"]),
                                     relative(*held_out["setup_s"])))


def _digest(value: Any) -> str:
    return hashlib.sha1(repr(value).encode()).hexdigest()[:12]


def _table_digest(table: Table, metrics: list[str], seed: int) -> str:
    h = hashlib.sha1()
    h.update(json.dumps([VERSION, metrics, seed, table.metric, table.mode, table.max_t,
                         table.params, table.meta.get("params")], sort_keys=True,
                        default=str).encode())
    for t in table.trials:
        h.update(json.dumps([t.config, [{m: r.get(m) for m in metrics} for r in t.results],
                             t.iter_s, t.setup_s], sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]

