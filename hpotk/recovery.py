"""What a resume must not redo, and what a retry leaves behind (reads files; imports Ray only
to append a kept trial's missing results).

Tune saves the experiment's state (``experiment_state-*.json``) only every so often
(``TUNE_GLOBAL_CHECKPOINT_S``; by default at least every 10 s, longer when saving is slow). A
driver killed in between (``kill -9``, the OOM killer, a node reboot) leaves a state in which
trials that finished since the last save still look pending or running, and a plain
``Tuner.restore`` would run them again. hpotk's own ``finished.jsonl`` is appended the moment a
trial ends, so `keep_finished` marks those trials finished in the saved state, with their last
result, before Tune restores it: a completed trial is never run twice and never lost.

Tune writes a trial's ``result.json`` and ``progress.csv`` on the driver in a staging directory
(under Ray's session directory) and copies them into the results directory only when it saves its
state, so after a kill those copies can lack the trial's last results, its final one among them.
hpotk's ``history.jsonl`` is appended and flushed as each result arrives: `keep_finished` takes a
kept trial's last result from it, and appends what the trial's files lack.

`failures` reads the causes of a trial's failures from its ``error.txt`` (Tune appends one entry
per failure, including those it retried under ``max_failures``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hpotk import layout

FINISHED_LOG = layout.FINISHED_LOG
HISTORY_LOG = layout.HISTORY_LOG
TRIAL_JOURNAL = layout.TRIAL_JOURNAL  # written by hpotk._tune_save.TrialJournal
SNAPSHOT = layout.SEARCHER_SNAPSHOT
TERMINAL = ("TERMINATED", "ERROR")


def finished_trials(results_dir: Path) -> dict[str, str]:
    """trial id -> final status (TERMINATED / ERROR) from ``finished.jsonl``."""
    out: dict[str, str] = {}
    for entry in layout.iter_jsonl(Path(results_dir) / FINISHED_LOG):
        if entry.get("status") in TERMINAL:
            out[str(entry.get("trial_id"))] = entry["status"]
    return out


def latest_state_file(results_dir: Path) -> Path | None:
    """The ``experiment_state-*.json`` Tune restores: the greatest name (each driver's file is
    named by its start time), as Tune's ``_find_newest_experiment_checkpoint`` chooses. Not the
    newest by mtime: Tune's sync rewrites every state file of a directory at each save, in no
    set order."""
    files = sorted(Path(results_dir).glob("experiment_state-*.json"), key=lambda p: p.name)
    return files[-1] if files else None


def _last_result(trial_dir: Path, trial_id: str) -> dict[str, Any] | None:
    last = None
    for entry in layout.iter_jsonl(trial_dir / layout.TUNE_RESULT):
        if entry.get("trial_id") == trial_id:
            last = entry
    return last


#: keys of a history.jsonl result line that are hpotk's, not the trial's result
_HISTORY_ONLY = ("event", "time", "slurm_node")


def _logged_results(results_dir: Path, trial_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The results of ``trial_ids`` from ``history.jsonl``, in the order they arrived, each in
    the form of a ``result.json`` line. Read line by line: the log can be large."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in layout.iter_jsonl(results_dir / HISTORY_LOG):
        trial_id = entry.get("trial_id")
        if entry.get("event") != "result" or trial_id not in trial_ids:
            continue
        out.setdefault(trial_id, []).append(
            {k: v for k, v in entry.items() if k not in _HISTORY_ONLY})
    return out


def _same_result(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("training_iteration", "timestamp"))


def _missing(logged: list[dict[str, Any]], last: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The results in ``logged`` after ``last`` (the last one the trial's result.json has)."""
    if last is None:
        return logged
    for i in range(len(logged) - 1, -1, -1):
        if _same_result(logged[i], last):
            return logged[i + 1:]
    # not found (a log from before hpotk kept one): at least the final result
    final = logged[-1] if logged else None
    if final and (final.get("training_iteration") or 0) > (last.get("training_iteration") or 0):
        return [final]
    return []


