"""Hybrid studies (a study file's ``replay: auto``): the baseline runs for real, its repeats are
pooled into one table, and every strategy is replayed on it (on its surrogate when a searcher
needs one), for the price of one strategy's real runs; ``validate: K`` real repeats of each
replayed strategy are drawn against their replay. `hpotk.study.run_study` runs the real runs;
`summarise_hybrid` does the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpotk.errors import HpotkError


def summarise_hybrid(study: Any, *, log: Any = print) -> tuple[Any, list[Path]]:
    """A hybrid study's outputs (``replay: auto``): the baseline's complete real runs pooled into
    one table (trials the time budget cut are left out), every strategy replayed on it (on its
    surrogate, as the study's ``surrogate`` says), and for the baseline and every strategy with
    ``validate`` real repeats, the replay against the real runs (``agreement-<label>.png``)."""
    from hpotk import results
    from hpotk.replay.comparison import agreement, aligned, plot_agreement
    from hpotk.replay.drive import replay_study
    from hpotk.replay.table import load_table, pool_tables
    from hpotk.study.run import run_status, write_study_json
    from hpotk.study.spec import label_dir

    real: dict[str, list[Any]] = {}
    for run in study.real_runs:
        if run_status(run) == "complete":
            real.setdefault(run.label, []).append(results.load(run.path))
    if study.baseline not in real:
        raise HpotkError(f"study {study.name}: the baseline {study.baseline!r} has no complete "
                         f"run yet; run `hpotk study {study.source}` (or wait for the jobs)")
    tables = [load_table(res, complete_only=True) for res in real[study.baseline]]
    out = study.results_dir
    table = pool_tables(tables, out / "table")
    log(f"[hpotk] study {study.name}: table of {len(table.trials)} trials pooled from "
        f"{len(tables)} real run(s) of {study.baseline}")
    done = replay_study(study, table, out_dir=out, log=log,
                        what=f"hybrid study: {study.baseline} ran for real "
                             f"({len(tables)} repeats); every strategy replayed")
    outputs = list(done.outputs)
    for label, runs in real.items():
        replayed = (done.runs or {}).get(label)
        if not replayed:
            continue
        # both sides from each run's first trial start (Ray's start-up differs run to run),
        # over the window every real run covered
        window = min(aligned(r).meta["budget"]["time_s"] for r in runs)
        a = agreement([aligned(r, until=window) for r in runs],
                      [aligned(r, until=window) for r in replayed],
                      report_metric=study.report_metric, top_k=study.spec.top_k)
        path = out / f"agreement-{label_dir(label)}.png"
        plot_agreement(a, path, title=f"{study.name}: {label}, replayed vs real",
                       note=f"from each run's first trial start, {window:.0f} s; " + done.note,
                       real_label=f"real ({len(runs)} runs)",
                       replay_label=f"replayed ({len(replayed)} seeds)")
        log(f"[hpotk] study {study.name}: {label} replayed vs real:\n" + a.text())
        outputs.append(path)
    write_study_json(study, outputs)
    return done.summary, outputs
