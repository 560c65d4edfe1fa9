"""The per-trial paths after a run, at scale: reading a results directory, the summary at the
end of a run, and `hpotk report` with its page opened in a browser.

For a results directory (e.g. the 10,000-trial one `overhead.py --sizes 10000 --keep` leaves),
or one made by hand (``--made N``: tests/reporting/make.py's planted experiment, 5 params,
ASHA-like curves up to 27 iterations), it prints the time of

- ``hpotk.results.load`` (what `hpotk best`, `report`, `study` read through);
- the summary the runner writes at the end of a run (real runs only): Ray's ResultGrid built
  from Tune's files (Ray's own cost: it reads every trial's progress.csv), then
  ``hpotk.summary.summarise`` and ``write_summary`` (into a scratch copy: the run's own files
  are left alone);
- ``hpotk report`` into a scratch directory: the time, the page's size and each figure's share;
- opening the page in the browser test's headless Chromium (tests/reporting/browser.py, the
  network cut off): seconds to the load event and until every plotly figure has drawn.

    .venv/bin/python benchmarks/report_scale.py /tmp/hpotk-overhead-XXXX/hpotk-10000-YYYY/hpotk
    .venv/bin/python benchmarks/report_scale.py --made 10000

Chromium here renders WebGL in software (SwiftShader), so the WebGL figures draw slower than on
a desktop with a GPU. The machine is shared: print the load with the numbers (it is printed).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _timed(label: str, fn):
    start = time.perf_counter()
    out = fn()
    print(f"  {label:<50} {time.perf_counter() - start:7.2f} s", flush=True)
    return out


def _summary(directory: Path, scratch: Path) -> None:
    """Ray's ResultGrid from Tune's files, then hpotk's summary of it into ``scratch``."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    from hpotk import experiment, layout, summary

    exp = experiment.load(layout.read_json_object(directory / layout.EXPERIMENT) or {})
    if exp.results_dir != directory.resolve():
        print(f"  (experiment.json names {exp.results_dir}; summarising {directory})")
        exp = exp.model_copy(update={"results": str(directory.resolve().parent),
                                     "name": directory.name})
    grid = _timed("Ray's ResultGrid (reads every progress.csv)",
                  lambda: ResultGrid(ExperimentAnalysis(str(directory))))
    rows = _timed("hpotk.summary.summarise", lambda: summary.summarise(exp, grid))
    scratch.mkdir(parents=True, exist_ok=True)
    for name in (layout.HISTORY_LOG, layout.STATE):
        if (directory / name).exists():
            os.symlink(directory / name, scratch / name)
    _timed("hpotk.summary.write_summary (trials/history.csv)",
           lambda: summary.write_summary(exp, rows, scratch))


def _page(index: Path) -> None:
    text = index.read_text()
    print(f"  page {index.stat().st_size / 1e6:.1f} MB (plotly.js "
          f"{len(text[:text.find('</head>')]) / 1e6:.1f} MB); figures:", end="")
    for key, body in re.findall(r'<section id="([^"]+)" class="figure"(.*?)</section>', text,
                                re.S):
        print(f" {key} {len(body) / 1e6:.2f}", end="")
    print(" MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", help="a results directory")
    parser.add_argument("--made", type=int, default=0,
                        help="make a results directory of this many trials by hand instead")
    parser.add_argument("--no-browser", action="store_true", help="do not open the page")
    args = parser.parse_args(argv)
    if bool(args.directory) == bool(args.made):
        parser.error("give a results directory or --made N")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(tempfile.mkdtemp(prefix="hpotk-report-scale-"))
    try:
        if args.made:
            from tests.reporting.make import make, write_dir

            n = args.made
            directory = write_dir(make(n, max_t=27, errors=n // 100, nan=n // 200,
                                       concurrent=32, nodes=4), work / "made")
        else:
            directory = Path(args.directory).expanduser()
        from hpotk import results

        print(f"{directory}: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
        res = _timed("hpotk.results.load", lambda: results.load(directory))
        print(f"  ({len(res.trials):,} trials, {len(res.history):,} results, read from "
              f"{res.freshness.source})")
        if not args.made:
            _summary(directory, work / "summary")
        from hpotk.reporting import write_report

        files = _timed("hpotk report (PNGs and index.html)",
                       lambda: write_report(directory, work / "report"))
        _page(files.index)
        if not args.no_browser:
            from tests.reporting.browser import check_page, open_chromium

            why = open_chromium()
            if why:
                print(f"  page not opened: {why}")
            else:
                check = check_page(files.index, timeout_s=600)
                errors = check.console_errors + check.page_errors
                print(f"  opened in headless Chromium: load event {check.load_s:.1f} s, every "
                      f"figure drawn {check.drawn_s:.1f} s; {len(check.figures)} figures, "
                      f"errors: {errors or 'none'}")
        print(f"  (load {os.getloadavg()[0]:.1f} at the end)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
