"""The study's band across repeats: the bootstrap interval of the mean on runs drawn from a
known distribution, which kind ``auto`` picks, and ``ci`` still read as the t interval."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from hpotk.errors import HpotkError
from hpotk.study import aggregate, bands, load_study
from tests.study.handmade import drawn_run

QUICKSTART = Path(__file__).resolve().parents[2] / "experiments" / "quickstart.yaml"

POINTS = 60
TRUE_MEAN = np.linspace(3.0, 1.0, POINTS)  # the curve's mean falls over time


def drawn_runs(repeats: int, seed: int = 0) -> list:
    """``repeats`` runs whose value at grid time j is an independent lognormal draw with mean
    TRUE_MEAN[j] (skewed, as a top-k MAE is)."""
    rng = np.random.default_rng(seed)
    sigma = 0.5
    draws = TRUE_MEAN * rng.lognormal(-sigma**2 / 2, sigma, size=(repeats, POINTS))
    return [drawn_run(row) for row in draws]


def test_the_bootstrap_band_covers_the_true_mean_at_most_grid_times():
    s = aggregate({"x": drawn_runs(20)}, report_metric="test", top_k=1, baseline="x",
                  band="bootstrap", grid_points=POINTS + 1)
    x = s.strategies["x"]
    assert s.band == "bootstrap"
    # grid time j + 1 shows draw j of every run
    low, high, center = x.low[1:], x.high[1:], x.center[1:]
    assert not np.isnan(low).any() and (low <= center).all() and (center <= high).all()
    covered = (low <= TRUE_MEAN) & (TRUE_MEAN <= high)
    assert covered.mean() >= 0.8, covered.mean()  # a 95% interval, so ~95% of 60 times
    # BCa on skewed values: not symmetric about the mean
    assert not np.allclose(center - low, high - center)


def test_the_bootstrap_band_is_the_mean_where_every_run_agrees():
    runs = [drawn_run([2.0, 2.0, 2.0 + k]) for k in range(20)]
    s = aggregate({"x": runs}, report_metric="test", top_k=1, baseline="x", band="bootstrap",
                  grid_points=4)
    x = s.strategies["x"]
    assert x.low[1] == x.high[1] == x.center[1] == 2.0  # BCa is undefined there; no NaN
    assert x.low[3] < x.center[3] < x.high[3]


def test_auto_picks_t_below_the_threshold_and_the_bootstrap_from_it():
    few = aggregate({"x": drawn_runs(bands.BOOTSTRAP_FROM - 1)}, report_metric="test",
                    top_k=1, baseline="x", grid_points=POINTS + 1)
    many = aggregate({"x": drawn_runs(bands.BOOTSTRAP_FROM)}, report_metric="test", top_k=1,
                     baseline="x", grid_points=POINTS + 1)
    assert (few.band, few.band_requested) == ("t", "auto")
    assert (many.band, many.band_requested) == ("bootstrap", "auto")
    assert "Student t" in few.band_text and "auto for 19 repeats" in few.band_text
    assert "bootstrap" in many.band_text and "auto for 20 repeats" in many.band_text
    # the strategy with the fewest repeats decides, so one band is named for the study
    mixed = aggregate({"x": drawn_runs(25), "y": drawn_runs(3, seed=1)}, report_metric="test",
                      top_k=1, baseline="x", grid_points=POINTS + 1)
    assert mixed.band == "t"


@pytest.mark.parametrize("name", ["ci", "t"])
def test_ci_is_still_the_student_t_interval(name):
    runs = drawn_runs(4)
    s = aggregate({"x": runs}, report_metric="test", top_k=1, baseline="x", band=name,
                  grid_points=POINTS + 1)
    x = s.strategies["x"]
    values = np.array([c.values[-1] for c in s.runs])
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) / math.sqrt(4)
    assert s.band == "t" and s.band_requested == name
    assert (x.low[-1], x.high[-1]) == pytest.approx((values.mean() - half, values.mean() + half))


def test_the_same_runs_give_the_same_bootstrap_band():
    runs = drawn_runs(20)
    a = aggregate({"x": runs}, report_metric="test", top_k=1, baseline="x", band="bootstrap")
    b = aggregate({"x": runs}, report_metric="test", top_k=1, baseline="x", band="bootstrap")
    np.testing.assert_array_equal(a.strategies["x"].low, b.strategies["x"].low)


def test_an_unknown_band_lists_the_choices():
    with pytest.raises(HpotkError, match="band: expected one of .*'auto'.*'bootstrap'"):
        aggregate({"x": drawn_runs(2)}, report_metric="test", top_k=1, baseline="x",
                  band="sd")


def test_study_files_default_to_auto_and_accept_every_band(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = tmp_path / "s.yaml"
    study.write_text(f"name: s\nexperiment: {QUICKSTART}\nstrategies: [fifo/random]\n"
                     f"budget: {{time_s: 10}}\n")
    assert load_study(study).spec.band == "auto"
    for name in ("ci", "t", "bootstrap", "iqr"):
        assert load_study(study, [f"band={name}"]).spec.band == name
    assert "Student t below 20 repeats" in load_study(study).text()
