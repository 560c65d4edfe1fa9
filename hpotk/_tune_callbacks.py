"""Tune callbacks the runner adds to every experiment (imports Ray: import this lazily).

- `FinishedLog`: ``finished.jsonl``, one line per trial the moment it ends.
- `HistoryLog`: ``history.jsonl``, one line per trial start and per reported result, appended
  and flushed as it happens, so `hpotk.results` reads running and killed experiments too (Tune
  copies per-trial files into the results directory only every so often).
- `NodeLog`: ``nodes.jsonl``, the Ray nodes present when the run starts, then one line per node
  that joins or leaves (elastic Slurm runs: worker jobs come and go).
- `Progress`: a compact status in place of Ray's tables, also written to ``status.json`` every
  few seconds for `hpotk status` and `hpotk report --watch`.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import sys
import time
from typing import Any

from ray.tune import Callback

from hpotk import layout
from hpotk._plain import plain

FINISHED_LOG = layout.FINISHED_LOG
HISTORY_LOG = layout.HISTORY_LOG


def _append(path: str, line: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(line, default=_scalar) + "\n")
        f.flush()


_scalar = functools.partial(plain, otherwise=str)  # numpy values, else their text


class FinishedLog(Callback):
    """Appends one JSON line per finished trial to ``results/<name>/finished.jsonl``.

    Tune copies trial results into the results directory only every so often; this log is
    written the moment a trial ends, so a user (or a test) sees finished trials live.
    """

    def __init__(self, path: str):
        self.path = path

    def _write(self, trial: Any, status: str) -> None:
        last = trial.last_result or {}
        line = {"trial_id": trial.trial_id, "status": status,
                "iterations": last.get("training_iteration", 0), "time": time.time()}
        _append(self.path, line)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._write(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._write(trial, "ERROR")


class HistoryLog(Callback):
    """Appends every trial start and every reported result to ``history.jsonl``.

    A result line holds the trial id, the driver's receive time, every scalar the trainable
    reported (Tune's own keys included: training_iteration, time_this_iter_s, timestamp,
    hostname, ...) and the config in force at that result (PBT changes it mid-trial).
    """

    #: seconds between two looks at whether the cluster has hpotk's Slurm nodes at all
    SLURM_RECHECK_S = 30.0

    def __init__(self, path: str):
        self.path = path
        self._slurm_nodes: dict[str, str | None] = {}  # trial id -> Slurm node it runs on
        self._node_names: dict[str, str | None] = {}  # Ray node id -> Slurm node name
        self._slurm_seen: tuple[float, bool] = (-1e18, False)  # (when looked, any Slurm node)

    def _on_slurm(self) -> bool:
        """Whether any Ray node carries an ``hpotk_node:`` resource (an hpotk Slurm job),
        looked up at most every SLURM_RECHECK_S: outside Slurm a trial start then costs no call
        to Ray's actor table (py-spy: 3.8 % of the driver at 3,000 trivial trials)."""
        when, seen = self._slurm_seen
        now = time.monotonic()
        if seen or now - when < self.SLURM_RECHECK_S:
            return seen
        try:
            import ray

            seen = ray.is_initialized() and any(
                key.startswith(layout.NODE_RESOURCE) for key in ray.cluster_resources())
        except Exception:  # noqa: BLE001 - no answer now: look again next time
            seen = False
        self._slurm_seen = (now, seen)
        return seen

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        line = {"event": "start", "trial_id": trial.trial_id, "time": time.time(),
                "config": _plain_config(trial.config)}
        node = self._slurm_nodes[trial.trial_id] = (
            slurm_node_of(trial, self._node_names) if self._on_slurm() else None)
        if node:
            line["slurm_node"] = node
        _append(self.path, line)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _append(self.path, {"event": "recover", "trial_id": trial.trial_id, "time": time.time(),
                            "error": _error_line(trial)})

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        line: dict[str, Any] = {"event": "result", "trial_id": trial.trial_id,
                                "time": time.time()}
        for key, value in result.items():
            if key in ("config", "event", "trial_id", "time"):
                continue
            if isinstance(value, (bool, int, float, str)) or value is None:
                line[key] = value
            elif hasattr(value, "item"):
                line[key] = _scalar(value)
        if self._slurm_nodes.get(trial.trial_id):
            line["slurm_node"] = self._slurm_nodes[trial.trial_id]
        line["config"] = _plain_config(result.get("config") or trial.config)
        _append(self.path, line)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a Tuner saved before these maps existed resumes with them empty
        self.__dict__.update({"_slurm_nodes": {}, "_node_names": {}, **state,
                              "_slurm_seen": (-1e18, False)})


