"""A study's page: its figures and summary table (what `hpotk study` wrote, listed in
``study.json``) and a link to each run's own report, which is written too."""

from __future__ import annotations

import html
import shutil
import time
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk.errors import HpotkError

STUDY_FILE = layout.STUDY_JSON
IMAGES = (".png", ".svg", ".jpg", ".jpeg")


def _resolve(directory: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else directory / path


def _markdown(text: str) -> str:
    """summary.md as HTML (Python-Markdown with its tables extension; tensorboard needs it
    too)."""
    import markdown

    return markdown.markdown(text, extensions=["tables", "fenced_code"])


def write(directory: Path, out: Path) -> Any:
    """Write ``out/index.html`` for the study in ``directory``, each run's report in
    ``<run>/report/``, and copies of the study's images next to the page."""
    from hpotk import results
    from hpotk.reporting import page
    from hpotk.reporting.page import ReportFiles

    doc = layout.read_json_object(directory / STUDY_FILE)
    if doc is None:
        raise HpotkError(f"{directory / STUDY_FILE} is missing or not readable JSON; run "
                         f"`hpotk study` again to rewrite it")
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / layout.REPORT_PAGE)
    name = str(doc.get("name") or directory.name)
    figures, texts = [], []
    for item in doc.get("outputs") or []:
        path = _resolve(directory, str(item))
        if not path.exists():
            texts.append(f'<p class="note">{html.escape(path.name)}: not written yet</p>')
            continue
        if path.suffix.lower() in IMAGES:
            copy = out / path.name
            if copy.resolve() != path.resolve():
                shutil.copyfile(path, copy)
            files.pngs.append(copy)
            figures.append(f'<section class="figure" data-figure="{html.escape(path.stem)}">'
                           f"<h2>{html.escape(path.stem)}</h2>"
                           f'<img src="{html.escape(path.name)}" alt="{html.escape(path.stem)}">'
                           f"</section>")
        elif path.suffix.lower() == ".md":
            texts.append(f'<section class="summary"><h2>{html.escape(path.name)}</h2>'
                         f"{_markdown(path.read_text())}</section>")
    rows = []
    for run in doc.get("runs") or []:
        run_dir = _resolve(directory, str(run.get("path", "")))
        label = html.escape(str(run.get("label", run_dir.name)))
        seed = html.escape(str(run.get("seed", "")))
        status = str(run.get("status") or "")
        link = "not started"
        if (run_dir / results.STATE_FILE).exists():
            try:
                res = results.load(run_dir)
                page.write(res, run_dir / "report")
                status = res.status
                target = Path(_relative(run_dir / layout.REPORT_DIR / layout.REPORT_PAGE, out))
                link = f'<a class="run-report" href="{html.escape(target.as_posix())}">report</a>'
            except HpotkError as exc:
                link = html.escape(f"no report: {exc}")
        rows.append(f"<tr><td>{label}</td><td>{seed}</td><td>{html.escape(status)}</td>"
                    f"<td>{link}</td></tr>")
    made = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    layout.atomic_write(files.index, f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>hpotk study: {html.escape(name)}</title>
<style>{page.STYLE} img {{ max-width: 100%; }}</style></head>
<body><main>
<h1>Study {html.escape(name)}</h1>
<p class="caption">{html.escape(str(directory))}</p>
{''.join(figures)}
{''.join(texts)}
<section id="runs"><h2>Runs</h2>
<div class="scroll"><table><thead><tr><th>strategy</th><th>seed</th><th>status</th>
<th>report</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>
<footer>Made by <code>hpotk report</code> at {made}.</footer>
</main></body></html>
""")
    return files


def _relative(target: Path, start: Path) -> str:
    import os

    return os.path.relpath(target.resolve(), start.resolve())
