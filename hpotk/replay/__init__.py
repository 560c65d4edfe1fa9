"""Replay studies: Ray Tune's schedulers on recorded learning curves, in simulated time.

A fifo/random run in which every trial ran to ``max_t`` records everything a scheduler could
see: each trial's config, its metrics after every iteration, how long each iteration took and
what starting the trial cost. Syne Tune's simulated backend replays such tables (its "tabulated
benchmarks") and advances a simulated clock by the recorded times, so schedulers can be compared
in seconds, over many seeds. hpotk does the same with the very scheduler objects `hpotk run`
gives Ray Tune. Every simulated run becomes an in-memory `hpotk.results.Results`
(``freshness.source == "replay"``), so the study's aggregation treats replayed and real runs
alike.

- `table`: the recorded table (`load_table`, `Table`, `Recorded`);
- `search`: what a strategy may replay (`strategy_of`, `check_against`, `refuse`) and the
  searcher that draws the table's configs (`TableSearch`);
- `simulation`: the clock, its events and the scheduler calls (`Simulation`, `replay`);
- `surrogate`: a learned model of a table, on which every searcher replays (`Surrogate`,
  `fit_surrogate`; `hpotk replay check`), and `noise`, what a prediction is worth and the
  recorded luck a replayed config gets;
- `drive`: many strategies and seeds, and a whole study (`replay_strategies`, `replay_study`);
- `hybrid`: a study whose baseline runs for real and whose other strategies replay on the
  table pooled from it (`summarise_hybrid`, a study file's ``replay: auto``);
- `comparison`: replay against real runs (`agreement`, `time_ratio`, `aligned`); its figure is
  `hpotk.reporting.agreement`.
"""

from hpotk.errors import HpotkError as HpotkError  # hpotk.replay.HpotkError, as before
from hpotk.replay.comparison import Agreement, agreement, aligned, plot_agreement, time_ratio
from hpotk.replay.drive import ReplayCost, StudyReplay, replay_strategies, replay_study
from hpotk.replay.hybrid import summarise_hybrid
from hpotk.replay.search import (
    MODEL_SEARCHERS,
    REFUSED_SCHEDULERS,
    TABLE_SEARCHERS,
    Strategy,
    TableSearch,
    check_against,
    refuse,
    strategy_of,
)
from hpotk.replay.simulation import Simulation, build_scheduler, replay
from hpotk.replay.table import Recorded, Table, load_table

__all__ = ["MODEL_SEARCHERS", "REFUSED_SCHEDULERS", "TABLE_SEARCHERS", "Agreement", "Recorded",
           "ReplayCost", "Simulation", "Strategy", "StudyReplay", "Table", "TableSearch",
           "agreement", "aligned", "build_scheduler", "check_against", "load_table",
           "plot_agreement", "refuse", "replay", "replay_strategies", "replay_study",
           "strategy_of", "summarise_hybrid", "time_ratio"]