def _append_results(trial_dir: Path, results: list[dict[str, Any]]) -> None:
    """Append ``results`` to the trial's result.json and (in its columns) progress.csv."""
    import csv

    from ray.tune.utils import flatten_dict  # Tune's CSV logger flattens rows the same way

    if not results or not trial_dir.is_dir():
        return
    layout.append_jsonl(trial_dir / layout.TUNE_RESULT, results, default=None)
    progress = trial_dir / layout.TUNE_PROGRESS
    if progress.exists() and progress.stat().st_size:
        with open(progress, newline="") as f:
            header = next(csv.reader(f), None)
        if header:
            with open(progress, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
                for result in results:
                    writer.writerow(flatten_dict(dict(result), delimiter="/"))


def keep_finished(results_dir: Path) -> dict[str, dict[str, Any] | None]:
    """Add to Tune's last saved state the trials created since (`add_journaled`), and mark the
    trials that ``finished.jsonl`` says ended, but that state does not, as ended in it
    (atomically rewritten). Returns their trial ids and last results (for
    `complete_after_restore`)."""
    results_dir = Path(results_dir)
    finished = finished_trials(results_dir)
    state_file = latest_state_file(results_dir)
    if state_file is None or not (finished or (results_dir / TRIAL_JOURNAL).exists()):
        return {}
    try:
        state = json.loads(state_file.read_text())
    except ValueError:
        return {}  # `repair_state` found no good copy of it either
    journaled = add_journaled(results_dir, state, state_file)
    kept: dict[str, dict[str, Any] | None] = {}
    to_keep = []
    for entry in state.get("trial_data", []):
        trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
        status = finished.get(trial.get("trial_id"))
        if status is not None and trial.get("status") not in TERMINAL:
            to_keep.append((entry, trial, status))
    logged = _logged_results(results_dir, {trial["trial_id"] for _, trial, _ in to_keep})
    for entry, trial, status in to_keep:
        trial_id = trial["trial_id"]
        trial["status"] = status
        entry[0] = json.dumps(trial) if isinstance(entry[0], str) else trial
        meta = json.loads(entry[1]) if isinstance(entry[1], str) else entry[1]
        trial_dir = results_dir / str(trial.get("relative_logdir", trial_id))
        if trial_id in journaled:  # Tune never copied its files here: they start from history
            trial_dir.mkdir(parents=True, exist_ok=True)
        last = _last_result(trial_dir, trial_id)
        missing = _missing(logged.get(trial_id, []), last)
        _append_results(trial_dir, missing)  # what Tune had not copied from its staging dir
        last = missing[-1] if missing else last
        if last is not None and isinstance(meta, dict):
            meta["last_result"] = last
            entry[1] = json.dumps(meta) if isinstance(entry[1], str) else meta
        kept[trial_id] = last if status == "TERMINATED" else None
    if kept or journaled:
        layout.atomic_write(state_file, json.dumps(state))
    return kept


def _session_of(state_file: Path) -> str:
    return state_file.name[len("experiment_state-"):-len(".json")]


def add_journaled(results_dir: Path, state: dict[str, Any], state_file: Path) -> set[str]:
    """Add to ``state`` (Tune's last saved experiment state, read from ``state_file``) the trials
    that the last driver created after that save, from ``tune-trials.jsonl``, and put in place
    the searcher files of its last snapshot, which cover exactly those trials. Returns the
    trial ids added.

    Done only where the snapshot is no older than the state: from the driver that wrote the
    state, covering at least its trials, or from a later driver (one killed before any save of
    its own reached the results directory). A trial journaled after the snapshot is dropped:
    the restored searcher creates it again (it cannot have reported yet). Running it twice adds
    nothing: trials already in the state are skipped, and the snapshot is written again as it
    was.
    """
    import pickle

    path = results_dir / BACKUP_DIR / SNAPSHOT
    if not path.exists():
        return set()
    try:
        snapshot = pickle.loads(path.read_bytes())
        session, covers, files = snapshot["session"], snapshot["covers"], snapshot["files"]
    except Exception:  # noqa: BLE001 - a damaged snapshot: Tune's own save applies
        return set()
    trial_data = state.get("trial_data", [])
    state_session = _session_of(state_file)
    if session < state_session or (session == state_session and covers < len(trial_data)):
        return set()  # Tune saved after the snapshot: its state and searcher are newer
    known = {_trial_id(entry) for entry in trial_data}
    added: set[str] = set()
    for line in layout.iter_jsonl(results_dir / TRIAL_JOURNAL):
        if (line.get("session") != session or line.get("index", covers) >= covers
                or line.get("trial_id") in known or "state" not in line):
            continue
        trial_data.append([line["state"], line.get("metadata") or "{}"])
        known.add(line["trial_id"])
        added.add(line["trial_id"])
    if not added:  # Tune's own searcher files are as new, and have seen more results
        return added
    for name, data in files.items():
        layout.atomic_write(results_dir / name, data)
    return added


def _trial_id(entry: list) -> str | None:
    trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
    return trial.get("trial_id")


#: Tune's state files in a results directory, and where hpotk keeps their last good copies
TUNE_STATE_PATTERNS = ("experiment_state-*.json", "*-state-*.json", "search_gen_state-*.json",
                       "searcher-state-*.pkl")
BACKUP_DIR = layout.TUNE_STATE_BACKUP


def _readable(path: Path) -> bool:
    """Non-empty, and parses: not a file a kill cut short. Tune writes the experiment state as
    JSON but a searcher's state as a (cloud)pickle, also under a ``.json`` name
    (``basic-variant-state-*.json``): either form counts."""
    import pickle

    try:
        data = path.read_bytes()
    except OSError:
        return False
    if not data:
        return False
    try:
        json.loads(data)
        return True
    except ValueError:
        pass
    try:
        pickle.loads(data)
    except Exception:  # noqa: BLE001 - any failure to unpickle means a damaged file
        return False
    return True


def _state_files(directory: Path) -> list[Path]:
    return sorted({p for pattern in TUNE_STATE_PATTERNS for p in Path(directory).glob(pattern)
                   if p.is_file()})


def back_up_state(results_dir: Path) -> None:
    """Copy Tune's state files, where readable, to ``.hpotk-tune-state/`` (each atomically).

    Tune writes and syncs them in place: a driver killed meanwhile leaves them empty or cut
    short, and Tune cannot restore. `repair_state` puts these copies back.
    """
    backup = Path(results_dir) / BACKUP_DIR
    for path in _state_files(results_dir):
        if _readable(path):
            layout.atomic_write(backup / path.name, path.read_bytes())


def repair_state(results_dir: Path) -> list[str]:
    """Replace Tune state files that a kill left empty or cut short by their last good copies
    (`back_up_state`); move aside (``.corrupt``) those without one. Returns what was done."""
    import shutil

    results_dir = Path(results_dir)
    done = []
    for path in _state_files(results_dir):
        if _readable(path):
            continue
        copy = results_dir / BACKUP_DIR / path.name
        if copy.exists() and _readable(copy):
            shutil.copyfile(copy, path)
            done.append(f"{path.name}: restored from its last good copy")
        else:
            path.replace(path.with_name(path.name + ".corrupt"))
            done.append(f"{path.name}: unreadable, moved aside")
    return done


def complete_after_restore(search_alg: Any, kept: dict[str, dict[str, Any] | None]) -> None:
    """Tell ``search_alg``, once Tune has restored its saved state, that the ``kept`` trials
    ended: its saved state still counts them as live (a `ConcurrencyLimiter` would wait for
    them forever, a model-based searcher would miss their results).

    Tune restores the wrappers' state (`ConcurrencyLimiter`...) first and then calls the
    innermost searcher's ``restore_from_dir`` when the run starts; this wraps that call on the
    instance, once, and tells the outermost searcher (which tells the ones it wraps).
    """
    if search_alg is None or not kept:
        return
    base = search_alg
    while hasattr(base, "searcher"):
        base = base.searcher
    if not hasattr(base, "restore_from_dir"):
        return
    original = base.restore_from_dir

    def restore_then_complete(dirpath: str) -> None:
        del base.restore_from_dir  # the instance is pickled again later: no closure on it
        original(dirpath)
        for trial_id, result in kept.items():
            search_alg.on_trial_complete(trial_id, result=result, error=result is None)

    base.restore_from_dir = restore_then_complete


def disk_full_error(exc: BaseException, results_dir: Path) -> Any:
    """An `HpotkError` saying the disk is full, if ``exc`` (or what caused it) is ENOSPC or
    EDQUOT; None otherwise. Marks the run interrupted (if the state can still be written) and
    lets go of the directory's lock, so the same command resumes once there is space."""
    import errno

    from hpotk import state as run_state
    from hpotk.errors import HpotkError

    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            break
        cause = cause.__cause__ or cause.__context__
    else:
        text = str(exc)
        if "No space left on device" not in text and "Disk quota exceeded" not in text:
            return None
        cause = None
    where = getattr(cause, "filename", None) or results_dir
    try:
        run_state.record_end(Path(results_dir), "interrupted", reason="the disk was full")
    except OSError:
        run_state.release(Path(results_dir))
    return HpotkError(f"the disk is full (no space left writing {where}): the experiment is "
                      f"saved up to Tune's last state; free some space, then run the same "
                      f"command again to resume it")


_FAILURE = re.compile(r"^Failure # \d+ \(occurred at [^)]*\)$", re.M)
_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*)$")


