"""An experiment's report: every figure as a PNG (matplotlib, Agg) and one self-contained HTML
page (plotly, its JavaScript inlined once in the page: login nodes have no internet)."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk.reporting import (
    common,
    curves,
    history,
    importance,
    parallel,
    pareto,
    scatter,
    tables,
    timeline,
)

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                 "toImageButtonOptions": {"format": "png", "scale": 2}}


@dataclass
class FigureSpec:
    """One figure of the report: ``key`` names its PNG (``<key>.png``) and its page anchor."""

    key: str
    title: str
    caption: str
    png: Callable[[], Any]
    interactive: Callable[[], Any]


@dataclass
class ReportFiles:
    """What `write` wrote."""

    index: Path
    pngs: list[Path] = field(default_factory=list)


def figures(res: Any) -> list[FigureSpec]:
    """The report's figures over ``res``, each computed once (pure: nothing is read or written).

    The scatter plots use the most important params by `importance`, so importance runs first.
    """
    h = history.data(res)
    c = curves.data(res)
    p = parallel.data(res)
    imp = importance.data(res)
    s2 = scatter.data(res, imp.top(2), dims=2)
    s3 = scatter.data(res, imp.top(3), dims=3)
    tl = timeline.data(res)
    which = "the two most important params" if imp.importances else "the first two params"
    which3 = "the three most important params" if imp.importances else "the first three params"
    return _objectives_figures(res) + [
        FigureSpec("history", history.TITLE, history.caption(res, h),
                   lambda: history.png(res, h), lambda: history.interactive(res, h)),
        FigureSpec("curves", curves.TITLE, curves.caption(res, c),
                   lambda: curves.png(res, c), lambda: curves.interactive(res, c)),
        FigureSpec("parallel", parallel.TITLE, parallel.caption(res, p),
                   lambda: parallel.png(res, p), lambda: parallel.interactive(res, p)),
        FigureSpec("importance", importance.TITLE, importance.caption(res, imp),
                   lambda: importance.png(res, imp), lambda: importance.interactive(res, imp)),
        FigureSpec("scatter", scatter.TITLE_2D,
                   f"{scatter.caption(res, s2, 2)} Shown: {which}.",
                   lambda: scatter.png(res, s2, 2), lambda: scatter.interactive(res, s2, 2)),
        FigureSpec("scatter3d", scatter.TITLE_3D,
                   f"{scatter.caption(res, s3, 3)} Shown: {which3}.",
                   lambda: scatter.png(res, s3, 3), lambda: scatter.interactive(res, s3, 3)),
        FigureSpec("timeline", timeline.TITLE, timeline.caption(res, tl),
                   lambda: timeline.png(res, tl), lambda: timeline.interactive(res, tl)),
    ]


def _objectives_figures(res: Any) -> list[FigureSpec]:
    """The Pareto front and the hypervolume over time, first, when there are several
    objectives (none for one)."""
    if not pareto.applies(res):
        return []
    po = pareto.data(res)
    hv = pareto.hypervolume_data(res, po)
    return [
        FigureSpec("pareto", pareto.TITLE, pareto.caption(res, po),
                   lambda: pareto.png(res, po), lambda: pareto.interactive(res, po)),
        FigureSpec("hypervolume", pareto.TITLE_HV, pareto.hv_caption(res, hv),
                   lambda: pareto.hv_png(res, hv), lambda: pareto.hv_interactive(res, hv)),
    ]


def write(res: Any, out: Path, *, refresh_s: float | None = None,
          note: str | None = None) -> ReportFiles:
    """Write ``out/index.html`` and ``out/<figure>.png`` for the experiment ``res``.

    Each file replaces the one before whole (`layout.atomic_write`), so a browser reading the
    report while `hpotk report --watch` rewrites it never gets half a file.

    Args:
        refresh_s: the page reloads itself every so many seconds (``--watch``, while the
            experiment runs); None for a page that stays.
        note: a line shown at the top of the page (why a watch stopped).
    """
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    out.mkdir(parents=True, exist_ok=True)
    specs = figures(res)
    files = ReportFiles(out / layout.REPORT_PAGE)
    sections = []
    for spec in specs:
        fig = spec.png()
        path = out / f"{spec.key}.png"
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=100, format="png")
        layout.atomic_write(path, buffer.getvalue())
        files.pngs.append(path)
        sections.append(_figure_section(spec, spec.interactive(), path.name))
    layout.atomic_write(files.index, page(res, sections, specs, refresh_s=refresh_s, note=note))
    return files


def _figure_section(spec: FigureSpec, fig: Any, png_name: str) -> str:
    div = fig.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG,
                      div_id=f"fig-{spec.key}")
    return (f'<section id="{spec.key}" class="figure" data-figure="{spec.key}">\n'
            f"<h2>{html.escape(spec.title)}</h2>\n"
            f'<p class="caption">{_inline(spec.caption)} '
            f'<a href="{html.escape(png_name)}">PNG</a></p>\n{div}\n</section>')


def _inline(text: str) -> str:
    """Escape ``text``; `backticked` spans become <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def table_html(table: tables.Table, cls: str = "") -> str:
    """A `tables.Table` as an HTML table (escaped), with its note."""
    if not table.columns:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                     for row in table.rows)
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (f'{note}<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _facts(res: Any) -> list[tuple[str, str]]:
    meta = res.meta
    budget = meta.get("budget") or {}
    counts = res.trials["status"].astype(str).value_counts() if "status" in res.trials else {}
    by_status = ", ".join(f"{n} {common.status_label(s)}" for s, n in counts.items()) or "none"
    best = res.best()
    best_text = "-"
    if best is not None:
        best_text = (f"{common.format_value(best[f'best_{res.metric}'])} "
                     f"(trial {best['trial_id']})")
    started, finished = meta.get("started"), meta.get("finished")
    when = "-"
    if started:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(started)))
        end = float(finished) if finished and res.status != "running" else \
            res.freshness.read_at if res.status == "running" else None
        if end:
            when += f", {common.format_seconds(end - float(started))}"
            when += " so far" if res.status == "running" else ""
    facts = [
        ("status", res.status),
        ("objective", f"{res.metric} ({res.mode})"),
        ("strategy", str(meta.get("strategy") or "-")),
        ("best", best_text),
        ("trials", f"{len(res.trials)} of {budget.get('trials', '?')}: {by_status}"),
        ("budget", ", ".join(f"{k} {v}" for k, v in budget.items() if v is not None) or "-"),
        ("started", when),
        ("nodes", ", ".join(meta.get("nodes") or []) or "-"),
        ("results", str(res.path)),
        ("read", res.freshness.describe()),
    ]
    return facts


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.25em; margin: 0 0 0.3em; }
section { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 14px 18px;
          margin: 16px 0; }
