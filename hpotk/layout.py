"""The one owner of hpotk's on-disk format: every file name of a results directory and of a
study directory, and the only readers and writers of its JSON, JSONL and text files.

A results directory ``results/<name>/`` is Ray Tune's experiment directory (its
``experiment_state-*.json``, ``tuner.pkl``, one directory per trial with ``result.json``,
``progress.csv``, ``error.txt`` and checkpoints) plus hpotk's own files, named here. hpotk's
live logs are appended a line at a time (`append_jsonl`); a kill may cut the last line short,
which `read_jsonl` skips. Every summary file is written whole (`atomic_write`: a temporary file
in the same directory, fsync, rename), so a kill during the write leaves the previous version.

Plain Python only (json, os): `import hpotk.layout` costs nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

# -- a results directory: hpotk's own files -------------------------------------------------
STATE = "hpotk.json"  # start/resume/finish state, plan facts (hpotk.state)
EXPERIMENT = "experiment.json"  # the validated experiment, as run
PLAN_TEXT = "plan.txt"  # `hpotk plan`'s text
TRIALS_CSV = "trials.csv"  # one row per trial (hpotk.summary)
BEST_JSON = "best.json"  # the best trial, its config and how to retrain it
RETRAIN_YAML = "retrain.yaml"  # an experiment file that retrains the best config
HISTORY_CSV = "history.csv"  # every reported result, from HISTORY_LOG
HISTORY_LOG = "history.jsonl"  # live: each trial start and reported result
FINISHED_LOG = "finished.jsonl"  # live: each trial's end
TRIAL_JOURNAL = "tune-trials.jsonl"  # live: each trial Tune created (hpotk._tune_save)
WATCHDOG_LOG = "watchdog.jsonl"  # live: trials stopped for hanging (hpotk._watchdog)
LINEAGE_LOG = "pbt_lineage.jsonl"  # live: every PBT exploit/explore (hpotk.schedulers.pbt)
SCHEDULE_JSON = "schedule.json"  # `hpotk schedule`: the lr schedule fitted to a lineage
SCHEDULE_PNG = "schedule.png"
REPORT_DIR = "report"  # `hpotk report`: figures and index.html
REPORT_PAGE = "index.html"
TUNE_STATE_BACKUP = ".hpotk-tune-state"  # copies of Tune's state files a kill cannot cut
SEARCHER_SNAPSHOT = "searcher-snapshot.pkl"  # in TUNE_STATE_BACKUP (hpotk._tune_save)

# -- Ray Tune's files that hpotk reads ------------------------------------------------------
TUNE_RESULT = "result.json"
TUNE_PROGRESS = "progress.csv"
TUNE_ERROR = "error.txt"
TUNE_SEARCH_STATE = "basic-variant-state-*.json"  # Ray's random/grid searcher's saved state

# -- a study directory ----------------------------------------------------------------------
STUDY_JSON = "study.json"  # the study, its runs and outputs
STUDY_SUMMARY_JSON = "summary.json"
STUDY_SUMMARY_MD = "summary.md"
STUDY_SUMMARY_CSV = "summary.csv"
STUDY_CURVES = "curves.csv"
STUDY_FIGURE = "tts.png"  # time to solution
REPLAY_JSON = "replay.json"  # a replayed study: the table, the surrogate, each replayed run
SURROGATE_TEXT = "surrogate.txt"  # a replayed study's surrogate check (hpotk replay check)
TABLE_PROVENANCE = "provenance.json"  # in a table archive (hpotk replay pack)

# -- Slurm ----------------------------------------------------------------------------------
# every node of an hpotk Slurm job gives its Ray a resource named so, with its Slurm node name:
# trials.csv's `node` comes from it (hpotk._tune_callbacks)
NODE_RESOURCE = "hpotk_node:"
# in a results directory: every Slurm job of the experiment (head and workers), for `hpotk cancel`
SLURM_JOBS = "slurm_jobs.jsonl"
# live: Ray nodes joining and leaving the cluster during a run (the driver's NodeLog)
NODES_LOG = "nodes.jsonl"
# the driver's one-line progress, rewritten every few seconds (`hpotk status`)
STATUS_JSON = "status.json"


def read_json(path: str | Path) -> Any:
    """The JSON document in ``path``; None if it is missing or cut short."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_json_object(path: str | Path) -> dict[str, Any] | None:
    """`read_json`, and only a JSON object (a mapping): None for anything else."""
    data = read_json(path)
    return data if isinstance(data, dict) else None


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a log, a line at a time, in order. A line cut short by a kill (or
    being written), and a line that is no object, are skipped; a missing file has none."""
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, after the last line
    except OSError:
        return
    with f:
        for line in f:
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                yield item


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """`iter_jsonl` as a list."""
    return list(iter_jsonl(path))


def lineage_event_key(event: dict[str, Any]) -> str:
    """What makes two lines of a PBT lineage log (LINEAGE_LOG) the same transition: a replay
    after a resume logs it again."""
    return json.dumps([event.get("target"), event.get("target_iter"), event.get("donor"),
                       event.get("donor_iter"), event.get("new_config")],
                      sort_keys=True, default=str)


def read_lineage_events(path: str | Path) -> list[dict[str, Any]]:
    """The exploit events of a PBT lineage log, in log order, without repeats; a line cut off
    by a kill is skipped. A missing file has none."""
    out, seen = [], set()
    for event in iter_jsonl(path):
        if event.get("event") != "exploit":
            continue
        key = lineage_event_key(event)
        if key in seen:
            continue
        seen.add(key)
        out.append(event)
    return out


def append_jsonl(path: str | Path, items: Iterable[dict[str, Any]], *, sync: bool = False,
                 default: Any = str) -> None:
    """Append one line per item, flushed (``sync``: and fsynced, for a line that must outlive
    the machine, not only the process)."""
    with open(path, "a", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, default=default) + "\n")
        f.flush()
        if sync:
            os.fsync(f.fileno())


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all: a temporary file in the same directory,
    fsynced, then renamed over ``path``. A kill at any moment leaves the old file or the new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """`atomic_write` of a JSON document (values JSON cannot hold written as their str)."""
    return atomic_write(path, json.dumps(data, indent=indent, default=str) + "\n")


def write_csv(path: str | Path, frame: Any) -> Path:
    """`atomic_write` of a pandas DataFrame as CSV, without its index."""
    return atomic_write(path, frame.to_csv(index=False))