def slurm_node_of(trial: Any, cache: dict[str, str | None]) -> str | None:
    """The Slurm node (``SLURMD_NODENAME``) a started trial's actor runs on, or None outside
    hpotk's Slurm jobs.

    Trial results name the host, and several Slurm nodes can share one (test clusters,
    ``HPOTK_SHARED_HOST``). hpotk's Slurm launch gives each node's Ray a ``hpotk_node:<name>``
    resource, so the actor's Ray node id (from the GCS actor table, a private API of Ray:
    `actor_node_id`) names the Slurm node. ``cache`` maps Ray node ids to names (None: not a
    Slurm node). Where the actor table cannot be read, it warns once and names no node.
    """
    import ray

    if not ray.is_initialized():
        return None
    try:
        node_id = actor_node_id(trial)
    except (ImportError, AttributeError, TypeError, KeyError, ValueError) as exc:  # it moved
        _lose_node_names(f"Ray's actor table moved ({type(exc).__name__}: {exc}; a Ray other "
                         f"than 2.60?)")
        return None
    except (ray.exceptions.RayError, OSError) as exc:  # the GCS did not answer
        _lose_node_names(f"reading Ray's actor table failed ({type(exc).__name__}: {exc})")
        return None
    if not node_id:
        return None
    if node_id not in cache:
        for node in ray.nodes():
            names = [k[len(layout.NODE_RESOURCE):] for k in node.get("Resources", {})
                     if k.startswith(layout.NODE_RESOURCE)]
            cache[node["NodeID"]] = names[0] if names else None
    return cache.get(node_id)


def actor_node_id(trial: Any) -> str | None:
    """The Ray node id (hex) of the node a started trial's actor runs on, from Ray 2.60's
    private ``Trial.temporary_state.ray_actor``, ``ActorHandle._actor_id`` and
    ``ray._private.state.actors`` (tests/canary pins each). None before the actor exists."""
    from ray._private import state

    actor = trial.temporary_state.ray_actor
    if actor is None:
        return None
    info = state.actors(actor_id=actor._actor_id.hex()) or {}
    return info["Address"]["NodeID"] if info else None


def _lose_node_names(why: str) -> None:
    from hpotk._ray_fixes import CANARIES, warn_once

    warn_once("slurm-node-names", f"cannot tell which Slurm node a trial runs on: {why}; "
                                  f"trials.csv and history.jsonl will not name the Slurm node "
                                  f"of each trial. See {CANARIES} and hpotk/_tune_callbacks.py")


def _plain_config(config: dict[str, Any] | None) -> dict[str, Any]:
    out = {}
    for key, value in (config or {}).items():
        if isinstance(value, (bool, int, float, str)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple)):
            out[key] = json.loads(json.dumps(list(value), default=_scalar))
        else:
            out[key] = _scalar(value)
    return out


def _error_line(trial: Any) -> str:
    error = getattr(trial, "error_file", None) or ""
    return str(error)