.caption, .note { color: #444; font-size: 0.92em; margin: 0.2em 0 0.6em; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 10px 0; font-weight: 500; }
.banner.running { background: #e6f3fb; border: 1px solid #56B4E9; }
.banner.interrupted, .banner.failed { background: #fdf0e6; border: 1px solid #E69F00; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.facts dt { color: #666; } dl.facts dd { margin: 0; }
nav a { margin-right: 12px; font-size: 0.92em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border-bottom: 1px solid #e5e5e5; padding: 4px 8px; text-align: right;
         white-space: nowrap; }
th { background: #f2f2f2; position: sticky; top: 0; }
td:nth-child(2), td:nth-child(3), th:nth-child(2), th:nth-child(3) { text-align: left; }
table.errors td, table.errors th { text-align: left; white-space: normal; }
pre { background: #f5f5f5; padding: 10px 12px; border-radius: 4px; overflow-x: auto;
      font-size: 0.85em; }
code { background: #f0f0f0; padding: 0 3px; border-radius: 3px; }
footer { color: #777; font-size: 0.8em; margin-top: 24px; }
"""


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def page(res: Any, sections: list[str], specs: list[FigureSpec], *,
         refresh_s: float | None = None, note: str | None = None) -> str:
    """The whole HTML page (plotly.js inlined once, in the head); ``refresh_s``: it reloads
    itself every so many seconds; ``note``: a line at the top."""
    import plotly

    name = html.escape(res.name)
    banner = ""
    if res.status == "running":
        again = (f"<code>hpotk report --watch</code> rewrites it every {refresh_s:g} s while "
                 f"the experiment runs, and the page reloads itself" if refresh_s else
                 f"Run <code>hpotk report {html.escape(str(res.path))}</code> again for newer "
                 f"results")
        banner = ('<div class="banner running" id="still-running">Still running: this page '
                  f"shows what was read at "
                  f"{time.strftime('%H:%M:%S', time.localtime(res.freshness.read_at))} "
                  f"({html.escape(res.freshness.describe())}). {again}.</div>")
    elif res.status in ("interrupted", "failed"):
        what = ("was interrupted; `hpotk run` with the same file resumes it"
                if res.status == "interrupted"
                else "stopped at the first trial error (fail_fast)")
        banner = f'<div class="banner {res.status}">This experiment {_inline(what)}.</div>'
    if note:
        banner += f'<div class="banner interrupted" id="watch-note">{_inline(note)}</div>'
    refresh = (f'<meta http-equiv="refresh" content="{max(1, round(refresh_s))}">\n'
               if refresh_s else "")
    facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                    for k, v in _facts(res))
    nav = " ".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in specs)
    nav += ' <a href="#top-trials">Top trials</a> <a href="#plan">Plan</a>'
    top = tables.top_table(res, 10)
    errors = tables.errors_table(res)
    error_section = ""
    if errors.rows:
        error_section = ('<section id="errors"><h2>Errors</h2>'
                         f'{table_html(errors, "errors")}</section>')
    plan = res.meta.get("plan") or "(no plan.txt in the results directory)"
    retrain = tables.retrain_command(res)
    made = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}<title>hpotk report: {name}</title>
<style>{STYLE}</style>
<script type="text/javascript">{_plotly_js()}</script>
</head>
<body>
<main>
<h1>{name}</h1>
{banner}
<section id="summary"><dl class="facts">{facts}</dl></section>
<nav>{nav}</nav>
{chr(10).join(sections)}
<section id="top-trials"><h2>Top trials</h2>
<p class="caption">Ranked by each trial's best {html.escape(res.metric)} ({res.mode}).</p>
{table_html(top, "top")}
<h3>Retrain the best trial</h3>
<pre id="retrain">{html.escape(retrain)}</pre>
</section>
{error_section}
<section id="plan"><h2>Plan</h2>
<p class="caption">What <code>hpotk plan</code> said before the run.</p>
<pre>{html.escape(plan)}</pre></section>
<footer>Made by <code>hpotk report</code> at {made}; interactive figures by plotly
{html.escape(plotly.__version__)} (inlined: the page works offline), PNGs by matplotlib.</footer>
</main>
</body>
</html>
"""

