"""The replay table: a complete fifo run's every trial, config and learning curve to
``max_t``, with the seconds of each iteration and what starting each trial cost (see
`hpotk.replay.simulation` for how the clock reads them)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk._plain import plain
from hpotk.errors import HpotkError

#: history columns that are bookkeeping, not metrics
_BOOKKEEPING = {"trial_id", "iteration", "time_s", "timestamp", "time_this_iter_s",
                "time_total_s", "node", "training_iteration", "done", "event", "date",
                "hostname", "pid", "experiment_tag", "time_since_restore",
                "iterations_since_restore", "timesteps_total", "episodes_total",
                "timesteps_since_restore", "should_checkpoint", "checkpoint_dir_name"}
#: a trial's curve as read: its results 1..max_t, the seconds of each, when it reported its first
_Curve = tuple[list[dict[str, Any]], list[float], float]


@dataclass
class Recorded:
    """One recorded trial: its config and its whole learning curve.

    Attributes:
        trial_id: the trial's id in the recorded experiment.
        config: the config it ran (tuned and fixed values).
        results: the metrics it reported after iterations 1..max_t (bookkeeping left out).
        iter_s: the seconds each of those iterations took.
        setup_s: what starting it cost, up to its first iteration (see the module docstring).
    """

    trial_id: str
    config: dict[str, Any]
    results: list[dict[str, Any]]
    iter_s: list[float]
    setup_s: float


@dataclass
class Table:
    """A complete experiment, ready to replay: every trial's curve to ``max_t``.

    Attributes:
        path: the recorded results directory.
        meta: its `hpotk.results.Results.meta`.
        metric, mode: the objective.
        max_t: the iterations every trial ran.
        params: the tuned params' names.
        trials: the recorded trials, in the order they started.
        launch_s: when the first trial started (the experiment's own start-up before it).
        ready_s: when each of the recording's workers took its first trial, after launch_s
            (the first is 0: workers come up one after another on a loaded machine).
    """

    path: Path
    meta: dict[str, Any]
    metric: str
    mode: str
    max_t: int
    params: list[str]
    trials: list[Recorded]
    launch_s: float
    ready_s: list[float] = field(default_factory=lambda: [0.0])

    def key(self, config: Mapping[str, Any]) -> tuple:
        """A config's identity in the table: its tuned values, floats to 10 significant digits."""
        return tuple(normal_value(config.get(name)) for name in self.params)

    def find(self, config: Mapping[str, Any]) -> Recorded | None:
        """The recorded trial of ``config``, or None if the table never ran it."""
        return self._index().get(self.key(config))

    def lookup(self, config: Mapping[str, Any]) -> Recorded:
        """The recorded trial of ``config``; HpotkError naming it if the table never ran it."""
        found = self.find(config)
        if found is None:
            shown = {name: config.get(name) for name in self.params}
            raise HpotkError(
                f"config {shown} is not in the replay table {self.path} ({len(self.trials)} "
                f"recorded configs): replay can only show what a recorded trial did. Record it "
                f"(run it with fifo), or replay a searcher that draws from the table (random)")
        return found

    def _index(self) -> dict[tuple, Recorded]:
        if not hasattr(self, "_by_key"):
            self._by_key = {self.key(t.config): t for t in self.trials}
        return self._by_key

    def scaled(self, factor: float) -> Table:
        """The table with every recorded iteration and setup ``factor`` times as long: what the
        schedulers would do on a machine that slow (a loaded one), e.g. `time_ratio` of real
        runs made under other load than the recording."""
        import dataclasses

        if not factor > 0:
            raise HpotkError(f"a time scale must be > 0, got {factor}")
        trials = [dataclasses.replace(t, iter_s=[s * factor for s in t.iter_s],
                                      setup_s=t.setup_s * factor) for t in self.trials]
        return dataclasses.replace(self, trials=trials)

    def nearest(self, config: Mapping[str, Any]) -> Recorded:
        """The recorded trial nearest to ``config`` in the space normalised to [0, 1] per
        param (log params on a log scale, choices by their position)."""
        def position(name: str, value: Any) -> float:
            p = (self.meta.get("params") or {}).get(name) or {}
            choices = p.get("choices")
            if choices:
                keys = [normal_value(c) for c in choices]
                v = normal_value(value)
                return keys.index(v) / max(len(keys) - 1, 1) if v in keys else 0.5
            low, high, x = as_number(p.get("low")), as_number(p.get("high")), as_number(value)
            if low is None or high is None or x is None or high <= low:
                return 0.0 if x is None else x
            if p.get("scale") == "log" and low > 0 and x > 0:
                return (math.log(x) - math.log(low)) / (math.log(high) - math.log(low))
            return (x - low) / (high - low)

        target = [position(n, config.get(n)) for n in self.params]
        return min(self.trials, key=lambda t: sum(
            (position(n, t.config.get(n)) - x) ** 2 for n, x in zip(self.params, target,
                                                                    strict=True)))

    @property
    def iteration_s(self) -> float:
        """Mean recorded seconds per iteration (for messages)."""
        seconds = [s for t in self.trials for s in t.iter_s]
        return sum(seconds) / max(len(seconds), 1)


def recorded_checkpoint_s(table: Table) -> float | None:
    """What a checkpoint cost in the recording, if it checkpointed (``checkpoint.every`` E):
    the mean over trials of the seconds of each E-th iteration beyond the median of the
    trial's other iterations; None if the recording never checkpointed."""
    import statistics

    every = int(((table.meta.get("experiment") or {}).get("checkpoint") or {}).get("every") or 0)
    if every < 1 or every > table.max_t:
        return None
    excess = []
    for t in table.trials:
        marked = [s for i, s in enumerate(t.iter_s, start=1) if i % every == 0]
        others = [s for i, s in enumerate(t.iter_s, start=1) if i % every and i > 1]
        if marked and others:
            excess.append(max(0.0, statistics.fmean(marked) - statistics.median(others)))
    return statistics.fmean(excess) if excess else None


def pool_tables(tables: list[Table], path: Path) -> Table:
    """One table of several recordings of the same experiment (a study's real baseline
    repeats): every trial of each, ids prefixed by the recording's position, clock and
    metadata of the first."""
    import dataclasses

    if not tables:
        raise HpotkError("no recorded runs to pool into a table")
    first = tables[0]
    trials = [dataclasses.replace(t, trial_id=f"{k}:{t.trial_id}")
              for k, table in enumerate(tables) for t in table.trials]
    return dataclasses.replace(first, path=Path(path), trials=trials)


def load_table(source: str | Path | Any, *, complete_only: bool = False) -> Table:
    """The replay table of a results directory (or an already loaded `Results`).

    ``source`` may be a table archive (`pack`, ``.tar.gz``), unpacked once into the data cache.
    ``complete_only``: leave out the trials that did not run to ``max_t`` instead of refusing.
    Refuses (HpotkError) an experiment that is still running, and one whose trials did not all
    run to ``max_t``, naming the incomplete ones: a scheduler in replay may let any trial run to
    the end, so every curve must be whole.
    """
    from hpotk import results as results_module

    archive = None
    if not isinstance(source, results_module.Results) and is_archive(source):
        archive, source = Path(source), unpack(source)
    res = source if isinstance(source, results_module.Results) else results_module.load(source)
    if archive is not None:
        res.path = archive  # messages and outputs name the archive the user gave
    where = res.path
    if res.status == "running":
        raise HpotkError(f"{where}: the experiment is still running; replay needs a finished one "
                         f"in which every trial ran to max_t")
    max_t = int((res.meta.get("budget") or {}).get("max_t") or 0)
    if max_t < 1:
        raise HpotkError(f"{where}: its budget names no max_t; cannot tell whole curves from "
                         f"stopped ones")
    trials = res.trials
    if trials is None or len(trials) == 0:
        raise HpotkError(f"{where} holds no trials to replay")
    curves = _whole_curves(res, max_t, complete_only=complete_only)
    params = res.param_names
    rows = trials.to_dict("records")
    starts = {str(r["trial_id"]): as_number(r.get("start_s")) for r in rows}
    ends = {str(r["trial_id"]): as_number(r.get("end_s")) for r in rows}
    order = sorted(curves, key=lambda t: (starts[t] if starts[t] is not None else math.inf))
    known = [starts[t] for t in order if starts[t] is not None]
    launch = min(known) if known else 0.0
    concurrent = int((res.meta.get("budget") or {}).get("concurrent") or 1)
    recorded = []
    for position, tid in enumerate(order):
        results_list, iter_s, first_at = curves[tid]
        start = starts[tid] if starts[tid] is not None else first_at - iter_s[0]
        free = start
        if position >= concurrent:  # its worker became free when an earlier trial ended
            before = [ends[o] for o in order[:position] if ends[o] is not None
                      and ends[o] <= start + 1e-9]
            if before:
                free = max(before)
        setup = max(0.0, first_at - iter_s[0] - free)
        row = next(r for r in rows if str(r["trial_id"]) == tid)
        config = {k[len("config/"):]: plain(v) for k, v in row.items()
                  if k.startswith("config/") and not is_missing(v)}
        recorded.append(Recorded(tid, config, results_list, iter_s, setup))
    firsts = sorted(starts[t] for t in order[:concurrent] if starts[t] is not None) or [launch]
    ready = [max(0.0, f - launch) for f in firsts]
    return Table(where, res.meta, res.metric, res.mode, max_t, params, recorded,
                 float(launch), ready)


def _whole_curves(res: Any, max_t: int, *, complete_only: bool = False) -> dict[str, _Curve]:
    """Every trial's `_curve`, by trial id; HpotkError naming the trials that did not run to
    ``max_t`` (or left an iteration or the metric out). ``complete_only``: leave those out
    instead (a time-budgeted fifo run, whose last trials the budget cut), unless none is left."""
    where, metric, trials = res.path, res.metric, res.trials
    history = res.history
    by_trial = {tid: frame for tid, frame in history.groupby("trial_id", sort=False)} \
        if len(history) else {}
    incomplete: list[str] = []
    curves: dict[str, _Curve] = {}
    for row in trials.to_dict("records"):
        tid = str(row["trial_id"])
        frame = by_trial.get(row["trial_id"])
        status = str(row.get("status"))
        got = _curve(frame, metric, max_t) if frame is not None else None
        n = int(row.get("iterations") or 0)
        if status != "COMPLETED" or got is None:
            incomplete.append(f"{tid} ({status}, {n}/{max_t} iterations)")
            continue
        curves[tid] = got
    if incomplete and complete_only and curves:
        return curves
    if incomplete:
        shown = ", ".join(incomplete[:8]) + (f" and {len(incomplete) - 8} more"
                                              if len(incomplete) > 8 else "")
        raise HpotkError(
            f"{where} cannot be replayed: {len(incomplete)} of {len(trials)} trials did not run "
            f"to max_t={max_t}: {shown}. Replay needs every trial's whole learning curve: record "
            f"the table with strategy fifo/random and no time budget (e.g. hpotk run FILE --set "
            f"strategy=fifo/random --set budget.time_s=null)")
    return curves


def _curve(frame: Any, metric: str, max_t: int) -> _Curve | None:
    """A trial's results 1..max_t (the last report of each iteration), the seconds of each, and
    when it reported its first; None if any iteration or the metric is missing."""
    rows = frame.to_dict("records")
    last: dict[int, int] = {}
    for position, row in enumerate(rows):
        if is_missing(row.get("iteration")):
            continue
        last[int(row["iteration"])] = position
    if any(i not in last for i in range(1, max_t + 1)):
        return None
    # a metric the trial reported keeps its NaN where it diverged (the schedulers saw NaN); a
    # column the trial never reported (another trial's metric) is left out
    reported = {k for row in rows for k, v in row.items() if not is_missing(v)}
    if metric not in reported:
        return None
    results, seconds = [], []
    for i in range(1, max_t + 1):
        row = rows[last[i]]
        if metric not in row:
            return None
        results.append({k: plain(v) for k, v in row.items()
                        if k in reported and k not in _BOOKKEEPING and not k.startswith("config/")
                        and v is not None and not isinstance(v, str)})
        own = as_number(row.get("time_this_iter_s"))
        gap = None
        if i > 1 and last[i - 1] < last[i]:
            gap = as_number(row.get("time_s")) - as_number(rows[last[i - 1]].get("time_s"))
        if gap is not None and gap >= 0 and (own is None or gap <= 5 * own + 5):
            seconds.append(gap)
        else:
            seconds.append(max(own or 0.0, 0.0))
    first = rows[last[1]]
    first_at = as_number(first.get("time_s"))
    if first_at is None:
        first_at = sum(seconds[:1])
    if seconds[0] <= 0:
        seconds[0] = max(as_number(first.get("time_this_iter_s")) or 0.0, 0.0)
    return results, seconds, first_at


def is_missing(value: Any) -> bool:
    """None or NaN: a cell the results did not fill."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def as_number(value: Any) -> float | None:
    """``value`` as a float; None if it is missing or not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def normal_value(value: Any) -> Any:
    """A value as the table compares it: plain, numbers as floats to 10 significant digits,
    numeric strings as numbers, sequences as tuples."""
    value = plain(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if number == 0 or not math.isfinite(number):
            return number
        return float(f"{number:.10g}")
    if isinstance(value, (list, tuple)):
        return tuple(normal_value(v) for v in value)
    if isinstance(value, str):
        try:
            return normal_value(float(value))
        except ValueError:
            return value
    return value


#: what a table archive holds of a results directory (the summary files and the provenance)
ARCHIVED = (layout.STATE, layout.EXPERIMENT, layout.TRIALS_CSV, layout.HISTORY_CSV,
            layout.PLAN_TEXT, layout.TABLE_PROVENANCE)


def is_archive(source: str | Path) -> bool:
    """Whether ``source`` names a table archive (a ``.tar.gz`` file)."""
    return str(source).endswith(".tar.gz")


def unpack(archive: str | Path) -> Path:
    """The directory a table archive unpacks to, under the data cache (`hpotk.data.cache`),
    keyed by the archive's content: unpacked once, read many times."""
    import hashlib
    import tarfile

    from hpotk.data.cache import data_dir

    archive = Path(archive)
    if not archive.is_file():
        raise HpotkError(f"no table archive {archive} (no such file)")
    digest = hashlib.sha1(archive.read_bytes()).hexdigest()[:16]
    target = data_dir() / "tables" / digest
    if (target / layout.STATE).is_file():
        return target
    partial = target.with_name(f"{digest}.partial")
    import shutil

    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).name in ARCHIVED]
            for m in members:
                m.name = Path(m.name).name
            tar.extractall(partial, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise HpotkError(f"{archive} is not a readable table archive ({exc}); make one with "
                         f"`hpotk replay pack RESULTS_DIR {archive}`") from None
    if not (partial / layout.STATE).is_file():
        shutil.rmtree(partial, ignore_errors=True)
        raise HpotkError(f"{archive} holds no {layout.STATE}: not a table archive; make one with "
                         f"`hpotk replay pack RESULTS_DIR {archive}`")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def pack(results_dir: str | Path, archive: str | Path, *, note: str = "") -> Path:
    """Write a table archive of a complete fifo run: its summary files (`ARCHIVED`) and a
    ``provenance.json`` (hpotk version, data spec, trainable, machine, when, ``note``). Checks
    first that the run replays (`load_table`)."""
    import io
    import json
    import platform
    import tarfile
    import time as time_module

    from hpotk import __version__

    table = load_table(results_dir)
    directory = Path(results_dir)
    experiment = table.meta.get("experiment") or {}
    seconds = [s for t in table.trials for s in t.iter_s]
    provenance = {
        "hpotk": __version__, "made": time_module.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "source": str(directory.resolve()), "trainable": experiment.get("trainable"),
        "data": experiment.get("data"), "space": table.meta.get("params"),
        "metric": table.metric, "mode": table.mode, "max_t": table.max_t,
        "trials": len(table.trials), "concurrent": (table.meta.get("budget") or {}).get(
            "concurrent"),
        "recorded_s": (table.meta.get("finished") or 0) - (table.meta.get("started") or 0),
        "iteration_s": {"mean": sum(seconds) / max(len(seconds), 1), "min": min(seconds),
                        "max": max(seconds)},
        "machine": {"host": platform.node(), "cpu": platform.processor() or platform.machine(),
                    "cores": __import__("os").cpu_count(), "python": platform.python_version(),
                    "system": platform.platform()},
        "note": note,
    }
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w:gz", compresslevel=9) as tar:
        for name in ARCHIVED[:-1]:
            if (directory / name).is_file():
                tar.add(directory / name, arcname=name)
        data = (json.dumps(provenance, indent=2, default=str) + "\n").encode()
        info = tarfile.TarInfo(layout.TABLE_PROVENANCE)
        info.size, info.mtime = len(data), int(time_module.time())
        tar.addfile(info, io.BytesIO(data))
    partial.replace(archive)
    return archive