class NodeLog(Callback):
    """Appends to ``nodes.jsonl`` the Ray nodes present when the run starts, then one line per
    node that joins or leaves the cluster: ``{"event": "join" | "leave", "time", "node",
    "node_ip", "cpus", "gpus", "node_id"}`` (``"initial": true`` on the lines written at the
    start).

    ``node`` is the Slurm node's name where the node carries hpotk's ``hpotk_node:<name>``
    resource (`layout.NODE_RESOURCE`), else its host name (as trials.csv's ``node``). A resumed
    run reads the log first: a node the log still has but the cluster no longer has gets its
    leave line then, so every line of the log is a change.

    Ray is asked (``ray.nodes()``, one call to the GCS) at most every ``poll_s`` seconds, from
    the end of Tune's loop step: a result costs nothing. `Progress` shows what the last look saw.
    A node that joined and left between two looks (Ray still lists it, dead) gets both lines,
    timed at the two looks and marked ``"between_looks": true``.
    """

    #: seconds between two looks at the cluster's nodes
    POLL_S = 5.0

    def __init__(self, path: str, poll_s: float | None = None):
        self.path = path
        self.poll_s = self.POLL_S if poll_s is None else poll_s
        self.alive: dict[str, dict[str, Any]] = {}  # Ray node id -> its fields in the log
        self.slurm: set[str] = set()  # ids of the alive nodes that are hpotk Slurm nodes
        self.gone: set[str] = set()  # ids of the dead nodes Ray lists, logged or from before
        self._polled = -math.inf  # time.monotonic() of the last look
        self._polled_at = 0.0  # time.time() of the last look

    def setup(self, **info: Any) -> None:
        self.alive, self.slurm = {}, set()
        for line in layout.iter_jsonl(self.path):  # what an earlier run of the experiment saw
            node_id = line.get("node_id")
            if line.get("event") == "join" and node_id:
                self.alive[node_id] = {k: line.get(k) for k in _NODE_FIELDS}
            elif line.get("event") == "leave":
                self.alive.pop(node_id, None)
        self.poll(initial=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if time.monotonic() - self._polled >= self.poll_s:
            self.poll()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.poll()  # the last look: what changed since the last step is in the log too

    def poll(self, *, initial: bool = False) -> None:
        """Look at the cluster now and log what changed since the last look."""
        self._polled = time.monotonic()
        dead: dict[str, tuple[dict[str, Any], bool]] = {}
        nodes = _alive_nodes(dead)
        if nodes is None:  # Ray did not answer: look again next time
            return
        now, before = time.time(), self._polled_at
        self._polled_at = now
        mark = {"initial": True} if initial else {}
        lines = [{"event": "leave", "time": now, **fields, "node_id": node_id, **mark}
                 for node_id, fields in self.alive.items() if node_id not in nodes]
        if not initial:  # came and went since the last look
            for node_id, (fields, _) in dead.items():
                if node_id not in self.gone and node_id not in self.alive:
                    lines += [{"event": event, "time": t, **fields, "node_id": node_id,
                               "between_looks": True}
                              for event, t in (("join", before), ("leave", now))]
        self.gone |= set(dead)
        lines += [{"event": "join", "time": now, **fields, "node_id": node_id, **mark}
                  for node_id, (fields, _) in nodes.items() if node_id not in self.alive]
        self.alive = {node_id: fields for node_id, (fields, _) in nodes.items()}
        self.slurm = {node_id for node_id, (_, slurm) in nodes.items() if slurm}
        if lines:
            layout.append_jsonl(self.path, lines, default=_scalar)

    def cluster(self, per_trial: dict[str, float] | None) -> dict[str, Any] | None:
        """What the last look saw: nodes, CPUs, GPUs and trial slots (trials of ``per_trial``
        resources that fit on the nodes, each node on its own); None before any look."""
        if not self.alive:
            return None
        cpus = sum(float(f.get("cpus") or 0) for f in self.alive.values())
        gpus = sum(float(f.get("gpus") or 0) for f in self.alive.values())
        slots = None
        if per_trial and any(v > 0 for v in per_trial.values()):
            slots = sum(_slots(f, per_trial) for f in self.alive.values())
        return {"nodes": len(self.alive), "slurm": bool(self.slurm), "cpus": cpus,
                "gpus": gpus, "slots": slots}


_NODE_FIELDS = ("node", "node_ip", "cpus", "gpus")


def _alive_nodes(dead: dict[str, tuple[dict[str, Any], bool]] | None = None,
                 ) -> dict[str, tuple[dict[str, Any], bool]] | None:
    """Ray node id -> (its fields for the log, whether it is an hpotk Slurm node), for every
    alive node (and into ``dead``, the same for the dead nodes Ray still lists); None when Ray
    cannot say now."""
    import ray

    if not ray.is_initialized():
        return None
    try:
        nodes = ray.nodes()
    except (ray.exceptions.RayError, OSError, RuntimeError):  # the GCS did not answer
        return None
    out = {}
    for node in nodes:
        if not node.get("NodeID"):
            continue
        resources = node.get("Resources") or {}
        names = [k[len(layout.NODE_RESOURCE):] for k in resources
                 if k.startswith(layout.NODE_RESOURCE)]
        ip = node.get("NodeManagerAddress") or ""
        fields = {"node": names[0] if names else (node.get("NodeManagerHostname") or ip),
                  "node_ip": ip, "cpus": resources.get("CPU", 0.0),
                  "gpus": resources.get("GPU", 0.0)}
        if node.get("Alive"):
            out[node["NodeID"]] = (fields, bool(names))
        elif dead is not None:
            dead[node["NodeID"]] = (fields, bool(names))
    return out


def _slots(fields: dict[str, Any], per_trial: dict[str, float]) -> int:
    """How many trials of ``per_trial`` resources ({"CPU": c, "GPU": g}) fit on one node."""
    fits = []
    for key, have in (("CPU", fields.get("cpus")), ("GPU", fields.get("gpus"))):
        need = float(per_trial.get(key) or 0)
        if need > 0:
            fits.append(int(float(have or 0) / need + 1e-9))
    return min(fits) if fits else 0


class Progress(Callback):
    """One compact status, refreshed in place on a terminal, a line every so often elsewhere:
    trials done / running / pending of the budget, on a cluster of several nodes (or on hpotk's
    Slurm nodes) the nodes and the trial slots in use, the best objective so far, elapsed time
    and the time budget left.

    The same status is written to ``status.json`` (`layout.STATUS_JSON`, whole: a reader never
    sees half of it) every ``status_every_s`` seconds and at the end, with the counts behind
    it, for `hpotk status` and `hpotk report --watch` on a login node; its ``time`` is the
    driver's heartbeat.

    Args:
        total: trials the budget allows.
        metric, mode: the objective.
        time_budget_s: the experiment's time budget, if any.
        state_path: ``hpotk.json``, for the experiment's first start (elapsed spans resumes).
        every_s: seconds between lines on a non-terminal (``HPOTK_PROGRESS_S``, default 30).
        nodes: the run's `NodeLog`, whose last look at the cluster the line shows.
        per_trial: resources of one trial ({"CPU": c, "GPU": g}), to count trial slots.
        status_path: where to write ``status.json`` (None: nowhere).
        show: print the line (False: only ``status.json``, for ``hpotk run --quiet``).
        status_every_s: seconds between two writes of ``status.json``.
    """

    STATUS_EVERY_S = 5.0
    # defaults for a Progress unpickled from a tuner.pkl saved before these existed
    nodes: NodeLog | None = None
    per_trial: dict[str, float] | None = None
    status_path: str | None = None
    show = True
    status_every_s = STATUS_EVERY_S
    last_status = 0.0

    def __init__(self, total: int, metric: str, mode: str, time_budget_s: float | None = None,
                 state_path: str | None = None, every_s: float | None = None,
                 nodes: NodeLog | None = None, per_trial: dict[str, float] | None = None,
                 status_path: str | None = None, show: bool = True,
                 status_every_s: float | None = None):
        self.total, self.metric, self.mode = total, metric, mode
        self.time_budget_s = time_budget_s
        self.state_path = state_path
        self.every_s = every_s if every_s is not None else float(
            os.environ.get("HPOTK_PROGRESS_S", 30))
        self.nodes, self.per_trial = nodes, per_trial
        self.status_path, self.show = status_path, show
        self.status_every_s = (self.STATUS_EVERY_S if status_every_s is None
                               else status_every_s)
        self.best: float | None = None
        self.started = time.time()
        self.run_started = self.started
        self.last_draw = 0.0
        self.last_status = 0.0
        self.last_text = ""

    def setup(self, **info: Any) -> None:
        self.run_started = time.time()
        self.started = self.run_started
        if self.state_path:
            try:
                with open(self.state_path) as f:
                    self.started = float(json.load(f).get("started", self.run_started))
            except (OSError, ValueError, TypeError):
                pass
        self.last_draw = 0.0
        self.last_status = 0.0
        if self.status_path:  # a heartbeat from the start, before Tune's first step
            self._write_status(self.snapshot([]), "starting")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            if self.best is None or (value < self.best if self.mode == "min" else
                                     value > self.best):
                self.best = float(value)

    def status(self, trials: list) -> str:
        """The status line (without the ``[hpotk]`` prefix of the printed one)."""
        return self.snapshot(trials)["line"]

    def snapshot(self, trials: list) -> dict[str, Any]:
        """The status line and what it says, as ``status.json`` holds them."""
        counts = {"done": 0, "running": 0, "pending": 0, "paused": 0, "error": 0}
        for t in trials:
            s = t.status
            if s == "TERMINATED":
                counts["done"] += 1
            elif s == "ERROR":
                counts["error"] += 1
            elif s == "RUNNING":
                counts["running"] += 1
            elif s == "PAUSED" and t.run_metadata.last_result.get("training_iteration"):
                counts["paused"] += 1  # a population member waiting for a slot, having trained
            else:
                counts["pending"] += 1
        now = time.time()
        best = f"{self.best:.5g}" if self.best is not None else "-"
        elapsed = now - self.started
        cluster = self.nodes.cluster(self.per_trial) if self.nodes is not None else None
        text = (f"trials {counts['done']} done, {counts['running']} running, "
                f"{counts['pending']} pending"
                + (f", {counts['paused']} paused" if counts["paused"] else "")
                + (f", {counts['error']} errored" if counts["error"] else "")
                + f" of {self.total}" + _cluster_text(cluster, counts["running"])
                + f" | best {self.metric} {best} ({self.mode}) | "
                f"{_duration(elapsed)} elapsed")
        left = None
        if self.time_budget_s:
            left = max(0.0, self.time_budget_s - (now - self.run_started))
            text += f", {_duration(left)} of the time budget left"
        return {"line": text, "time": now, "counts": counts, "total": self.total,
                "metric": self.metric, "mode": self.mode, "best": self.best,
                "started": self.started, "elapsed_s": elapsed, "time_budget_left_s": left,
                "cluster": cluster}

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.time()
        snap = None
        if self.status_path and now - self.last_status >= self.status_every_s:
            snap = self.snapshot(trials)
            self._write_status(snap, "running")
        if not self.show:
            return
        out = sys.stdout
        tty = hasattr(out, "isatty") and out.isatty()
        if tty:
            if now - self.last_draw < 0.5:
                return
            line = "[hpotk] " + (snap or self.snapshot(trials))["line"]
            out.write("\r\033[K" + line[: _columns() - 1])
            out.flush()
        else:
            if self.last_draw and now - self.last_draw < self.every_s:
                return
            print("[hpotk] " + (snap or self.snapshot(trials))["line"], file=out, flush=True)
        self.last_draw = now

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        snap = self.snapshot(trials)
        if self.status_path:
            self._write_status(snap, "ended")
        if not self.show:
            return
        out = sys.stdout
        tty = hasattr(out, "isatty") and out.isatty()
        print(("\r\033[K" if tty else "") + "[hpotk] " + snap["line"], file=out, flush=True)

    def _write_status(self, snap: dict[str, Any], phase: str) -> None:
        """``status.json``: the snapshot, the driver's phase (starting, running, ended), host
        and pid."""
        self.last_status = snap["time"]
        doc = {**snap, "phase": phase, "host": socket.gethostname(), "pid": os.getpid()}
        layout.atomic_write(self.status_path, json.dumps(doc, default=_scalar) + "\n")


def _cluster_text(cluster: dict[str, Any] | None, running: int) -> str:
    """`` | 3 nodes, 5/8 slots in use`` on several nodes or on hpotk's Slurm nodes, else
    nothing (one local machine)."""
    if not cluster or (cluster["nodes"] < 2 and not cluster["slurm"]):
        return ""
    n = cluster["nodes"]
    text = f" | {n} node{'s' if n != 1 else ''}"
    if cluster["slots"] is not None:
        return text + f", {running}/{cluster['slots']} slots in use"
    gpus = f", {cluster['gpus']:g} GPUs" if cluster["gpus"] else ""
    return text + f", {cluster['cpus']:g} CPUs{gpus}"


def _columns() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
