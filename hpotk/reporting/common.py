"""What every figure shares: status colours, the objective, and how a param is put on an axis.

Everything here is a pure function of a `hpotk.results.Results`; nothing reads files.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hpotk._plain import plain

# Trial statuses in legend order, with a label and a colour from the Okabe-Ito palette (readable
# by colour-blind readers). Unknown statuses are drawn grey.
STATUS_STYLE: dict[str, tuple[str, str]] = {
    "COMPLETED": ("completed", "#009E73"),
    "STOPPED": ("stopped by the scheduler", "#E69F00"),
    "EARLY_STOPPED": ("early-stopped", "#CC79A7"),
    "TIMEOUT": ("timeout", "#0072B2"),
    "ERROR": ("error", "#D55E00"),
    "RUNNING": ("running", "#56B4E9"),
    "UNFINISHED": ("unfinished", "#999999"),
}
OTHER_STYLE = ("other", "#777777")

#: the category of trials that did not have a (conditional) categorical param
MISSING = "(none)"

#: the colour map for objective values; reversed for "min" so that better is always brighter
OBJECTIVE_CMAP = "viridis"

#: above this many points (trials), the page draws a figure's points with WebGL (plotly's
#: Scattergl) instead of one SVG element each: at 10,000 trials SVG marks took the browser
#: seconds to draw and made panning and hovering lag (benchmarks/report_scale.py)
WEBGL_ABOVE = 1000


#: the most trials the page's line figures (learning curves, parallel coordinates) draw: beyond
#: it the page draws a sample (`page_sample`), the PNGs still every trial. 10,000 WebGL curves
#: or parcoords lines took a software-rendered Chromium 9 and 15 s to draw, and a saturated
#: bundle shows no more than 2,000 do
PAGE_LINES = 2000


def page_sample(trial_ids: list[str], scores: Any, mode: str,
                limit: int | None = None) -> set[str] | None:
    """The trials a page figure draws when there are more than ``limit`` of them: the best
    quarter of ``limit`` (default `PAGE_LINES`) by ``scores`` (each trial's best objective; NaN never counts as best),
    and a seeded random sample of the others (the same page each time); None to draw all."""
    import numpy as np

    limit = PAGE_LINES if limit is None else limit
    if len(trial_ids) <= limit:
        return None
    values = np.asarray(scores, dtype=float)
    order = np.argsort(np.where(np.isnan(values), np.inf, values if mode == "min" else -values),
                       kind="stable")
    n_best = limit // 4
    best, rest = order[:n_best], np.sort(order[n_best:])
    drawn = np.random.default_rng(0).choice(rest, size=limit - n_best, replace=False)
    return {str(trial_ids[i]) for i in np.concatenate([best, drawn])}


def sample_note(n_drawn: int, n_all: int, what: str) -> str:
    """The caption's sentence on a page figure that draws `page_sample` of its trials."""
    return (f" The page draws {n_drawn:,} of the {n_all:,} {what}: the {n_drawn // 4:,} best "
            f"trials and {n_drawn - n_drawn // 4:,} of the others at random (seeded); the PNG "
            f"draws them all.")


def scatter_trace(n_points: int) -> Any:
    """plotly's Scatter for up to `WEBGL_ABOVE` points, its WebGL twin Scattergl beyond."""
    import plotly.graph_objects as go

    return go.Scattergl if n_points > WEBGL_ABOVE else go.Scatter


def status_label(status: Any) -> str:
    """The legend label of a trial status."""
    return STATUS_STYLE.get(str(status), OTHER_STYLE)[0]


def status_colour(status: Any) -> str:
    """The colour of a trial status (grey for one not in `STATUS_STYLE`)."""
    return STATUS_STYLE.get(str(status), OTHER_STYLE)[1]


def statuses_in(res: Any) -> list[str]:
    """The statuses present in ``res.trials``, in legend order."""
    present = set(res.trials["status"].astype(str)) if "status" in res.trials else set()
    known = [s for s in STATUS_STYLE if s in present]
    return known + sorted(present - set(known))


def numeric(series: Any) -> Any:
    """``series`` as floats, NaN where a value is missing or not a number."""
    import pandas as pd

    return pd.to_numeric(series, errors="coerce").astype(float)


def objective(res: Any) -> Any:
    """Each trial's best objective value (the value `hpotk best` ranks by), NaN where none."""
    import pandas as pd

    key = f"best_{res.metric}"
    if key in res.trials:
        return numeric(res.trials[key])
    if res.metric in res.trials:
        return numeric(res.trials[res.metric])
    return pd.Series([math.nan] * len(res.trials), index=res.trials.index, dtype=float)


def final_objective(res: Any) -> Any:
    """Each trial's objective when it ended (its last report), NaN where none."""
    if res.metric in res.trials:
        return numeric(res.trials[res.metric])
    return objective(res) * math.nan


def better(res: Any) -> str:
    """"higher" or "lower": which way the objective improves."""
    return "lower" if res.mode == "min" else "higher"


def objective_label(res: Any) -> str:
    """The objective's axis label, saying which way is better."""
    return f"{res.metric} ({better(res)} is better)"


def running_best(values: Any, mode: str) -> Any:
    """The best value so far at each position, NaNs skipped (NaN until the first value)."""
    return values.cummin() if mode == "min" else values.cummax()


def running_note(res: Any) -> str:
    """" (still running)" for a running experiment's figure titles, else ""."""
    return " (still running)" if res.status == "running" else ""


def short_id(trial_id: Any) -> str:
    """A trial id without Ray's experiment prefix: ``da6df_00012`` -> ``00012``."""
    text = str(trial_id)
    head, sep, tail = text.rpartition("_")
    return tail if sep and tail.isdigit() and len(head) <= 8 else text


def format_seconds(seconds: float) -> str:
    """A duration for a caption: seconds, minutes or hours."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 180:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def time_unit(span_s: float) -> tuple[float, str]:
    """A divisor and a unit name for an axis spanning ``span_s`` seconds."""
    if not math.isfinite(span_s) or span_s < 180:
        return 1.0, "s"
    if span_s < 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def format_value(value: Any) -> str:
    """A param or metric value for a table cell or a tick label."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    converted = plain(value)  # numpy scalars and arrays
    if converted is not value:
        return format_value(converted)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# params on axes


@dataclass
class Axis:
    """One param (or the objective) as plotted.

    Attributes:
        name: the param's name (or the metric's).
        kind: "log" (values are log10 of the param), "linear" or "category" (values are the index
            of each trial's category in ``categories``).
        values: the plotted value of each trial (floats; NaN where the trial has none).
        categories: the category labels, in order (category axes only).
        raw: each trial's value as the trial had it (for hover text).
    """

    name: str
    kind: str
    values: Any
    categories: list[str] = field(default_factory=list)
    raw: list[Any] = field(default_factory=list)
    integer: bool = False

    @property
    def label(self) -> str:
        return f"{self.name} (log)" if self.kind == "log" else self.name

    def bounds(self) -> tuple[float, float]:
        """The axis range: all categories, or the finite values' range (padded if flat)."""
        if self.kind == "category":
            return -0.5, max(len(self.categories) - 0.5, 0.5)
        finite = self.values[self.values.notna()]
        if finite.empty:
            return 0.0, 1.0
        low, high = float(finite.min()), float(finite.max())
        if high - low < 1e-12:
            pad = abs(low) * 0.1 or 0.5
            return low - pad, high + pad
        return low, high

    def ticks(self, count: int = 5) -> tuple[list[float], list[str]]:
        """Tick positions (in plotted units) and their labels in the param's own units."""
        if self.kind == "category":
            return list(range(len(self.categories))), list(self.categories)
        low, high = self.bounds()
        if self.kind == "log":
            first, last = math.floor(low), math.ceil(high)
            if last - first >= 2:
                step = max(1, math.ceil((last - first) / count))
                spots = [float(e) for e in range(first, last + 1, step) if low - 1e-9 <= e
                         <= high + 1e-9]
                if len(spots) >= 2:
                    return spots, [format_value(10.0**e) for e in spots]
            spots = [low + (high - low) * i / (count - 1) for i in range(count)]
            return spots, [f"{10.0**e:.2g}" for e in spots]
        if self.integer and high - low <= 12:
            first, last = math.ceil(low), math.floor(high)
            step = max(1, math.ceil((last - first + 1) / 8))
            spots = [float(v) for v in range(first, last + 1, step)]
            return spots, [str(int(v)) for v in spots]
        spots = [low + (high - low) * i / (count - 1) for i in range(count)]
        return spots, [f"{v:.3g}" for v in spots]


def _is_bool_like(values: list[Any]) -> bool:
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return bool(present) and all(isinstance(v, bool) or str(v) in ("True", "False")
                                 for v in present)


def param_axis(res: Any, name: str, frame: Any = None) -> Axis:
    """Param ``name`` of each row of ``frame`` (default: ``res.trials``) as an axis.

    Log-scaled params (scale "log" / "lognormal", all values positive) get a log axis; choices,
    bools and non-numeric values a category axis, in the space's order of choices.
    """
    frame = res.trials if frame is None else frame
    column = frame[f"config/{name}"] if f"config/{name}" in frame else None
    raw = list(column) if column is not None else [None] * len(frame)
    spec = res.params.get(name) or {}
    values = numeric(column) if column is not None else numeric(frame.index.to_series()) * math.nan
    values.index = frame.index
    non_numeric = column is not None and bool(
        [v for v in raw if v is not None and not (isinstance(v, float) and math.isnan(v))]
    ) and values.isna().all()
    if spec.get("scale") == "choice" or spec.get("kind") in ("bool", "categorical") or \
            non_numeric or _is_bool_like(raw):
        labels = [format_value(v) if not _missing(v) else None for v in raw]
        order = [format_value(c) for c in (spec.get("choices") or [])]
        if not order and _is_bool_like(raw):
            order = ["False", "True"]
        seen = [lab for lab in dict.fromkeys(labels) if lab is not None and lab not in order]
        try:
            seen.sort(key=float)
        except ValueError:
            seen.sort()
        categories = order + seen
        if any(lab is None for lab in labels):  # a conditional param some trials did not have
            categories.append(MISSING)
            labels = [MISSING if lab is None else lab for lab in labels]
        index = {lab: i for i, lab in enumerate(categories)}
        import pandas as pd

        codes = pd.Series([float(index[lab]) if lab is not None else math.nan for lab in labels],
                          index=frame.index, dtype=float)
        return Axis(name, "category", codes, categories, raw)
    if spec.get("scale") in ("log", "lognormal") and (values.dropna() > 0).all() and \
            values.notna().any():
        import numpy as np

        return Axis(name, "log", np.log10(values.where(values > 0)), [], raw)
    finite = values.dropna()
    integer = spec.get("kind") == "int" or (not spec and len(finite) > 0 and bool(
        (finite == finite.round()).all()))
    return Axis(name, "linear", values, [], raw, integer)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def objective_axis(res: Any, values: Any) -> Axis:
    """The objective ``values`` as a linear axis (the last of parallel coordinates)."""
    return Axis(res.metric, "linear", values, [], list(values))
