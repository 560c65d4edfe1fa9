"""Replaying a study: every (strategy, seed) pair on one table (`replay_strategies`), and a
whole study file's strategies with its own outputs, labelled as replayed (`replay_study`)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpotk.replay.search import MODEL_SEARCHERS, Strategy, refuse, strategy_of
from hpotk.replay.simulation import replay
from hpotk.replay.table import Table, load_table, recorded_checkpoint_s


@dataclass
class ReplayCost:
    """What the simulator itself cost: real seconds per simulated hour."""

    real_s: float = 0.0
    simulated_s: float = 0.0
    runs: int = 0

    @property
    def per_simulated_hour(self) -> float:
        return self.real_s / (self.simulated_s / 3600.0) if self.simulated_s > 0 else math.nan

    def describe(self) -> str:
        return (f"{self.runs} replayed runs, {self.simulated_s / 3600.0:.2f} simulated hours in "
                f"{self.real_s:.1f} real seconds ({self.per_simulated_hour:.2f} s per simulated "
                f"hour)")


def replay_strategies(table: Table, strategies: Mapping[str, Sequence[tuple[Strategy, int]]],
                      cost: ReplayCost | None = None, surrogate: Any = None,
                      workers: int | None = None) -> dict[str, list[Any]]:
    """Replay every (strategy, seed) pair: label -> one `Results` per seed, in seed order.

    All strategies are refused up front (before any replay runs) if one cannot be replayed.
    ``surrogate``: replay every strategy on it (`hpotk.replay.surrogate`) instead of the table.
    ``workers``: processes to replay in (default: one per core from `PARALLEL_FROM` replays on,
    where starting them, a few seconds, pays; 1: in this process). Each replay seeds its own
    generators, so the outcome does not depend on it.
    """
    import os

    for runs in strategies.values():
        for strategy, _ in runs:
            refuse(strategy, surrogate=surrogate is not None)
    cost = cost if cost is not None else ReplayCost()
    jobs = [(label, strategy, seed) for label, runs in strategies.items()
            for strategy, seed in runs]
    if workers is None:
        workers = (os.cpu_count() or 1) if len(jobs) >= PARALLEL_FROM else 1
    workers = max(1, min(workers, len(jobs)))
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        # fork, not spawn: a spawned child re-imports the caller's __main__, which hangs (or
        # replays again) in a script without `if __name__ == "__main__"`. Forking is safe here:
        # no Ray is started, and the surrogate's scikit-learn runs single-threaded
        # (threadpool_limits), so the child inherits no OpenMP pool
        with ProcessPoolExecutor(workers, mp_context=get_context("fork"),
                                 initializer=_worker_init, initargs=(table, surrogate)) as pool:
            done = list(pool.map(_replay_job, jobs, chunksize=1))
    else:
        _worker_init(table, surrogate)
        done = [_replay_job(job) for job in jobs]
    out: dict[str, list[Any]] = {label: [] for label in strategies}
    for (label, _, _), (results, real_s, simulated_s) in zip(jobs, done, strict=True):
        cost.real_s += real_s
        cost.simulated_s += simulated_s
        cost.runs += 1
        out[label].append(results)
    return out


#: replays from which `replay_strategies` uses a process per core by default
PARALLEL_FROM = 40
_WORKER: dict[str, Any] = {}


def _worker_init(table: Table, surrogate: Any) -> None:
    _WORKER.update(table=table, surrogate=surrogate)


def _replay_job(job: tuple[str, Strategy, int]) -> tuple[Any, float, float]:
    """One replay in a worker: its `Results`, the real seconds it took, the simulated ones."""
    label, strategy, seed = job
    began = time.perf_counter()
    sim = replay(_WORKER["table"], strategy, seed, surrogate=_WORKER["surrogate"])
    results = sim.to_results(label=label, strategy=strategy, seed=seed)
    return results, time.perf_counter() - began, sim.ended_s


@dataclass
class StudyReplay:
    """What `replay_study` did: the summary, the files written, the simulator's cost."""

    summary: Any  # hpotk.study.StudySummary
    outputs: list[Path]
    cost: ReplayCost
    note: str
    exhausted: dict[str, int]  # label -> runs in which the table ran out of configs
    runs: dict[str, list[Any]] | None = None  # label -> the replayed Results, in seed order
    surrogate: Any = None  # the hpotk.replay.surrogate.Surrogate replayed on, if any


def uses_surrogate(setting: Any, strategies: Sequence[Strategy]) -> bool:
    """Whether a study replays on a surrogate: ``True``/``False`` as set; ``"auto"``: when any
    strategy's searcher proposes configs the table never ran (then every strategy replays on
    the surrogate, so that all are replayed alike)."""
    if setting == "auto":
        return any(s.searcher in MODEL_SEARCHERS for s in strategies)
    return bool(setting)


