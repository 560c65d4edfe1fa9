"""The time-to-solution figure at 2 and at 20 repeats: it is written, names its band, draws the
runs thin when few and faintly when many, keeps its value range to the center curves, and
turns logarithmic for positive values spread over more than a few times."""

from __future__ import annotations

import numpy as np
import pytest

from hpotk.reporting import time_to_solution
from hpotk.study import aggregate
from tests.study.handmade import mae_study

PNG = b"\x89PNG\r\n\x1a\n"


def summary_of(repeats: int, **kwargs):
    s = aggregate(mae_study(repeats, **kwargs), report_metric="test", top_k=6,
                  baseline="fifo/random")
    s.name = f"synthetic-{repeats}"
    return s


@pytest.mark.parametrize("repeats, band, style", [(2, "Student t", "thin"),
                                                  (20, "bootstrap", "faint")])
def test_the_figure_is_written_and_names_its_band(tmp_path, repeats, band, style):
    s = summary_of(repeats)
    d = time_to_solution.data(s)
    assert band in d.subtitle and f"auto: {repeats} runs" in d.subtitle
    assert d.run_style == style
    assert all(len(line.runs) == repeats for line in d.strategies)
    assert "speedup" in d.strategies[1].legend and "[" in d.strategies[1].legend
    path = time_to_solution.write_png(s, tmp_path / "tts.png", note="synthetic")
    assert path.read_bytes()[:8] == PNG


def test_the_value_range_follows_the_centers_not_the_bands():
    s = summary_of(2)
    d = time_to_solution.data(s)
    centers = np.concatenate([line.center for line in d.strategies])
    centers = centers[np.isfinite(centers)]
    lows = np.concatenate([line.low for line in d.strategies])
    lo, hi = d.ylim
    assert lo <= centers.min() and centers.max() <= hi
    assert np.nanmin(lows) < lo  # two repeats' t band is wider: cut at the axis


def test_values_spread_over_a_factor_of_several_get_a_log_axis():
    wide = time_to_solution.data(summary_of(20, spread=2.5))
    narrow = time_to_solution.data(summary_of(20, spread=0.3))
    assert wide.log_y and "log scale" in wide.ylabel
    assert not narrow.log_y
