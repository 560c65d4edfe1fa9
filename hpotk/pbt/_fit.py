"""One fitted candidate schedule (`Fit`) and its BIC: the record that `hpotk.pbt.fits` (the
decays, and the choice among all) and `hpotk.pbt.fits_rising` (warm-up, one-cycle) both make.

Apart from both so that neither imports the other's half: `fits` imports `fits_rising`, one way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpotk.lr_schedule import describe, lr_at

RSS_FLOOR = 1e-10  # per point: a log-lr error below 1e-5 counts as exact (BIC of a perfect fit)


@dataclass
class Fit:
    """One candidate schedule fitted to lr(t).

    Attributes:
        name: one of `hpotk.pbt.fits.FIT_ORDER` (constant, multistep, ..., warmup-cosine,
            onecycle-linear).
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
