"""The lr lineages PBT leaves, simulated without Ray, for testing the schedule fits on what a real
lineage has and noise on a smooth curve lacks: lrs on a grid of powers of the perturbation
factor, changing only at perturbations, lagging behind the optimum.

- `quantised`: the optimum as PBT can follow it at best: at each perturbation the lr moves to
  the grid point nearest the optimum of the interval just trained (now and then one grid step
  off), and holds until the next. Its errors are bounded, so tests can state tolerances.
- `population`: a small PBT run of `synthetic.ShiftingOptimum`'s problem (the loss falls each
  iteration by a Gaussian in log lr around that iteration's optimum) under Ray's PBT rules, with
  the final best trial's history as its lineage: what a real run gives, to size experiments.
"""

from __future__ import annotations

import math

import numpy as np

from hpotk import lr_schedule


def optimum(spec: dict, lr0: float, n: int) -> np.ndarray:
    """log of the best lr of iterations 1..n: the schedule itself."""
    return np.log([lr_schedule.lr_at(spec, i, lr0) for i in range(1, n + 1)])


def quantised(spec: dict, lr0: float, n: int = 40, seed: int = 0, interval: int = 2,
              factor: float = 1.2, slip: float = 0.1) -> list[float]:
    """The lr per iteration (1..n): ``lr0 * factor ** k`` for a whole k, chosen at iteration 1
    and after every ``interval`` iterations as the grid point nearest the geometric mean of the
    optimum over the interval just trained, one step off with probability ``slip``."""
    rng = np.random.default_rng(seed)
    best = optimum(spec, lr0, n)
    step = math.log(factor)
    out: list[float] = []
    for start in range(0, n, interval):
        seen = best[max(start - interval, 0):max(start, 1)]
        k = round((float(np.mean(seen)) - math.log(lr0)) / step)
        if rng.random() < slip:
            k += int(rng.choice([-1, 1]))
        out += [lr0 * factor ** k] * min(interval, n - start)
    return out


def population(spec: dict, lr0: float, n: int = 40, seed: int = 0, size: int = 16,
               interval: int = 2, factors: tuple[float, float] = (2.0, 0.5),
               quantile: float = 0.25, width: float = 0.4,
               space: tuple[float, float] | None = None) -> list[float]:
    """The lr per iteration (1..n) along the final best trial's lineage: the trials start
    log-uniform in ``space`` (default: the optimum's range, e times wider each side); every
    ``interval`` iterations the bottom ``quantile`` copies a top-quantile trial (its loss and
    history) and multiplies its lr by one of ``factors`` (Ray's exploit and explore);
    ``width`` is the sd, in log lr, of the Gaussian that makes the optimum pay."""
    rng = np.random.default_rng(seed)
    best = optimum(spec, lr0, n)
    low, high = np.log(space) if space else (best.min() - 1, best.max() + 1)
    log_lr = rng.uniform(low, high, size)
    loss = np.zeros(size)  # log of each trial's loss
    history: list[list[float]] = [[] for _ in range(size)]
    for i in range(n):
        for member in range(size):
            history[member].append(math.exp(log_lr[member]))
        loss -= 0.3 * np.exp(-(log_lr - best[i]) ** 2 / (2 * width ** 2))
        if (i + 1) % interval == 0 and i + 1 < n:
            order = np.argsort(loss)
            count = max(1, int(size * quantile))
            for loser, donor in zip(order[-count:], rng.choice(order[:count], count), strict=True):
                log_lr[loser] = log_lr[donor] + math.log(rng.choice(factors))
                loss[loser] = loss[donor]
                history[loser] = list(history[donor])
    return history[int(np.argmin(loss))]