def replay_study(study: Any, table_dir: str | Path | Table, *, out_dir: str | Path | None = None,
                 log: Any = print, labels: Sequence[str] | None = None,
                 what: str | None = None) -> StudyReplay:
    """Replay every (strategy, repeat) of ``study`` (a `hpotk.study.Study`) on the table in
    ``table_dir`` (a results directory, a table archive, or a loaded `Table`), and write the
    study's outputs, each labelled "replayed from <dir>" (or "replayed on a surrogate of <dir>").

    Each run is the study's own experiment for that strategy and seed (so its scheduler
    options, budget and seed are the real study's); it is checked against the table first
    (same trainable, data, space and fixed values; max_t within the table's), and every
    strategy is refused up front if one cannot be replayed. The study's ``surrogate``,
    ``checkpoint_s`` and ``replay_repeats`` apply (see docs/studies.md). ``labels``: replay
    only these strategies. The outputs go to ``<study results>/replay/`` unless ``out_dir``
    says otherwise, never over a real study's.
    """

    from hpotk import layout
    from hpotk.study import aggregate, write_outputs

    table = table_dir if isinstance(table_dir, Table) else load_table(table_dir)
    spec = study.spec
    n_seeds = spec.replay_repeats or spec.repeats
    first_seed = study.runs[0].seed
    strategies: dict[str, list[tuple[Strategy, int]]] = {}
    for run in study.runs:
        if run.label in strategies or (labels is not None and run.label not in labels):
            continue
        strategy = strategy_of(run.experiment, label=run.label, table=table)
        strategies[run.label] = [(strategy, first_seed + r) for r in range(n_seeds)]
    all_strategies = [s for runs in strategies.values() for s, _ in runs]
    surrogate = None
    if uses_surrogate(spec.surrogate, all_strategies):
        from hpotk.replay.surrogate import fit_surrogate

        began = time.perf_counter()
        surrogate = fit_surrogate(table, [study.report_metric])
        log(f"[hpotk] study {study.name}: surrogate of {table.path} ready in "
            f"{time.perf_counter() - began:.1f} s")
    checkpoint_s = spec.checkpoint_s
    if checkpoint_s is None:
        checkpoint_s = recorded_checkpoint_s(table) or 0.0
    entries = getattr(study, "entries", {}) or {}
    for label, runs in strategies.items():
        own = getattr(entries.get(label), "checkpoint_s", None)
        for strategy, _ in runs:
            strategy.checkpoint_s = float(own if own is not None else checkpoint_s)
            strategy.charge_searcher = spec.charge_searcher
            refuse(strategy, surrogate=surrogate is not None)
    cost = ReplayCost()
    runs = replay_strategies(table, strategies, cost, surrogate=surrogate)
    exhausted = {label: sum(1 for r in results if r.meta["replay"]["exhausted_s"] is not None
                            and r.meta["replay"]["exhausted_s"] < r.meta["finished"])
                 for label, results in runs.items()}
    baseline = study.baseline if study.baseline in runs else next(iter(runs))
    summary = aggregate(runs, report_metric=study.report_metric, top_k=spec.top_k,
                        baseline=baseline, target=spec.target,
                        band=spec.band, grid_points=spec.grid_points)
    summary.name = f"{study.name} (replay)"
    _power(summary, runs, baseline)
    how = f"on a surrogate of {table.path}" if surrogate is not None else f"from {table.path}"
    note = (what or "replayed") + f" {how}, in simulated time ({n_seeds} seeds per strategy, " \
        f"{cost.per_simulated_hour:.1f} s per simulated hour)"
    if checkpoint_s:
        note += f"; {checkpoint_s:.2g} s per checkpoint"
    if surrogate is not None and not spec.charge_searcher:
        note += "; the searcher's own time not charged"
    used_up = {k: v for k, v in exhausted.items() if v and surrogate is None}
    if used_up:  # fewer trials than a real run would have had: say so on every output
        note += "; table used up: " + ", ".join(f"{v}/{len(runs[k])} {k}"
                                                for k, v in used_up.items())
    out = Path(out_dir) if out_dir is not None else study.results_dir / "replay"
    outputs = write_outputs(summary, out, note=note)
    record = {
        "study": study.name, "table": str(table.path), "recorded_trials": len(table.trials),
        "note": note, "surrogate": None, "checkpoint_s": checkpoint_s,
        "cost": {"real_s": cost.real_s, "simulated_s": cost.simulated_s,
                 "runs": cost.runs, "real_s_per_simulated_hour": cost.per_simulated_hour},
        "exhausted": exhausted,
        "runs": [{"label": label, "seed": r.meta["seed"], **r.meta["replay"],
                  "trials": len(r.trials)} for label, results in runs.items() for r in results],
    }
    if surrogate is not None:
        check = surrogate.check()
        record["surrogate"] = {"text": check.text(), "spearman": check.spearman,
                               "metric_error": check.metric_error,
                               "time_error": check.time_error,
                               "models": {k: c.chosen for k, c in check.choices.items()}}
        layout.atomic_write(out / layout.SURROGATE_TEXT, check.text() + "\n")
        outputs.append(out / layout.SURROGATE_TEXT)
        log(check.text())
    layout.write_json(out / layout.REPLAY_JSON, record)
    outputs.append(out / layout.REPLAY_JSON)
    log(summary.text())
    log(f"[hpotk] study {study.name}: {note}")
    log(f"[hpotk] study {study.name}: {cost.describe()}")
    log(f"[hpotk] study {study.name}: " + ", ".join(str(p) for p in outputs))
    return StudyReplay(summary, outputs, cost, note, exhausted, runs, surrogate)


def _power(summary: Any, runs: Mapping[str, Sequence[Any]], baseline: str) -> None:
    """How many real repeats would detect each replayed difference from the baseline (final
    top-k values of the replayed seeds), where the study package offers the estimate."""
    import math

    try:
        from hpotk.study.power import repeats_needed
    except ImportError:  # pragma: no cover - the estimate comes with hpotk.study.power
        return
    import numpy as np

    finals = {label: [c.final for c in summary.runs if c.label == label
                      and not math.isnan(c.final)] for label in runs}
    for label, s in summary.strategies.items():
        if label == baseline or len(finals[label]) < 3 or len(finals[baseline]) < 3:
            continue
        needed = repeats_needed(finals[baseline], finals[label],
                                rng=np.random.default_rng(0))
        if hasattr(s, "repeats_needed"):
            s.repeats_needed = needed
            s.repeats_needed_from = (f"final {summary.report_metric} of {len(finals[label])} "
                                     f"replayed seeds against {len(finals[baseline])} of "
                                     f"{baseline} (Mann–Whitney, α = 0.05, power 0.8)")
