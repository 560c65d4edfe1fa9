"""The quickstart, tiny (3 trials x 2 iterations) on the session's Ray, then `hpotk report` on
its results directory, and the page in headless Chromium."""

from __future__ import annotations

import pytest

from tests.reporting.browser import check_page, open_chromium
from tests.reporting.test_browser import assert_page_ok
from tests.reporting.test_page import FIGURES, _check_pngs

pytestmark = pytest.mark.e2e


def test_quickstart_then_report(hpotk_cli, tmp_path):
    from hpotk.reporting import ReportFiles

    code, out, err = hpotk_cli(
        "run", _quickstart(), "--quiet",
        "--trials", "3", "--set", "budget.max_t=2", "--set", "strategy.scheduler.grace_period=1",
        "--set", f"results={tmp_path / 'results'}")
    assert code == 0, out + err
    run_dir = tmp_path / "results" / "quickstart"
    code, out, err = hpotk_cli("report", str(run_dir))
    assert code == 0, out + err
    index = run_dir / "report" / "index.html"
    assert f"[hpotk] report: {index}" in out
    pngs = [run_dir / "report" / f"{key}.png" for key in FIGURES]
    _check_pngs(ReportFiles(index, pngs))
    text = index.read_text()
    assert "quickstart" in text and "rung at 1" in text  # ASHA's rung at grace_period 1
    assert "hpotk run" in text and "retrain.yaml" in text
    reason = open_chromium()
    if reason:
        pytest.skip(f"report written and checked; the browser check skips: {reason}")
    check = check_page(index, tmp_path / "quickstart.png")
    assert_page_ok(check)
    assert "3 of 3" in check.text


def _quickstart() -> str:
    from tests.conftest import REPO

    return str(REPO / "experiments" / "quickstart.yaml")
