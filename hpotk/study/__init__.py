"""Time-to-solution studies: tuning strategies compared at equal resources.

A study file names a base experiment and the strategies to compare; `hpotk study FILE` runs every
(strategy, repeat) pair as an ordinary hpotk experiment under ``results/<study>/<label>/seed<k>/``,
one after another, each with the whole Ray cluster and the same time budget, then aggregates
them as the NERSC Ray Tune guide's time-to-solution study does: the mean ``report_metric`` of
the ``top_k`` trials (ranked by the objective) against wall time, with a band across repeats,
the trials each strategy finished, time-to-target and the speedup over a baseline.

- `spec`: the study file's schema, `load_study` and its key-path errors;
- `run`: data prepared once, `run_study`, each run's status and time used, ``study.json``,
  `summarise` (the outputs of the complete runs);
- `aggregation`: `aggregate`, a pure function of `hpotk.results.Results` objects (so replayed
  runs aggregate as real ones do), and its conventions; `summaries`: what it returns;
- `bands`: the band across repeats (Student t, bootstrap, IQR; ``auto`` picks by repeats);
- `speedups`: speedups over the baseline and their bootstrap intervals, censoring included;
- `power`: what the repeats can tell: the smallest detectable speedup, `repeats_needed`;
- `outputs`: curves.csv, summary.csv, summary.md and tts.png (drawn by
  `hpotk.reporting.time_to_solution`).
"""

from hpotk.errors import ConfigError as ConfigError  # hpotk.study.ConfigError, as before
from hpotk.errors import HpotkError as HpotkError
from hpotk.study.aggregation import (
    FINISHED_STATUSES,
    RunCurve,
    StrategySummary,
    StudySummary,
    aggregate,
)
from hpotk.study.outputs import plot, write_outputs
from hpotk.study.power import repeats_needed
from hpotk.study.run import (
    StudyOutcome,
    prepare_data,
    run_study,
    summarise,
    used_seconds,
    write_study_json,
)
from hpotk.study.spec import (
    BANDS,
    DEFAULT_TRIALS,
    STUDY_FILE,
    StrategyEntry,
    Study,
    StudyBudget,
    StudyRun,
    StudySpec,
    is_study_file,
    label_dir,
    load_study,
)

__all__ = [
    "BANDS", "DEFAULT_TRIALS", "FINISHED_STATUSES", "STUDY_FILE", "RunCurve", "StrategyEntry",
    "StrategySummary", "Study", "StudyBudget", "StudyOutcome", "StudyRun", "StudySpec",
    "StudySummary", "aggregate", "is_study_file", "label_dir", "load_study", "plot",
    "prepare_data", "repeats_needed", "run_study", "summarise", "used_seconds", "write_outputs",
    "write_study_json",
]
