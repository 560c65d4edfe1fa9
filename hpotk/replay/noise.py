"""The noise half of a surrogate (`hpotk.replay.surrogate`): what a prediction is worth, and
the recorded luck a replayed config gets on top of it. `Surrogate` is built on `Noise`.

- **What a prediction is worth.** Where a model predicts highest it is most often wrong
  upwards (the optimiser's curse), and a searcher in replay maximises the model, so it finds
  those configs. Each metric's predictions go through an isotonic regression of the recorded
  values on the held-out predictions (`calibration`): a prediction is worth what held-out
  predictions like it were worth in the table.
- **Noise.** A model gives the mean curve; real repeats differ. Each recorded trial leaves
  held-out residuals (its recorded curve less the calibrated curve predicted without it, every
  metric, its time and set-up). A replayed config draws one of its `NEIGHBOURS` nearest
  recorded trials with the replay seed's generator, and takes that trial's objective residual
  curve: the noise has the table's spread, its shape along the curve (a residual curve, not
  independent noise per iteration) and its dependence on where in the space the config is.
  Within one replay each recorded trial's residual is drawn once (until all have been): a real
  trial's luck is its own, and a searcher proposing hundreds of configs where the model is
  best would otherwise fill its top-k with copies of the luckiest neighbour's. The other
  metrics take ``beta`` times the objective's residual plus the rest of their own residual
  from another neighbour (`Noise._residual`): luck in the objective carries over to the
  report metric as much as it does in the table. The same config in the same seed gets the
  same curve; another seed, another draw.
- **Whose prediction the noise is added to.** A drawn residual is the neighbour's distance
  from a model that did not see it, so a replayed config is predicted by the model fitted
  without the neighbour's cross-validation fold: near the neighbour that model's error
  cancels and the neighbour's own noise is what is left. (The model fitted on every trial is
  already pulled toward the neighbour's luck, and adding its residual as well counted that
  luck twice: on the quickstart, replays of random search put the top-5 test accuracy 0.8
  points above the real runs'.)
- **How much of it.** Far from its neighbour a residual still holds model error, so repeats
  would differ more than they do and a top-k chosen among many replayed draws would be
  luckier than a real one. On random halves of the table (`Noise._calibrate`), one factor
  on every metric's residuals (0.5 to 1) is chosen so that a top-5 by the objective among
  held-out predictions plus drawn noise is as good in the objective as the recorded top-5,
  and ``beta`` (0 to 1) so that it gets the report metric the recorded top-5 got;
  `hpotk replay check` prints both.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

from hpotk.replay.table import Table

#: recorded trials whose residuals a replayed config may draw (its nearest)
NEIGHBOURS = 5
#: the smallest factor on drawn residuals (`Noise._calibrate`)
FLOOR = 0.5


class Noise:
    """How a `hpotk.replay.surrogate.Surrogate` draws, scales and splits recorded residuals.

    Uses the surrogate's ``positions`` (the recorded configs, encoded), ``residuals``,
    ``folds``, ``metric``, ``metrics``, ``mode``, ``logs``, ``encoder``, ``report`` and
    ``_key``; sets ``noise_scale``, ``beta`` and ``unexplained``."""

    def _distance(self, x: Any, among: Any = None) -> Any:
        """Squared distances from ``x`` (an encoded config) to the recorded configs ``among``
        (indices; default all)."""
        positions = self.positions if among is None else self.positions[among]
        return ((positions - x) ** 2).sum(axis=1)

    @staticmethod
    def _nearest(distance: Any, excluded: Any = ()) -> Any:
        """The positions in ``distance`` of the `NEIGHBOURS` nearest, in `numpy.argpartition`
        order, leaving out the positions ``excluded``: the one nearest-k search of every draw
        of a residual."""
        import numpy as np

        if len(excluded):
            distance = distance.copy()
            distance[np.fromiter(excluded, dtype=int)] = np.inf
        k = min(NEIGHBOURS, len(distance) - len(excluded))
        return np.argpartition(distance, k - 1)[:k]

    def _draw(self, nearest: Any, seed: int, config: Mapping[str, Any], *stream: int) -> int:
        """One of ``nearest``, drawn with a generator of (seed, config, stream): the same config
        in the same seed draws the same trial."""
        import numpy as np

        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF,
                                     zlib.crc32(repr(self._key(config)).encode()), *stream])
        return int(nearest[rng.integers(len(nearest))])

    def _draws(self, x: Any, config: Mapping[str, Any], seed: int,
               used: set[int] | None = None) -> tuple[int, int]:
        """`_neighbour` and `_other` of one config, its distances computed once."""
        distance = self._distance(x)
        other = self._draw(self._nearest(distance), seed, config, 1)
        return self._neighbour(x, config, seed, used, distance=distance), other

    def _neighbour(self, x: Any, config: Mapping[str, Any], seed: int,
                   used: set[int] | None = None, *, distance: Any = None) -> int:
        """The recorded trial whose residuals this config takes in this seed: one of its
        `NEIGHBOURS` nearest, drawn with a generator of (seed, config).

        With ``used`` (a replay's set, updated), one of its nearest not drawn yet in this
        replay (all again once every one has been). A real trial's luck is its own: with
        residuals drawn again and again, a searcher that proposes hundreds of configs where
        the model is best filled its top-k with copies of the luckiest neighbour's residual
        (on the quickstart a tpe replay's top 5 were five copies of one recorded trial's)."""
        if used is not None and len(used) >= len(self.positions):
            used.clear()
        distance = self._distance(x) if distance is None else distance
        drawn = self._draw(self._nearest(distance, used or ()), seed, config)
        if used is not None:
            used.add(drawn)
        return drawn

    def _other(self, x: Any, config: Mapping[str, Any], seed: int) -> int:
        """The recorded trial whose residuals not explained by the objective's the other
        metrics take (`_residual`): one of the `NEIGHBOURS` nearest, drawn apart from the
        objective's neighbour (a generator of (seed, config) of its own)."""
        return self._draw(self._nearest(self._distance(x)), seed, config, 1)

    def _split_residuals(self, beta: float | None = None) -> None:
        """For each metric other than the objective: how much of the objective's residual it
        takes (``beta``; None: the least-squares slope of its residuals on the objective's
        over every recorded (trial, iteration)) and what is left of its own residuals
        (``unexplained``); see `_residual`. `_calibrate` chooses ``beta``."""
        R_o = self.residuals[self.metric]
        denominator = float((R_o ** 2).sum())
        for metric in self.metrics:
            if metric == self.metric:
                continue
            R = self.residuals[metric]
            b = beta if beta is not None else (
                float((R_o * R).sum()) / denominator if denominator > 0 else 0.0)
            self.beta[metric], self.unexplained[metric] = b, R - b * R_o
        self.report.beta = dict(self.beta)

    def _residual(self, metric: str, drawn: Any, other: Any) -> Any:
        """The residual curves a replay adds for ``metric`` (fitted scale, before the noise
        factor): the objective's neighbour's (``drawn``) for the objective; for another metric,
        ``beta`` times that plus the ``other`` neighbour's part of it that the objective's
        residual does not explain. A trial's luck in the objective carries over to the report
        metric as much as it does in the table, and no more: with the neighbour's whole
        residual in every metric, a searcher that proposes hundreds of configs where the model
        is best filled its top-k with copies of one neighbour, its report metric's luck
        included (the quickstart's asha/tpe replayed 0.7 points above its real runs)."""
        if metric == self.metric or metric not in self.beta:
            return self.residuals[metric][drawn]
        return (self.beta[metric] * self.residuals[self.metric][drawn]
                + self.unexplained[metric][other])

    def _held_out_draws(self, X: Any, seed: int) -> Any:
        """For each recorded trial, as if it were a config the table never ran: one of its
        `NEIGHBOURS` nearest among the other trials of its own fold (the model fitted
        without that fold saw neither), drawn with (seed, trial). Its held-out prediction plus
        that trial's residual is then what a replay would give it."""
        import numpy as np

        out = np.empty(len(X), dtype=int)
        for i, x in enumerate(X):
            same = np.flatnonzero(self.folds == self.folds[i])
            same = same[same != i]
            if not len(same):
                out[i] = i
                continue
            nearest = same[self._nearest(self._distance(x, among=same))]
            out[i] = int(nearest[np.random.default_rng([int(seed) & 0xFFFFFFFF, i])
                                 .integers(len(nearest))])
        return out

    def _calibrate(self, table: Table, curves: dict[str, tuple[Any, Any]], seed: int) -> None:
        """Choose the factor on every metric's drawn residuals (``noise_scale``, one for all,
        so that a drawn residual stays one trial's deviation in all metrics together) and how
        much of the objective's residual the report metric takes (``beta``), so that a
        replay's top-k is as lucky as a real one, and note the check's numbers.

        A held-out residual holds the model's error where the neighbour is as well as the
        neighbour's own noise; far from the neighbour that error does not cancel, and drawn
        whole it makes repeats differ more than they do, so that a top-k chosen among many
        draws is luckier than a real one (on the quickstart, replays put the top-5 test
        accuracy 0.4 to 0.8 points above real runs'). Over 40 random halves of the recorded
        trials, a top-5 by the objective (each trial at its best objective iteration, as a
        study ranks) among the recorded curves, and among the held-out predicted curves plus
        drawn noise (`_held_out_draws`, 5 seeds). The factor, of 1.0, 0.95, ..., 0.5, that
        brings the two top-5s' mean objective nearest wins (ties: the larger); then ``beta``,
        of 0, 0.1, ..., 1, that brings their mean report metric nearest (the first metric other
        than the objective; ties: the smaller). On the quickstart's table beta is 0.4: the
        least-squares slope of test on validation residuals is 0.73 over the whole table, but
        about 0.45 among the good configs, where a top-k is chosen. ``curves``: metric ->
        (recorded, held-out predicted), fitted scale. Also notes ``noise_ratio``: the spread
        of held-out predicted finals plus drawn noise over that of the recorded finals."""
        import numpy as np

        n, k = len(table.trials), 5
        X = np.array([self.encoder.encode(t.config) for t in table.trials])
        draws = [self._held_out_draws(X, seed + 7919 * (j + 1)) for j in range(5)]
        others_drawn = [self._held_out_draws(X, seed + 104729 * (j + 1)) for j in range(5)]
        others = [m for m in self.metrics if m != self.metric]
        report = others[0] if others else self.metric
        factor = 1.0
        if n >= 2 * k + 2:
            sign = -1.0 if self.mode == "max" else 1.0  # smaller signed objective is better
            rng = np.random.default_rng(seed)
            halves = [rng.permutation(n)[: n // 2] for _ in range(40)]

            def top_mean(objective: Any, metric: Any, rows: Any, name: str) -> float:
                o = sign * np.where(np.isfinite(objective[rows]), objective[rows], np.inf)
                at = np.argmin(o, axis=1)  # each trial's best objective iteration
                chosen = np.argsort(o[np.arange(len(rows)), at], kind="stable")[:k]
                return float(np.nanmean(untransform(metric[rows][chosen, at[chosen]],
                                                     self.logs[name])))

            o_rec, o_oof = curves[self.metric]
            m_rec, m_oof = curves[report]
            r_o = self.residuals[self.metric]
            # the factor: a replayed top-5 as lucky in the objective as a recorded one
            target = float(np.mean([top_mean(o_rec, o_rec, h, self.metric) for h in halves]))
            tried = {}
            for c in np.round(np.arange(1.0, FLOOR - 0.01, -0.05), 2):
                tried[float(c)] = float(np.nanmean([top_mean(o_oof + c * r_o[d], o_oof
                                                             + c * r_o[d], h, self.metric)
                                                    for d in draws for h in halves]))
            finite = {c: v for c, v in tried.items() if math.isfinite(v)}
            if finite and math.isfinite(target):
                factor = min(finite, key=lambda c: (abs(finite[c] - target), -c))
            # beta: that top-5 gets the report metric the recorded top-5 got
            recorded = float(np.mean([top_mean(o_rec, m_rec, h, report) for h in halves]))
            tried = {}
            for beta in (np.round(np.arange(0.0, 1.01, 0.1), 1) if report != self.metric
                         else [None]):
                if beta is not None:
                    self._split_residuals(float(beta))
                tried[beta] = float(np.nanmean([
                    top_mean(o_oof + factor * r_o[d],
                             m_oof + factor * self._residual(report, d, a), h, report)
                    for d, a in zip(draws, others_drawn, strict=True) for h in halves]))
            finite = {b: v for b, v in tried.items() if math.isfinite(v)}
            if finite and math.isfinite(recorded):
                best = min(finite, key=lambda b: (abs(finite[b] - recorded), b or 0.0))
                if best is not None:
                    self._split_residuals(float(best))
                self.report.selection[report] = (recorded, finite[best])
        for metric, (real, oof) in curves.items():
            self.noise_scale[metric] = factor
            real, oof = real[:, -1], oof[:, -1]
            sd = spread(real)
            ok = np.isfinite(oof)
            self.report.noise_ratio[metric] = (float(np.mean(
                [spread((oof + factor * self._residual(metric, d, a)[:, -1])[ok]) / sd
                 for d, a in zip(draws, others_drawn, strict=True)]))
                if sd > 0 and ok.sum() >= 4 else math.nan)


def calibration(predicted: Any, recorded: Any) -> Any:
    """The recorded value expected for a held-out prediction (fitted scale): an isotonic
    regression of the recorded values on the held-out predictions of every (trial, iteration).

    Where a model predicts highest it is most often wrong upwards (the optimiser's curse): on
    the quickstart's table the 10 configs with the highest held-out predicted validation
    accuracy were predicted 0.9666 and had recorded 0.9611, and the configs a tpe replay put
    first were predicted 0.9648 and got 0.9589 when run. A searcher in replay maximises the
    model, so it finds those configs; mapped through this regression, a prediction is worth
    what held-out predictions like it were worth in the table. Monotone: the model's ranking of
    configs is kept (ties aside)."""
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(out_of_bounds="clip").fit(predicted, recorded)


def spread(values: Any) -> float:
    """The interquartile range: the spread of the bulk of the configs, which a few diverged
    ones (at the fence) would dominate in a standard deviation."""
    import numpy as np

    q1, q3 = np.percentile(np.asarray(values, dtype=float), [25, 75])
    return float(q3 - q1)


#: how far inside [0, 1] a logit-scale metric is clipped (an accuracy of exactly 1.0)
_LOGIT_EDGE = 1e-4


def transform(Y: Any, log: bool | str) -> Any:
    """To the fitted scale: identity (``False``), log (``True``) or logit (``"logit"``, for a
    metric that stays in [0, 1], e.g. an accuracy: the model and the noise then stay there)."""
    import numpy as np

    Y = np.asarray(Y, dtype=float)
    if not log:
        return np.where(np.isfinite(Y), Y, np.nan)
    if log == "logit":
        p = np.clip(np.where(np.isfinite(Y), Y, np.nan), _LOGIT_EDGE, 1 - _LOGIT_EDGE)
        return np.log(p / (1 - p))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(Y) & (Y > 0), np.log(np.where(Y > 0, Y, 1.0)), np.nan)


def untransform(Z: Any, log: bool | str) -> Any:
    import numpy as np

    if log == "logit":
        return 1.0 / (1.0 + np.exp(-Z))
    return np.exp(Z) if log else Z
