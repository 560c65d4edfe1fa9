"""Several objectives and constraints: Pareto fronts, non-dominated sorting, crowding distance,
hypervolume and feasibility, on plain arrays (every caller hands it columns of numbers).

Conventions:

- ``values`` is an (n, k) array, one row per trial, one column per objective; ``modes`` the k
  directions ("min"/"max"). Internally every column is turned to "smaller is better"
  (`to_minimise`).
- A row with a NaN (a trial that never reported an objective) is dominated by everything and
  never on a front; it ranks after every finite row.
- Equal rows do not dominate each other: ties share a front.
- The hypervolume's reference point is stated by the caller or, by default, the worst finite
  value of each objective among the rows given (`reference_point`); rows no better than it
  in every objective add nothing.

The exact non-dominated test and hypervolume are moocore's (the reference implementations of
the multi-objective optimisation community, C with wheels); crowding distance is NSGA-II's
(Deb et al. 2002), as Syne Tune's MOASHA uses it to break ties.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hpotk.errors import HpotkError


def to_minimise(values: Any, modes: Sequence[str]) -> Any:
    """``values`` as floats with every "max" column negated (NaN stays NaN)."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(-1, len(modes)) if len(modes) else arr.reshape(len(arr), 0)
    if arr.shape[1] != len(modes):
        raise HpotkError(f"{arr.shape[1]} objective columns but {len(modes)} modes")
    for mode in modes:
        if mode not in ("min", "max"):
            raise HpotkError(f"objective mode {mode!r}: expected 'min' or 'max'")
    signs = np.array([-1.0 if m == "max" else 1.0 for m in modes])
    return arr * signs


def pareto_mask(values: Any, modes: Sequence[str]) -> Any:
    """True for the rows no other row dominates (NaN rows: False)."""
    import numpy as np

    x = to_minimise(values, modes)
    out = np.zeros(len(x), dtype=bool)
    finite = np.isfinite(x).all(axis=1)
    if finite.any():
        import moocore

        out[finite] = moocore.is_nondominated(x[finite], keep_weakly=True)
    return out


def nondominated_ranks(values: Any, modes: Sequence[str]) -> Any:
    """Each row's front, 0 for the Pareto front, 1 for the front once that is removed, ...;
    rows with a NaN get one more than the last finite front."""
    import numpy as np

    x = to_minimise(values, modes)
    ranks = np.zeros(len(x), dtype=int)
    finite = np.isfinite(x).all(axis=1)
    if finite.any():
        import moocore

        ranks[finite] = moocore.pareto_rank(x[finite])
    ranks[~finite] = (ranks[finite].max() + 1) if finite.any() else 0
    return ranks


def crowding_distance(values: Any, modes: Sequence[str]) -> Any:
    """NSGA-II's crowding distance of each row within the rows given (one front): the sum over
    objectives of the gap between its neighbours on that objective, over the objective's
    range; the extremes of each objective get infinity. Larger is more isolated (preferred)."""
    import numpy as np

    x = to_minimise(values, modes)
    n, k = x.shape
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for j in range(k):
        order = np.argsort(x[:, j], kind="stable")
        col = x[order, j]
        span = col[-1] - col[0]
        out[order[0]] = out[order[-1]] = math.inf
        if span > 0 and np.isfinite(span):
            out[order[1:-1]] += (col[2:] - col[:-2]) / span
    return out


def reference_point(values: Any, modes: Sequence[str]) -> Any:
    """The default reference point: each objective's worst finite value (in its own direction).
    HpotkError when an objective has no finite value."""
    import numpy as np

    x = to_minimise(values, modes)
    ref = []
    for j, mode in enumerate(modes):
        col = x[:, j][np.isfinite(x[:, j])]
        if not len(col):
            raise HpotkError(f"objective {j} ({mode}) has no finite value: no reference point")
        ref.append(float(col.max()))
    signs = np.array([-1.0 if m == "max" else 1.0 for m in modes])
    return np.array(ref) * signs


def hypervolume(values: Any, modes: Sequence[str], reference: Sequence[float]) -> float:
    """The hypervolume the rows dominate up to ``reference`` (given in the objectives' own
    units and directions); 0.0 when no finite row is better than it in every objective."""
    import numpy as np

    x = to_minimise(values, modes)
    ref = to_minimise(np.asarray(reference, dtype=float).reshape(1, -1), modes)[0]
    keep = np.isfinite(x).all(axis=1) & (x < ref).all(axis=1)
    if not keep.any():
        return 0.0
    import moocore

    return float(moocore.hypervolume(x[keep], ref=ref))


def hypervolume_contributions(values: Any, modes: Sequence[str],
                              reference: Sequence[float]) -> Any:
    """Each row's exclusive hypervolume contribution (0 for dominated and NaN rows)."""
    import numpy as np

    x = to_minimise(values, modes)
    ref = to_minimise(np.asarray(reference, dtype=float).reshape(1, -1), modes)[0]
    out = np.zeros(len(x))
    keep = np.isfinite(x).all(axis=1) & (x < ref).all(axis=1)
    if keep.any():
        import moocore

        out[keep] = moocore.hv_contributions(x[keep], ref=ref)
    return out


def violations(row: Mapping[str, Any], constraints: Sequence[Any]) -> list[str]:
    """The constraints ``row`` (a trial's metrics) breaks, as text ("peak_mem_mb <= 14000");
    a constrained metric the row lacks or that is NaN breaks nothing (unknown is not
    infeasible; `hpotk.results.mark_objectives` marks an out-of-memory error separately).
    A constraint is an `hpotk.experiment.Constraint` or its mapping (name, max and/or min)."""
    broken = []
    for c in constraints:
        name, low, high = bounds_of(c)
        value = row.get(name)
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if math.isnan(value):
            continue
        if (high is not None and value > high) or (low is not None and value < low):
            broken.append(constraint_text(c))
    return broken


def bounds_of(constraint: Any) -> tuple[str, float | None, float | None]:
    """(name, min, max) of a constraint object or mapping."""
    get = constraint.get if isinstance(constraint, Mapping) else (
        lambda key, default=None: getattr(constraint, key, default))
    low, high = get("min", None), get("max", None)
    return (str(get("name")), None if low is None else float(low),
            None if high is None else float(high))


def constraint_text(constraint: Any) -> str:
    """``"peak_mem_mb <= 14000"`` (and ``>=`` for a min bound)."""
    name, low, high = bounds_of(constraint)
    parts = ([f"{name} >= {low:g}"] if low is not None else []) + (
        [f"{name} <= {high:g}"] if high is not None else [])
    return " and ".join(parts)


def is_feasible(row: Mapping[str, Any], constraints: Sequence[Any]) -> bool:
    return not violations(row, constraints)
