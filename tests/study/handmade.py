"""Hand-made runs whose curves and times-to-target are known in advance, for the band, speedup
and figure tests (built on `tests.study.test_aggregate.make_run`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpotk.results import Results
from tests.study.test_aggregate import make_run


def drawn_run(values: Sequence[float], *, time_s: float | None = None) -> Results:
    """A run whose top-1 curve is ``values[j]`` from t = j + 1 to the next report: one trial
    whose objective improves at every report, so each report is its best so far."""
    points = [(float(j + 1), -float(j + 1), float(v)) for j, v in enumerate(values)]
    return make_run({"a": points}, time_s=time_s or float(len(values)))


def reaching_run(tts: float | None, *, time_s: float = 100.0) -> Results:
    """A run whose top-1 curve is 5 from t = 0.5 and 1 from ``tts`` on (never, for None): with
    a target of 2 its time-to-target is ``tts``."""
    trials = {"slow": [(0.5, 0.9, 5.0)]}
    if tts is not None:
        trials["good"] = [(float(tts), 0.1, 1.0)]
    return make_run(trials, time_s=time_s)


def mae_run(rng: np.random.Generator, rate: float, *, time_s: float = 180.0,
            spread: float = 0.8) -> Results:
    """A run like a tuning run of an MAE: trials report one value each, at random times
    (``rate`` a second), the values skewed; the top-k mean falls as trials accumulate."""
    trials, t, i = {}, 0.0, 0
    while True:
        t += rng.exponential(1.0 / rate)
        if t > time_s:
            return make_run(trials, time_s=time_s)
        value = 0.015 + rng.lognormal(np.log(0.05), spread)
        trials[f"t{i}"] = [(t, value, value)]
        i += 1


def mae_study(repeats: int, *, seed: int = 0, spread: float = 0.8) -> dict[str, list[Results]]:
    """Four strategies finishing trials at different rates, ``repeats`` runs each."""
    rng = np.random.default_rng(seed)
    rates = {"fifo/random": 0.12, "asha/random": 0.4, "ahb/random": 0.3, "asha/bo": 0.5}
    return {label: [mae_run(rng, rate, spread=spread) for _ in range(repeats)]
            for label, rate in rates.items()}
