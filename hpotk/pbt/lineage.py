"""PBT lineages: which trial's weights a trial carries, and its history stitched across exploits.

Under Population Based Training a trial that exploits another loads that donor's checkpoint and
goes on from the donor's iteration with perturbed params. Its own reported history therefore has
jumps: the curve Ray's loggers and TensorBoard show (Ray issues #5312, #6151, #9339). The
*stitched* history follows the weights instead: for every iteration, the row of whichever trial
trained those weights at that iteration, following donors back to the start.

Inputs are the results' history (`hpotk.results.Results.history`: one row per reported result,
in report order, with ``config/<p>`` in force) and the scheduler's lineage log
(``pbt_lineage.jsonl``, written by `hpotk.schedulers.pbt.PBT` as each exploit happens; read by
`hpotk.layout.read_lineage_events`).

How a trial's rows are cut into segments: exploit ``k`` of trial X happened when X reported
iteration ``target_iter``; X's rows up to that report belong to the weights it had before,
the rows after it continue the donor's weights from ``donor_iter + 1``. A row whose iteration
is not above the previous one (a restore after a resume) replaces the rows from that iteration
on. The donor's weights at exploit ``k`` are the donor's segment current at that point of the
log, so chains of clones, and a trial cloned from its own ancestor, resolve to earlier events
and the recursion always ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk.errors import HpotkError


@dataclass
class Lineage:
    """One trial's stitched history.

    Attributes:
        trial_id: the trial whose weights are followed.
        rows: one dict per iteration 1..N, in order: ``iteration``, ``source`` (the trial that
            reported it), the reported metrics and ``config/<p>``.
        perturbations: one dict per exploit along the lineage: ``iteration`` (the first one
            trained with the new params), ``target``, ``donor``, ``donor_iter``,
            ``old_config``, ``new_config``, ``operations``.
    """

    trial_id: str
    rows: list[dict[str, Any]]
    perturbations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def iterations(self) -> list[int]:
        return [int(r["iteration"]) for r in self.rows]

    def series(self, key: str) -> list[float]:
        """``key`` per iteration (a metric, or ``config/<p>``); NaN where a row lacks it."""
        out = []
        for row in self.rows:
            value = row.get(key)
            try:
                out.append(float(value))
            except (TypeError, ValueError):
                out.append(math.nan)
        return out

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows)


def _records(history: Any) -> list[dict[str, Any]]:
    if hasattr(history, "to_dict"):
        return history.to_dict("records")
    return list(history)


def _segments(rows: list[dict[str, Any]], events: list[tuple[int, dict[str, Any]]]
              ) -> list[list[dict[str, Any]]]:
    """A trial's rows cut at its exploits: segment 0 before the first, segment k after the k-th.

    ``events`` are (log position, event) for this trial as target, in log order.
    """
    segments: list[list[dict[str, Any]]] = [[] for _ in range(len(events) + 1)]
    k = 0
    for row in rows:
        iteration = int(row["iteration"])
        current = segments[k]
        while current and int(current[-1]["iteration"]) >= iteration:
            current.pop()  # a restore (resume) replays from an earlier checkpoint
        current.append(row)
        if k < len(events) and iteration == int(events[k][1]["target_iter"]):
            k += 1  # the report that triggered the exploit ends the segment
    return segments


def _index(history: Any, events: list[dict[str, Any]]) -> tuple[dict, dict]:
    rows_by_trial: dict[str, list[dict[str, Any]]] = {}
    for row in _records(history):
        if row.get("iteration") is None or (isinstance(row.get("iteration"), float)
                                            and math.isnan(row["iteration"])):
            continue
        rows_by_trial.setdefault(str(row["trial_id"]), []).append(row)
    events_by_trial: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for position, event in enumerate(events):
        events_by_trial.setdefault(str(event["target"]), []).append((position, event))
    segments = {t: _segments(rows_by_trial.get(t, []), events_by_trial.get(t, []))
                for t in set(rows_by_trial) | set(events_by_trial)}
    return segments, events_by_trial


def stitch(history: Any, events: list[dict[str, Any]], trial_id: str) -> Lineage:
    """The stitched history of ``trial_id`` (see the module docstring).

    Args:
        history: the results' history (a DataFrame or a list of row dicts) with ``trial_id``,
            ``iteration``, the metrics and ``config/<p>``.
        events: the lineage log's events, in log order (`hpotk.layout.read_lineage_events`).
        trial_id: the trial to follow.
    """
    segments, events_by_trial = _index(history, events)
    if trial_id not in segments:
        raise HpotkError(f"trial {trial_id!r} has no results and no lineage events; trials: "
                         f"{sorted(segments)}")
    perturbations: list[dict[str, Any]] = []

    def follow(trial: str, segment: int, upto: float) -> list[dict[str, Any]]:
        own = [dict(r, source=trial) for r in segments.get(trial, [[]])[segment]
               if int(r["iteration"]) <= upto]
        if segment == 0:
            return own
        position, event = events_by_trial[trial][segment - 1]
        donor, donor_iter = str(event["donor"]), int(event["donor_iter"])
        donor_events = events_by_trial.get(donor, [])
        donor_segment = sum(1 for p, _ in donor_events if p < position)
        before = follow(donor, donor_segment, min(donor_iter, upto))
        start = donor_iter + 1
        own = [r for r in own if int(r["iteration"]) >= start]
        perturbations.append({
            "iteration": start, "target": trial, "donor": donor, "donor_iter": donor_iter,
            "old_config": event.get("old_config"), "new_config": event.get("new_config"),
            "operations": event.get("operations"),
        })
        return before + own

    last = len(events_by_trial.get(trial_id, []))
    rows = follow(trial_id, last, math.inf)
    perturbations.sort(key=lambda p: p["iteration"])
    return Lineage(trial_id, rows, [p for p in perturbations if p["iteration"] <= (
        rows[-1]["iteration"] if rows else 0)])


def load(results: Any, trial: str = "best") -> Lineage:
    """The stitched lineage of ``trial`` ("best": the best trial) of a loaded results directory
    (`hpotk.results.Results`)."""
    events = layout.read_lineage_events(Path(results.path) / layout.LINEAGE_LOG)
    if trial == "best":
        best = results.best()
        if best is None:
            raise HpotkError(f"{results.path}: no trial has reported {results.metric} yet")
        trial = str(best["trial_id"])
    ids = {str(t) for t in results.trials["trial_id"]} if len(results.trials) else set()
    if trial not in ids:
        raise HpotkError(f"{results.path} has no trial {trial!r}; its trials: {sorted(ids)}")
    return stitch(results.history, events, trial)