def failures(trial_dir: Path) -> list[str]:
    """One line per failure in the trial's ``error.txt``: its exception (``ValueError: ...``,
    ``ray.exceptions.ActorDiedError: ...``), else the entry's first line."""
    path = Path(trial_dir) / layout.TUNE_ERROR
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    starts = [m.end() for m in _FAILURE.finditer(text)]
    ends = [m.start() for m in _FAILURE.finditer(text)][1:] + [len(text)]
    out = []
    for start, end in zip(starts, ends, strict=True):
        lines = [line for line in text[start:end].splitlines() if line.strip()]
        causes = [m.group(1).strip() for line in lines if (m := _EXCEPTION_LINE.match(line))]
        out.append((causes[-1] if causes else lines[0].strip() if lines else "unknown")[:300])
    return out


def repoint_search_state(results_dir: Path) -> int:
    """Point the trials Ray's random/grid searcher has yet to create at this results directory.

    Ray saves ``BasicVariantGenerator``'s trial iterators with the experiment's storage context
    in their spec, and a restore does not update it: in a results directory that moved (another
    machine, another path), trials created after the resume would checkpoint to the old path
    and fail ("Unable to set up cluster storage"). Rewrites each saved state's storage to
    ``results_dir``; returns how many iterators it re-pointed.
    """
    import ray.cloudpickle as cloudpickle

    results_dir = Path(results_dir).resolve()
    moved = 0
    for path in sorted(results_dir.glob(layout.TUNE_SEARCH_STATE)):
        try:
            state = cloudpickle.loads(path.read_bytes())
        except Exception:  # noqa: BLE001 - not ours to judge: Ray reports what it cannot read
            continue
        changed = False
        for iterator in (state or {}).get("_iterators", []) if isinstance(state, dict) else []:
            storage = (getattr(iterator, "unresolved_spec", None) or {}).get("storage")
            if storage is None or not hasattr(storage, "storage_fs_path"):
                continue
            if (storage.storage_fs_path, storage.experiment_dir_name) != (
                    str(results_dir.parent), results_dir.name):
                storage.storage_fs_path = str(results_dir.parent)
                storage.experiment_dir_name = results_dir.name
                changed = True
                moved += 1
        if changed:
            layout.atomic_write(path, cloudpickle.dumps(state))
    return moved
