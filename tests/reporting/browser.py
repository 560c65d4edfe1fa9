"""Open a report page in headless Chromium (Debian's `chromium`, driven by Playwright) and say
what a reader would see: console errors, and each figure's rendered size."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

#: where Debian's chromium package puts the browser (Playwright's own download is not used)
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def open_chromium() -> str:
    """"" if headless Chromium starts here, else why not (the reason a test skips with)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    path = chromium_path()
    if path is None:
        return "no Chromium: apt-get install chromium (see .ci/run)"
    try:
        with sync_playwright() as p:
            p.chromium.launch(executable_path=path, args=LAUNCH_ARGS).close()
    except Error as exc:
        return f"Chromium ({path}) does not start here: {str(exc).splitlines()[0]}"
    return ""


#: root in a container has no sandbox; no GPU either (WebGL falls back to SwiftShader)
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
               "--enable-unsafe-swiftshader"]


@dataclass
class PageCheck:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests_outside: list[str] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)
    images: list[dict] = field(default_factory=list)
    text: str = ""
    #: seconds from navigation to the load event, and to every plotly figure drawn
    load_s: float = 0.0
    drawn_s: float = 0.0


# For each figure section: plotly's rendered SVG/canvas (count of marks and their size) or, for
# <img>, its natural size once loaded.
_PROBE = """
() => {
  const out = {figures: {}, images: []};
  for (const s of document.querySelectorAll('section.figure')) {
    const key = s.dataset.figure;
    const plot = s.querySelector('.js-plotly-plot');
    const entry = {plotly: !!plot, width: 0, height: 0, marks: 0, traces: 0};
    if (plot) {
      const r = plot.getBoundingClientRect();
      entry.width = r.width; entry.height = r.height;
      entry.traces = (plot.data || []).length;
      entry.marks = plot.querySelectorAll(
        'svg .trace, svg path.point, svg .bars path, svg .lines path, ' +
        'svg .parcoords-line-layers, canvas, svg .gl-container, .gl-canvas').length;
      entry.svg = plot.querySelectorAll('svg.main-svg').length;
      entry.canvas = plot.querySelectorAll('canvas').length;
    }
    const img = s.querySelector('img');
    if (img) { entry.img = {src: img.getAttribute('src'), naturalWidth: img.naturalWidth,
                            naturalHeight: img.naturalHeight, complete: img.complete}; }
    out.figures[key] = entry;
  }
  for (const img of document.querySelectorAll('img')) {
    out.images.push({src: img.getAttribute('src'), naturalWidth: img.naturalWidth,
                     complete: img.complete});
  }
  return out;
}
"""


def check_page(index: Path, screenshot: Path | None = None, width: int = 1300,
               timeout_s: float = 60.0) -> PageCheck:
    """Load ``index`` (a file) with the network cut off, wait for plotly to draw (at most
    ``timeout_s`` for each), and probe it."""
    import time

    from playwright.sync_api import sync_playwright

    result = PageCheck()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})

            def on_console(msg):
                if msg.type == "error":
                    result.console_errors.append(msg.text)

            def on_request(route):
                url = route.request.url
                if not url.startswith("file:") and not url.startswith("data:"):
                    result.requests_outside.append(url)
                    return route.abort()
                return route.continue_()

            page.on("console", on_console)
            page.on("pageerror", lambda exc: result.page_errors.append(str(exc)))
            page.route("**/*", on_request)
            start = time.perf_counter()
            page.goto(index.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
            result.load_s = time.perf_counter() - start
            page.wait_for_function(
                "() => [...document.querySelectorAll('.js-plotly-plot')]"
                ".every(p => p._fullLayout)", timeout=timeout_s * 1000)
            result.drawn_s = time.perf_counter() - start
            page.wait_for_timeout(500)
            probe = page.evaluate(_PROBE)
            result.figures = probe["figures"]
            result.images = probe["images"]
            result.text = page.inner_text("body")
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return result


def brush_and_rotate(index: Path, axis: int = 0) -> dict:
    """Drag along parallel-coordinates axis ``axis`` (a brush) and across the 3-D scatter (a
    rotation), as a user would; return the brushed ranges and the 3-D camera before and after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(index.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.js-plotly-plot')]"
                ".every(p => p._fullLayout)", timeout=60_000)
            page.evaluate("() => document.getElementById('fig-parallel').scrollIntoView()")
            page.wait_for_timeout(300)
            box = page.evaluate(
                "(i) => { const r = document.querySelectorAll('#fig-parallel .axis-brush "
                "rect.background')[i].getBoundingClientRect(); "
                "return [r.x, r.y, r.width, r.height]; }", axis)
            x = box[0] + box[2] / 2
            page.mouse.move(x, box[1] + box[3] * 0.1)
            page.mouse.down()
            for k in range(1, 11):  # parcoords' brush follows real, gradual moves
                page.mouse.move(x, box[1] + box[3] * (0.1 + 0.05 * k))
                page.wait_for_timeout(30)
            page.mouse.up()
            page.wait_for_timeout(500)
            brushed = page.evaluate(
                "() => document.getElementById('fig-parallel').data[0].dimensions"
                ".map(d => d.constraintrange || null)")
            camera = "() => JSON.stringify(document.getElementById('fig-scatter3d')" \
                     "._fullLayout.scene.camera.eye)"
            page.evaluate("() => document.getElementById('fig-scatter3d').scrollIntoView()")
            page.wait_for_timeout(300)
            before = page.evaluate(camera)
            box = page.evaluate(
                "() => { const r = document.getElementById('fig-scatter3d')"
                ".getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }")
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            page.mouse.move(cx, cy)
            page.mouse.down()
            for k in range(1, 11):
                page.mouse.move(cx + 15 * k, cy + 2 * k)
                page.wait_for_timeout(20)
            page.mouse.up()
            page.wait_for_timeout(300)
            after = page.evaluate(camera)
        finally:
            browser.close()
    return {"brushed": brushed, "camera_before": before, "camera_after": after}
