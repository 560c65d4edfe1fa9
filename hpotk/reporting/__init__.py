"""`hpotk report DIR`: figures of an experiment (PNG) and one offline HTML page.

The figures are pure functions of a `hpotk.results.Results` (each module: ``data(res)``, then
``png(res, data)`` for matplotlib and ``interactive(res, data)`` for plotly):

- `history`: optimisation history against wall-clock time and trial number;
- `curves`: learning curves by status, with the scheduler's rungs;
- `parallel`: parallel coordinates (brushable in the page);
- `importance`: parameter importance by Optuna's fANOVA / PED-ANOVA;
- `scatter`: 2-D and 3-D scatter of the most important params;
- `timeline`: trials on worker slots, and the utilisation;
- `tables`: top trials, the retrain command;
- `pareto`: with several objectives only, the trials on two objectives with the Pareto front
  (the page picks the pair), and the hypervolume against wall-clock time.

The figures of the analyses are made the same way (``data``, then ``png``), from what the
analysis computed, and written by the analysis with the rest of its outputs:

- `time_to_solution`: a study's tts.png, from a `hpotk.study.StudySummary`;
- `agreement`: replayed against real runs, from a `hpotk.replay.Agreement`.

`page` writes an experiment's report, `study` a study's (a directory with ``study.json``).
matplotlib, plotly and optuna are imported only when a report is made, so ``hpotk --help``
stays instant.
"""

from __future__ import annotations

from pathlib import Path

from hpotk.reporting.page import ReportFiles

__all__ = ["ReportFiles", "write_report"]


def write_report(path: str | Path, out: str | Path | None = None) -> ReportFiles:
    """Write the report of the results (or study) directory ``path`` into ``out`` (default:
    ``path/report``): ``index.html`` and a PNG per figure.

    Raises:
        HpotkError: ``path`` is neither a results directory nor a study directory.
    """
    directory = Path(path).expanduser()
    target = Path(out).expanduser() if out is not None else directory / "report"
    _check_libraries()
    from hpotk.reporting import study

    if (directory / study.STUDY_FILE).exists():
        return study.write(directory, target)
    from hpotk import results
    from hpotk.reporting import page

    return page.write(results.load(directory), target)


#: what a report needs, and the module of each (all in the ``plot`` extra)
LIBRARIES = {"matplotlib": "the PNGs", "plotly": "the HTML page",
             "optuna": "parameter importance", "markdown": "a study's summary"}


def _check_libraries() -> None:
    import importlib.util

    from hpotk.errors import HpotkError

    missing = [f"{name} ({why})" for name, why in LIBRARIES.items()
               if importlib.util.find_spec(name) is None]
    if missing:
        raise HpotkError(f"hpotk report needs {', '.join(missing)}: pip install 'hpotk[plot]'")
