"""How a study writes numbers in its tables and messages."""

from __future__ import annotations

import math
from typing import Any


def rounded(value: Any, digits: int = 3) -> Any:
    """``value`` rounded to ``digits``, or None for a missing or NaN value (an empty CSV cell)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, digits)


def sd_text(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.3g}"


def number_text(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.4g}"


def count_text(value: float) -> str:
    """A mean count: whole numbers as such, others with one decimal."""
    return "—" if math.isnan(value) else (f"{value:.0f}" if float(value).is_integer()
                                          else f"{value:.1f}")


def duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def ratio_text(value: float | None, bound: str = "=", missing: str = "—") -> str:
    """A speedup: "4×", "≥ 5.2×" (a lower bound), "≤ 0.2×" (an upper bound), ``missing``
    when unknown."""
    if value is None or math.isnan(value):
        return missing
    sign = {"=": "", ">=": "≥ ", "<=": "≤ ", "": ""}[bound]
    return f"{sign}{value:.2g}×" if value < 10 else f"{sign}{value:.0f}×"
