"""The report page in a real browser: Debian's headless Chromium driven by Playwright, with the
network cut off. No console errors, every figure drawn and not empty, and a screenshot."""

from __future__ import annotations

import pytest

from hpotk.reporting import page, write_report
from tests.reporting.browser import chromium_path, open_chromium
from tests.reporting.make import make
from tests.reporting.test_page import FIGURES, _study_dir


@pytest.fixture(scope="module")
def chromium():
    reason = open_chromium()
    if reason:
        pytest.skip(reason)
    return chromium_path()


def assert_page_ok(check, figures=FIGURES) -> None:
    assert check.console_errors == [] and check.page_errors == []
    assert check.requests_outside == []  # nothing fetched from the network
    assert sorted(check.figures) == sorted(figures)
    for key, fig in check.figures.items():
        assert fig["plotly"], key
        assert fig["width"] > 400 and fig["height"] > 150, (key, fig)
        assert fig["svg"] >= 1 and fig["traces"] >= 1 and fig["marks"] >= 1, (key, fig)


def test_hand_made_page_renders(chromium, tmp_path):
    res = make(40, errors=2, nan=2, running=3, path=tmp_path)
    files = page.write(res, tmp_path / "report")
    shot = tmp_path / "screenshot.png"
    from tests.reporting.browser import check_page

    check = check_page(files.index, shot)
    assert_page_ok(check)
    assert "Still running" in check.text
    assert check.figures["parallel"]["canvas"] >= 1  # parcoords draws its lines on WebGL
    assert check.figures["scatter3d"]["canvas"] >= 1
    assert shot.stat().st_size > 50_000


def test_study_page_images_load(chromium, tmp_path):
    from tests.reporting.browser import check_page

    files = write_report(_study_dir(tmp_path))
    check = check_page(files.index, tmp_path / "study.png")
    assert check.console_errors == [] and check.page_errors == []
    assert check.images and all(i["naturalWidth"] > 0 for i in check.images), check.images
    run_page = files.index.parent / "../asha-random/seed0/report/index.html"
    assert_page_ok(check_page(run_page.resolve()))


def test_parallel_axes_brush_and_3d_rotates(chromium, tmp_path):
    from tests.reporting.browser import brush_and_rotate

    files = page.write(make(30, path=tmp_path), tmp_path / "report")
    done = brush_and_rotate(files.index, axis=0)
    lr = done["brushed"][0]
    assert lr is not None and lr[0] < lr[1], done  # the lr axis now filters a range
    assert all(r is None for r in done["brushed"][1:])
    assert done["camera_after"] != done["camera_before"]  # the 3-D scatter rotated
