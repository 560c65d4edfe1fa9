"""The one reader of a results directory: trials, every trial's history, and the metadata.

``load(dir) -> Results`` reads complete, interrupted and running experiments alike:

- a finished run (complete, interrupted, failed) left ``trials.csv`` and ``history.csv``,
  written by the runner at its end;
- a running (or killed) one has only hpotk's live logs, ``history.jsonl`` (every trial start and
  every reported result, appended as it happens) and ``finished.jsonl`` (every trial end): the
  trials table is rebuilt from them;
- a directory from before hpotk kept those logs falls back to Ray's per-trial ``result.json``
  files (this module is the only place that reads them).

`Results.freshness` says which of these was read and how old the newest record is;
`Results.nodes` holds the Ray nodes joining and leaving (``nodes.jsonl``), and `live_status`
reads what the driver last said (``status.json``, `hpotk status`). Nothing else
in hpotk parses a results directory: ``hpotk best``, ``report``, ``study`` and ``schedule`` all
come through here. Only pandas is needed (no Ray), so reading is fast on a login node.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpotk import layout
from hpotk._plain import plain
from hpotk.errors import HpotkError

HISTORY_LOG = layout.HISTORY_LOG
FINISHED_LOG = layout.FINISHED_LOG
HISTORY_CSV = layout.HISTORY_CSV
TRIALS_CSV = layout.TRIALS_CSV
STATE_FILE = layout.STATE
PLAN_TEXT = layout.PLAN_TEXT

#: trial statuses: the five a finished trial can have, and the two of one that has not ended
STATUSES = ("COMPLETED", "STOPPED", "EARLY_STOPPED", "TIMEOUT", "ERROR", "RUNNING", "UNFINISHED")


@dataclass
class Freshness:
    """How current what was read is.

    Attributes:
        source: "summary" (trials.csv and history.csv, written when a run ended), "live"
            (hpotk's live logs of a running or killed run), "ray" (Ray's per-trial files,
            for directories without hpotk's logs) or "replay" (made in memory by
            `hpotk.replay`, in simulated time; ``as_of`` is then the simulated end).
        as_of: Unix time of the newest record read (None if there is none).
        read_at: Unix time of the reading.
    """

    source: str
    as_of: float | None
    read_at: float

    @property
    def age_s(self) -> float | None:
        return None if self.as_of is None else max(0.0, self.read_at - self.as_of)

    def describe(self) -> str:
        what = {"summary": "the summary written when the run ended",
                "live": "hpotk's live logs", "ray": "Ray's per-trial files",
                "replay": "a replay in simulated time"}[self.source]
        if self.source == "replay":
            return f"{what} (not a real run)"
        if self.as_of is None:
            return f"read from {what}; no results yet"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.as_of))
        return f"read from {what}; newest record {stamp} ({self.age_s:.0f} s before reading)"


@dataclass
class Results:
    """An experiment's results.

    Attributes:
        path: the results directory.
        meta: name, metric, mode, strategy, scheduler, searcher, budget, seed, plan (`hpotk
            plan`'s text), started / finished (Unix times), status (complete, interrupted,
            failed, running), nodes, params (kind, scale, bounds, choices of each tuned param),
            experiment (the resolved experiment file).
        trials: one row per trial: ``trial_id``, ``status`` (see `STATUSES`), ``config/<p>``,
            the objective's final value and ``best_<metric>``, other final metrics,
            ``iterations``, ``time_s``, ``node``, ``error``, and ``start_s`` / ``end_s``
            (seconds since the experiment started; NaN where unknown).
        history: one row per reported result, in the order reported: ``trial_id``,
            ``iteration`` (Tune's training_iteration), ``time_s`` (seconds since the
            experiment started), ``timestamp`` (Unix time), ``time_this_iter_s``,
            ``time_total_s``, every reported metric, ``config/<p>`` (the config in force at that
            result), ``node``. A trial restored from a checkpoint (a resume, PBT's exploit) may
            report an iteration again: rows are kept as reported.
        freshness: which files were read and how old the newest record is.
        nodes: one row per Ray node joining or leaving the cluster (``nodes.jsonl``, the
            driver's `hpotk._tune_callbacks.NodeLog`), in order: ``event`` (join, leave),
            ``time`` (Unix), ``time_s`` (seconds since the experiment started), ``node`` (the
            Slurm node's name, else the host), ``node_ip``, ``cpus``, ``gpus``, ``node_id``
            (Ray's), ``initial`` (written when a run started: present then, or gone since the
            last run). Empty for runs without the log.
    """

    path: Path
    meta: dict[str, Any]
    trials: Any  # pandas.DataFrame
    history: Any  # pandas.DataFrame
    freshness: Freshness
    events: list[dict[str, Any]] = field(default_factory=list)
    nodes: Any = None  # pandas.DataFrame; None: no log (an empty frame after construction)

    def __post_init__(self) -> None:
        if self.nodes is None:
            self.nodes = _nodes_frame([], float(self.meta.get("started") or 0.0))

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.path.name)

    @property
    def metric(self) -> str:
        return str(self.meta["metric"])

    @property
    def mode(self) -> str:
        return str(self.meta.get("mode", "min"))

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "unknown"))

    @property
    def params(self) -> dict[str, dict[str, Any]]:
        """Tuned params: name -> {kind, scale, low, high, choices, role}."""
        return dict(self.meta.get("params") or {})

    @property
    def param_names(self) -> list[str]:
        names = list(self.params)
        if names:
            return [n for n in names if f"config/{n}" in self.trials.columns]
        return [c[len("config/"):] for c in self.trials.columns if c.startswith("config/")
                and self.trials[c].nunique(dropna=True) > 1]

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """Every objective as (name, mode); the first is `metric`."""
        return list(self.meta.get("objectives") or [(self.metric, self.mode)])

    def feasible(self) -> Any:
        """The trials that break no constraint (all of them without constraints)."""
        if "feasible" not in self.trials:
            return self.trials
        return self.trials[self.trials["feasible"].astype(bool)]

    def front(self) -> Any:
        """The Pareto-optimal trials (several objectives; `mark_objectives`), a DataFrame."""
        if "pareto" not in self.trials:
            return self.trials.head(0)
        return self.trials[self.trials["pareto"].astype(bool)]

    def best(self) -> dict[str, Any] | None:
        """The best feasible trial by its best objective value (the primary objective's): a
        row of `trials` as a dict, or None."""
        key = f"best_{self.metric}"
        trials = self.feasible()
        if key not in trials or trials[key].notna().sum() == 0:
            return None
        scored = trials[trials[key].notna()]
        index = scored[key].idxmin() if self.mode == "min" else scored[key].idxmax()
        return {k: _plain(v) for k, v in scored.loc[index].items()}

    def top(self, k: int = 10) -> Any:
        """The ``k`` best trials by their best objective value (a DataFrame)."""
        key = f"best_{self.metric}"
        trials = self.feasible()
        if key not in trials:
            return trials.head(0)
        return trials[trials[key].notna()].sort_values(
            key, ascending=self.mode == "min").head(k)

    def trial_history(self, trial_id: str) -> Any:
        return self.history[self.history["trial_id"] == trial_id]

    def node_spans(self) -> Any:
        """When each node (by name) was in the cluster, from `nodes`: one row per span,
        ``node``, ``join_s``, ``leave_s`` (seconds since the experiment started; NaN: still
        there when the log ends), ``at_start`` (there when the experiment started) and
        ``changed`` (the join is a change worth showing: not a node there from the start, nor
        the same node back under a new Ray id when a resumed run restarted Ray)."""
        import pandas as pd

        open_ids: dict[str, str] = {}  # Ray node id -> node name, for the nodes there now
        spans: list[dict[str, Any]] = []
        current: dict[str, dict[str, Any]] = {}  # node name -> its open span
        first_batch = None
        for row in self.nodes.itertuples(index=False):
            name, t = str(row.node), float(row.time_s)
            if row.initial and first_batch is None:
                first_batch = row.time
            if row.event == "join":
                open_ids[str(row.node_id)] = name
                if name not in current:
                    at_start = bool(row.initial) and row.time == first_batch
                    current[name] = {"node": name, "join_s": t, "leave_s": math.nan,
                                     "at_start": at_start, "changed": not at_start}
                    spans.append(current[name])
            elif row.event == "leave":
                open_ids.pop(str(row.node_id), None)
                if name in current and name not in open_ids.values():
                    current.pop(name)["leave_s"] = t
        # a leave and a join of the same name at one restart is no change: merge the two
        merged: list[dict[str, Any]] = []
        for span in spans:
            before = next((m for m in reversed(merged) if m["node"] == span["node"]), None)
            if before is not None and before["leave_s"] == span["join_s"]:
                before["leave_s"] = span["leave_s"]
                continue
            merged.append(span)
        return pd.DataFrame(merged, columns=["node", "join_s", "leave_s", "at_start",
                                             "changed"])


def load(path: str | Path) -> Results:
    """Read the results directory ``path`` (see the module docstring)."""
    import pandas as pd

    directory = Path(path).expanduser()
    state = _state_of(directory)
    experiment = _read_json(directory / layout.EXPERIMENT) or {}
    meta = _meta(directory, state, experiment)
    started = float(meta.get("started") or 0.0)
    now = time.time()

    summary_ok = (meta["status"] != "running" and (directory / TRIALS_CSV).exists()
                  and (directory / HISTORY_CSV).exists()
                  and not _logs_newer(directory, directory / TRIALS_CSV))
    events: list[dict[str, Any]] = []
    if summary_ok:
        trials = pd.read_csv(directory / TRIALS_CSV)
        history = pd.read_csv(directory / HISTORY_CSV)
        events = _read_jsonl(directory / HISTORY_LOG, events_only=True)
        as_of = float(meta.get("finished") or 0.0) or _max_time(history, started)
        freshness = Freshness("summary", as_of, now)
    elif (directory / HISTORY_LOG).exists():
        history = read_history_log(directory, started=started)
        if history is None:
            history = _empty_history()
        events = _read_jsonl(directory / HISTORY_LOG, events_only=True)
        finished = _read_jsonl(directory / FINISHED_LOG)
        trials = _trials_from_logs(history, events, finished, meta)
        if (directory / TRIALS_CSV).exists() and meta["status"] != "running":
            trials = _prefer_summary(pd.read_csv(directory / TRIALS_CSV), trials)
        times = [e["time"] for e in events + finished if "time" in e]
        as_of = max(times + ([history["timestamp"].max()] if len(history) else []),
                    default=None)
        freshness = Freshness("live", as_of, now)
    else:
        history = _history_from_ray(directory, started)
        trials = _trials_from_logs(history, [], _read_jsonl(directory / FINISHED_LOG), meta)
        if (directory / TRIALS_CSV).exists():
            trials = _prefer_summary(pd.read_csv(directory / TRIALS_CSV), trials)
        freshness = Freshness("ray", _max_time(history, started) if len(history) else None, now)
    trials = _with_spans(trials, history, events, started)
    trials = mark_objectives(trials, meta["objectives"], meta["constraints"])
    meta["nodes"] = sorted({str(n) for n in trials.get("node", pd.Series(dtype=str)).dropna()
                            if str(n)}) or meta.get("nodes", [])
    nodes = _nodes_frame(layout.read_jsonl(directory / layout.NODES_LOG), started)
    return Results(directory, meta, trials, history, freshness, events, nodes)


def _nodes_frame(lines: list[dict[str, Any]], started: float) -> Any:
    """`Results.nodes` from the lines of ``nodes.jsonl`` (a line without event, node or time
    is skipped)."""
    import pandas as pd

    columns = ["event", "time", "time_s", "node", "node_ip", "cpus", "gpus", "node_id",
               "initial"]
    rows = [{"event": line["event"], "time": float(line["time"]),
             "time_s": float(line["time"]) - started, "node": str(line["node"]),
             "node_ip": line.get("node_ip") or "", "cpus": line.get("cpus"),
             "gpus": line.get("gpus"), "node_id": str(line.get("node_id") or line["node"]),
             "initial": bool(line.get("initial"))}
            for line in lines
            if line.get("event") in ("join", "leave") and line.get("node")
            and isinstance(line.get("time"), (int, float))]
    return pd.DataFrame(rows, columns=columns)


def _state_of(directory: Path) -> dict[str, Any]:
    """``hpotk.json`` of ``directory``; HpotkError naming the directory if there is none."""
    if not directory.is_dir():
        raise HpotkError(f"{directory} is not a results directory (no such directory)")
    state = _read_json(directory / STATE_FILE)
    if state is None:
        if (directory / layout.STUDY_JSON).exists():
            raise HpotkError(f"{directory} is a study's directory: give one of its runs' "
                             f"directories (e.g. {directory}/<strategy>/seed0)")
        if (directory / layout.SLURM_JOBS).exists():
            raise HpotkError(f"{directory}: the experiment was submitted to Slurm but has not "
                             f"started yet (no {STATE_FILE}); see its jobs with squeue --me")
        raise HpotkError(f"{directory} holds no hpotk experiment (no {STATE_FILE}); give the "
                         f"directory `hpotk run` wrote, e.g. results/<name>")
    return state


@dataclass
class LiveStatus:
    """What an experiment's directory says of it now, read cheaply (no pandas): for
    `hpotk status` and `hpotk report --watch`.

    Attributes:
        path: the results directory.
        name: the experiment's name.
        status: running, complete, interrupted or failed (`effective_status`: a `running`
            left by a driver that is gone reads as interrupted).
        driver: ``status.json`` as the driver last wrote it (`hpotk._tune_callbacks.Progress`:
            ``line``, ``time``, ``counts``, ``phase``, ...); None where there is none (a run
            of an hpotk before it, or a driver that has not written it yet).
        run_started: when the last run (start or resume) began (Unix time).
        read_at: Unix time of the reading.
    """

    path: Path
    name: str
    status: str
    driver: dict[str, Any] | None
    run_started: float | None
    read_at: float

    @property
    def line(self) -> str | None:
        """The driver's last status line."""
        line = (self.driver or {}).get("line")
        return str(line) if line else None

    @property
    def written_at(self) -> float | None:
        """When the driver last wrote its status (Unix time)."""
        when = (self.driver or {}).get("time")
        return float(when) if isinstance(when, (int, float)) else None

    @property
    def age_s(self) -> float | None:
        """Seconds since the driver last wrote its status."""
        return None if self.written_at is None else max(0.0, self.read_at - self.written_at)

    def silent_s(self) -> float | None:
        """While running: seconds the driver has said nothing, counted from the last write
        of ``status.json`` or from the run's start if that is later (a resumed run's driver
        has not written yet); None when it has never written one (an older hpotk)."""
        if self.written_at is None:
            return None
        since = max(self.written_at, self.run_started or 0.0)
        return max(0.0, self.read_at - since)


def live_status(path: str | Path) -> LiveStatus:
    """Read ``hpotk.json`` and ``status.json`` of the results directory ``path``.

    Raises:
        HpotkError: ``path`` holds no experiment (one line naming it).
    """
    directory = Path(path).expanduser()
    state = _state_of(directory)
    runs = state.get("runs") or []
    run_started = state.get("run_started") or (runs[-1].get("started") if runs else None)
    return LiveStatus(directory, str(state.get("name") or directory.name),
                      effective_status(state, directory),
                      layout.read_json_object(directory / layout.STATUS_JSON),
                      float(run_started) if run_started else None, time.time())


# ---------------------------------------------------------------------------------------------
# metadata


def _meta(directory: Path, state: dict[str, Any], experiment: dict[str, Any]) -> dict[str, Any]:
    strategy = experiment.get("strategy") or {}
    scheduler = strategy.get("scheduler") or {}
    searcher = strategy.get("searcher") or {}
    metric = experiment.get("metric") or {}
    first = (metric[0] if isinstance(metric, list) and metric else metric)
    first = first if isinstance(first, dict) else {}
    plan = directory / PLAN_TEXT
    meta = {
        "name": state.get("name") or experiment.get("name") or directory.name,
        "metric": state.get("metric") or first.get("name"),
        "mode": state.get("mode") or first.get("mode", "min"),
        "strategy": state.get("strategy") or (
            f"{scheduler.get('name', 'fifo')}/{searcher.get('name', 'random')}"),
        "scheduler": scheduler, "searcher": searcher,
        "budget": state.get("budget") or experiment.get("budget") or {},
        "seed": experiment.get("seed"),
        "plan": plan.read_text() if plan.exists() else "",
        "started": state.get("started"), "finished": state.get("finished"),
        "status": effective_status(state, directory),
        "runs": state.get("runs", []),
        "expected_trials": state.get("expected_trials"),
        "ray_nodes": state.get("ray_nodes"),
        "params": state.get("params") or {},
        "experiment": experiment,
        "source": state.get("source"),
    }
    if not meta["metric"]:
        raise HpotkError(f"{directory}: {STATE_FILE} and experiment.json name no metric")
    # every objective as (name, mode), the first the primary one; and the constraints
    listed = metric if isinstance(metric, list) else []
    meta["objectives"] = [(str(m["name"]), str(m.get("mode", "min"))) for m in listed
                          if isinstance(m, dict) and "name" in m] or [(meta["metric"],
                                                                      meta["mode"])]
    meta["constraints"] = list(experiment.get("constraints") or [])
    return meta


def mark_objectives(trials: Any, objectives: list[tuple[str, str]],
                    constraints: list[Any]) -> Any:
    """``trials`` (one row per trial, each metric's last reported value in its column) with:

    - ``violates`` and ``feasible`` when there are constraints: the constraints the trial's
      last result breaks (`hpotk.objectives.violations`), "; "-joined. A trial that died of
      running out of memory (its error or note says so, `out_of_memory`) breaks every
      constraint on a metric whose name holds "mem", whatever it reported before;
    - ``pareto`` with several objectives: whether the trial is on the Pareto front of the
      feasible trials by their last values (NaN or missing objectives: never).
    """
    from hpotk.objectives import constraint_text, pareto_mask, violations

    trials = trials.copy()
    if constraints and len(trials):
        rows = trials.to_dict("records")
        broken = []
        for row in rows:
            found = violations(row, constraints)
            if out_of_memory(row):
                found += [f"{constraint_text(c)} (ran out of memory)" for c in constraints
                          if "mem" in str(c.get("name") if isinstance(c, dict) else c.name)]
            broken.append("; ".join(dict.fromkeys(found)))
        trials["violates"] = broken
        trials["feasible"] = [not b for b in broken]
    elif constraints:
        trials["violates"], trials["feasible"] = [], []
    if len(objectives) > 1:
        import numpy as np

        names = [n for n, _ in objectives]
        values = np.full((len(trials), len(names)), np.nan)
        for j, name in enumerate(names):
            if name in trials:
                values[:, j] = pd_numeric(trials[name])
        if "feasible" in trials:
            values[~trials["feasible"].astype(bool).to_numpy()] = np.nan
        trials["pareto"] = pareto_mask(values, [m for _, m in objectives]) if len(trials) else []
    return trials


def out_of_memory(row: dict[str, Any]) -> bool:
    """Whether a trial's row says it died of running out of memory: its error (or the error
    of a retried attempt) is an out-of-memory one (`hpotk.trainables.cost.is_out_of_memory`),
    or hpotk's summary noted Ray's OOM killer."""
    from hpotk.trainables.cost import is_out_of_memory

    if "Ray's OOM killer" in str(row.get("note") or ""):
        return True
    return any(is_out_of_memory(str(row.get(k) or "")) for k in ("error", "retried_because"))


def pd_numeric(column: Any) -> Any:
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def effective_status(state: dict[str, Any], directory: Path | None = None) -> str:
    """The state's status, except that a `running` left by a process that is gone reads as
    `interrupted`: on this host, its pid is gone; on another (given the ``directory``), its
    `hpotk.lock` is gone or stale (no heartbeat for ``HPOTK_LOCK_STALE_S``)."""
    status = state.get("status", "unknown")
    if status != "running":
        return status
    if directory is not None and (Path(directory) / "hpotk.lock").exists():
        from hpotk.lock import directory_in_use

        return status if directory_in_use(directory) else "interrupted"
    runs = state.get("runs") or []
    last = runs[-1] if runs else {}
    if last.get("host") == socket.gethostname() and last.get("pid"):
        try:
            os.kill(int(last["pid"]), 0)
        except ProcessLookupError:
            return "interrupted"
        except PermissionError:
            return status
    return status


# ---------------------------------------------------------------------------------------------
# hpotk's live logs


def read_history_log(directory: Path, started: float | None = None) -> Any:
    """The result lines of ``history.jsonl`` as a history table (see `Results.history`), or None
    when there is no log. A line cut off by a kill is skipped."""
    import pandas as pd

    path = Path(directory) / HISTORY_LOG
    if not path.exists():
        return None
    if started is None:
        started = float((_read_json(Path(directory) / STATE_FILE) or {}).get("started") or 0.0)
    rows = []
    for line in _read_jsonl(path):
        if line.get("event") != "result":
            continue
        row = {k: v for k, v in line.items() if k not in ("event", "config", "time")}
        row["iteration"] = row.pop("training_iteration", None)
        row["timestamp"] = line.get("time") or line.get("timestamp")
        host = row.pop("hostname", None)  # the Slurm node's name where it is known
        row["node"] = row.pop("slurm_node", None) or host
        for key, value in (line.get("config") or {}).items():
            row[f"config/{key}"] = json.dumps(value) if isinstance(value, (list, dict)) else value
        rows.append(row)
    if not rows:
        return _empty_history()
    frame = pd.DataFrame(rows)
    frame["time_s"] = frame["timestamp"].astype(float) - float(started or 0.0)
    return _order_history(frame)


def _order_history(frame: Any) -> Any:
    first = ["trial_id", "iteration", "time_s", "timestamp", "time_this_iter_s", "time_total_s"]
    config = sorted(c for c in frame.columns if c.startswith("config/"))
    rest = [c for c in frame.columns if c not in first and c not in config and c != "node"]
    cols = [c for c in first if c in frame.columns] + rest + config + (
        ["node"] if "node" in frame.columns else [])
    return frame[cols].reset_index(drop=True)


def _empty_history() -> Any:
    import pandas as pd

    return pd.DataFrame(columns=["trial_id", "iteration", "time_s", "timestamp",
                                 "time_this_iter_s", "time_total_s", "node"])


def _trials_from_logs(history: Any, events: list[dict[str, Any]],
                      finished: list[dict[str, Any]], meta: dict[str, Any]) -> Any:
    """A trials table from the logs of a run that has not written its summary."""
    import pandas as pd

    metric, mode = meta["metric"], meta["mode"]
    max_t = int((meta.get("budget") or {}).get("max_t") or 0)
    running = meta["status"] == "running"
    ended = {}
    for line in finished:
        ended[line["trial_id"]] = line
    configs = {}
    for event in events:
        if event.get("event") == "start":
            configs.setdefault(event["trial_id"], event.get("config") or {})
    ids = list(dict.fromkeys(list(configs) + (history["trial_id"].tolist() if len(history)
                                              else [])))
    # each trial's last row and its objective values, grouped once (a mask per trial was
    # O(trials x results): minutes at 10,000 trials)
    lasts: dict[Any, dict[str, Any]] = {}
    reported: dict[Any, list[Any]] = {}
    if len(history):
        tail = history.drop_duplicates("trial_id", keep="last")
        lasts = {row["trial_id"]: row for row in tail.to_dict("records")}
        if metric in history:
            reported = history.groupby("trial_id", sort=False)[metric].agg(list).to_dict()
    rows = []
    for trial_id in ids:
        last = lasts.get(trial_id, {})
        row: dict[str, Any] = {"trial_id": trial_id}
        end = ended.get(trial_id)
        row["status"] = _log_status(end, last, max_t, running)
        config = {k[len("config/"):]: v for k, v in last.items() if k.startswith("config/")}
        for key, value in (config or configs.get(trial_id, {})).items():
            row[f"config/{key}"] = value
        values = [v for v in reported.get(trial_id, [])
                  if isinstance(v, (int, float)) and math.isfinite(v)]
        row[metric] = last.get(metric)
        row[f"best_{metric}"] = (min(values) if mode == "min" else max(values)) if values else None
        for key, value in last.items():
            if key in ("trial_id", "iteration", "time_s", "timestamp", "node", metric) or \
                    key.startswith("config/"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row.setdefault(key, value)
        row["iterations"] = int(last.get("iteration") or 0) if last else 0
        row["time_s"] = float(last.get("time_total_s") or 0.0) if last else 0.0
        row["node"] = last.get("node") or ""
        row["error"] = ""
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["trial_id", "status", metric, f"best_{metric}",
                                      "iterations", "time_s", "node", "error"])
    return frame


def _log_status(end: dict[str, Any] | None, last: dict[str, Any], max_t: int,
                running: bool) -> str:
    if end is None:
        return "RUNNING" if running else "UNFINISHED"
    if end.get("status") == "ERROR":
        return "ERROR"
    iterations = int(end.get("iterations") or last.get("iteration") or 0)
    if (max_t and iterations >= max_t) or last.get("finished"):
        return "COMPLETED"
    if last.get("early_stopped"):
        return "EARLY_STOPPED"
    return "STOPPED"


def _logs_newer(directory: Path, summary: Path) -> bool:
    """Whether hpotk's live logs were written after the summary ``summary``: a resumed run,
    killed before it wrote its own summary, left the summary of an earlier run."""
    try:
        written = summary.stat().st_mtime
        return any((directory / log).exists() and (directory / log).stat().st_mtime > written
                   for log in (HISTORY_LOG, FINISHED_LOG))
    except OSError:
        return False


def _prefer_summary(summary: Any, live: Any) -> Any:
    """trials.csv of an earlier run, updated by newer trials from the live logs (those that
    ended since: every column the summary has, whole columns at a time)."""
    import pandas as pd

    if live.empty:
        return summary
    newer = live[~live["trial_id"].isin(summary["trial_id"])]
    kept = summary.set_index("trial_id")
    ended = live[~live["status"].isin(("RUNNING", "UNFINISHED"))
                 & live["trial_id"].isin(kept.index)].set_index("trial_id")
    columns = [c for c in ended.columns if c in kept.columns]
    if len(ended) and columns:
        # a column trials.csv left empty reads back as floats: let it take the logs' text
        kept = kept.astype({c: object for c in columns if kept[c].dtype != ended[c].dtype})
        kept.loc[ended.index, columns] = ended[columns]
    return pd.concat([kept.reset_index(), newer], ignore_index=True)


def _with_spans(trials: Any, history: Any, events: list[dict[str, Any]], started: float) -> Any:
    """``start_s`` / ``end_s`` per trial (seconds since the experiment started)."""
    import numpy as np
    import pandas as pd

    trials = trials.copy()
    starts: dict[str, float] = {}
    for event in events:
        if event.get("event") == "start":
            starts.setdefault(event["trial_id"], float(event["time"]) - started)
    first, last = {}, {}
    if len(history):
        grouped = history.groupby("trial_id")["time_s"]
        first = grouped.min().to_dict()
        last = grouped.max().to_dict()
        if "time_this_iter_s" in history:  # its first result, less that iteration's time
            head = history.groupby("trial_id")[["time_s", "time_this_iter_s"]].first()
            took = pd.to_numeric(head["time_this_iter_s"], errors="coerce")
            first.update((head["time_s"].astype(float) - took).to_dict())
    if len(trials):
        trials["start_s"] = [starts.get(t, first.get(t, np.nan)) for t in trials["trial_id"]]
        trials["end_s"] = [last.get(t, np.nan) for t in trials["trial_id"]]
    else:
        trials["start_s"], trials["end_s"] = [], []
    return trials


# ---------------------------------------------------------------------------------------------
# Ray's per-trial files (directories without hpotk's logs)


def _history_from_ray(directory: Path, started: float) -> Any:
    import pandas as pd

    rows = []
    for result_file in sorted(directory.glob("*/result.json")):
        for line in _read_jsonl(result_file):
            row = {k: v for k, v in line.items() if k != "config" and not isinstance(v, dict)}
            row["iteration"] = row.pop("training_iteration", None)
            row["node"] = row.pop("hostname", None)
            for key, value in (line.get("config") or {}).items():
                row[f"config/{key}"] = value
            rows.append(row)
    if not rows:
        return _empty_history()
    frame = pd.DataFrame(rows)
    if not started:
        started = float(frame["timestamp"].min() - frame["time_total_s"].max())
    frame["time_s"] = frame["timestamp"].astype(float) - started
    return _order_history(frame.sort_values("timestamp", kind="stable"))


# ---------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    return layout.read_json_object(path)


def _read_jsonl(path: Path, events_only: bool = False) -> list[dict[str, Any]]:
    """A live log's lines (`hpotk.layout.read_jsonl`); ``events_only``: without results."""
    return [item for item in layout.iter_jsonl(path)
            if not (events_only and item.get("event") == "result")]


def _max_time(history: Any, started: float) -> float | None:
    if not len(history) or "time_s" not in history:
        return None
    return float(history["time_s"].max()) + started


def _plain(value: Any) -> Any:
    """A value of the trials table as plain Python, a missing one (NaN) as None."""
    value = plain(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
