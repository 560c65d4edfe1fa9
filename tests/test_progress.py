"""hpotk's progress line: redrawn in place on a terminal, a line every so often elsewhere."""

from __future__ import annotations

import io
import types

from hpotk._tune_callbacks import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _trials(*statuses):
    return [types.SimpleNamespace(status=s) for s in statuses]


def test_terminal_redraws_one_line(monkeypatch):
    out = _Tty()
    monkeypatch.setattr("sys.stdout", out)
    progress = Progress(total=8, metric="loss", mode="min", time_budget_s=100)
    progress.setup()
    progress.on_trial_result(0, [], None, {"loss": 0.5})
    progress.on_trial_result(0, [], None, {"loss": float("nan")})
    progress.on_trial_result(0, [], None, {"loss": 0.7})
    progress.on_step_end(0, _trials("TERMINATED", "RUNNING", "RUNNING", "PENDING"))
    progress.on_step_end(1, _trials("TERMINATED", "RUNNING", "RUNNING", "PENDING"))  # too soon
    text = out.getvalue()
    assert text.startswith("\r\033[K") and "\n" not in text
    assert text.count("\r\033[K") == 1
    assert "1 done, 2 running, 1 pending of 8 | best loss 0.5 (min)" in text
    assert "of the time budget left" in text


def test_log_file_gets_a_line_every_so_often(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    progress = Progress(total=2, metric="acc", mode="max", every_s=3600)
    progress.setup()
    progress.on_step_end(0, _trials("PENDING", "PENDING"))
    progress.on_step_end(1, _trials("RUNNING", "PENDING"))  # within every_s: nothing
    progress.on_trial_result(0, [], None, {"acc": 0.9})
    progress.on_experiment_end(_trials("TERMINATED", "ERROR"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert "0 done, 0 running, 2 pending of 2 | best acc - (max)" in lines[0]
    assert "1 done, 0 running, 0 pending, 1 errored of 2 | best acc 0.9 (max)" in lines[1]
    assert "time budget" not in lines[1]


def test_history_log_saved_before_its_node_maps_resumes_and_logs(tmp_path):
    # Tune pickles callbacks in tuner.pkl: one saved by an older hpotk has no node maps
    import json
    import pickle

    from hpotk._tune_callbacks import HistoryLog

    old = HistoryLog(str(tmp_path / "history.jsonl"))
    del old._slurm_nodes, old._node_names
    log = pickle.loads(pickle.dumps(old))
    trial = types.SimpleNamespace(trial_id="t1", config={"lr": 0.1})  # no actor: no Slurm node
    log.on_trial_start(0, [], trial)
    log.on_trial_result(0, [], trial, {"loss": 0.5, "hostname": "h"})
    lines = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["start", "result"]
    assert "slurm_node" not in lines[1] and lines[1]["hostname"] == "h"


def test_population_members_that_trained_and_wait_for_a_slot_read_paused(capsys):
    # under pbt / hyperband every member exists from the start, paused: one that never trained
    # is pending, one that trained and waits for a slot again is paused
    def member(status, iteration=None):
        result = {"training_iteration": iteration} if iteration else {}
        return types.SimpleNamespace(status=status,
                                     run_metadata=types.SimpleNamespace(last_result=result))

    progress = Progress(total=6, metric="acc", mode="max", every_s=0)
    progress.setup()
    progress.on_step_end(0, [member("RUNNING", 2), member("RUNNING", 2), member("PAUSED", 2),
                             member("PAUSED"), member("PAUSED"), member("TERMINATED", 6)])
    assert "1 done, 2 running, 2 pending, 1 paused of 6" in capsys.readouterr().out


def test_outside_slurm_a_trial_start_asks_ray_nothing_about_nodes(tmp_path, monkeypatch):
    # the Slurm-node lookup (a call to Ray's actor table per trial start) runs only where some
    # Ray node carries hpotk's hpotk_node: resource, and the cluster is looked at every 30 s
    import ray

    from hpotk import _tune_callbacks as cb

    looks, lookups = [], []
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources",
                        lambda: looks.append(1) or {"CPU": 2.0, "memory": 1.0})
    monkeypatch.setattr(cb, "slurm_node_of", lambda trial, cache: lookups.append(1) or "n1")
    log = cb.HistoryLog(str(tmp_path / "history.jsonl"))
    for i in range(50):
        log.on_trial_start(0, [], types.SimpleNamespace(trial_id=f"t{i}", config={}))
    assert lookups == [] and len(looks) == 1
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0, "hpotk_node:n1": 1.0})
    log._slurm_seen = (log._slurm_seen[0] - cb.HistoryLog.SLURM_RECHECK_S, False)  # 30 s on
    log.on_trial_start(0, [], types.SimpleNamespace(trial_id="t50", config={}))
    assert lookups == [1]


# ---------------------------------------------------------------------------------------------
# the node log and the nodes in the progress line


def _node(node_id, host, cpus=2.0, gpus=0.0, slurm=None, alive=True):
    resources = {"CPU": cpus, "memory": 1e9}
    if gpus:
        resources["GPU"] = gpus
    if slurm:
        resources[f"hpotk_node:{slurm}"] = 1.0
    return {"NodeID": node_id, "Alive": alive, "NodeManagerAddress": f"10.0.0.{host[-1]}",
            "NodeManagerHostname": host, "Resources": resources if alive else {}}


class _FakeCluster:
    """ray.nodes() answering from a list the test changes, counting the calls."""

    def __init__(self, monkeypatch, nodes):
        import ray

        self.nodes, self.calls = list(nodes), 0
        monkeypatch.setattr(ray, "is_initialized", lambda: True)
        monkeypatch.setattr(ray, "nodes", self._nodes)

    def _nodes(self):
        self.calls += 1
        return [dict(n) for n in self.nodes]


def _lines(path):
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


def test_node_log_records_start_join_leave_and_rejoin(tmp_path, monkeypatch):
    from hpotk._tune_callbacks import NodeLog

    cluster = _FakeCluster(monkeypatch, [_node("h", "head", slurm="nid001")])
    log = NodeLog(str(tmp_path / "nodes.jsonl"), poll_s=3600)
    log.setup()
    for step in range(100):  # within poll_s: Ray is not asked again, whatever happens
        log.on_step_end(step, [])
    assert cluster.calls == 1
    cluster.nodes.append(_node("w1", "work1", gpus=1.0, slurm="nid002"))
    log.poll()  # a worker job's node joins
    cluster.nodes[1] = _node("w1", "work1", alive=False)  # its wall time: it leaves
    log.poll()
    log.poll()  # nothing changed: nothing written
    cluster.nodes.append(_node("w2", "work1", slurm="nid002"))  # its next job: a new Ray node
    log.poll()
    lines = _lines(tmp_path / "nodes.jsonl")
    assert [(x["event"], x["node"], x.get("initial", False)) for x in lines] == [
        ("join", "nid001", True), ("join", "nid002", False), ("leave", "nid002", False),
        ("join", "nid002", False)]
    assert lines[1]["cpus"] == 2.0 and lines[1]["gpus"] == 1.0 and lines[1]["node_ip"] == \
        "10.0.0.1"
    assert lines[2]["gpus"] == 1.0  # a leave says what the node had
    assert all(isinstance(x["time"], float) for x in lines)
    assert set(log.alive) == {"h", "w2"} and log.slurm == {"h", "w2"}


def test_node_log_records_a_node_that_came_and_went_between_two_looks(tmp_path, monkeypatch):
    from hpotk._tune_callbacks import NodeLog

    # a dead node already there at the start (an earlier worker) is not this run's news
    cluster = _FakeCluster(monkeypatch, [_node("h", "head"), _node("old", "work1", alive=False)])
    log = NodeLog(str(tmp_path / "nodes.jsonl"))
    log.setup()
    cluster.nodes.append(_node("w", "work2", alive=False))  # joined and left within poll_s
    log.poll()
    log.poll()  # told once
    lines = _lines(tmp_path / "nodes.jsonl")
    assert [(x["event"], x["node"], x.get("between_looks", False)) for x in lines] == [
        ("join", "head", False), ("join", "work2", True), ("leave", "work2", True)]
    assert lines[0]["time"] <= lines[1]["time"] <= lines[2]["time"]  # the two looks' times
    assert set(log.alive) == {"h"}


def test_node_log_of_a_resumed_run_closes_what_is_gone_and_keeps_what_stayed(tmp_path,
                                                                            monkeypatch):
    from hpotk._tune_callbacks import NodeLog

    path = tmp_path / "nodes.jsonl"
    cluster = _FakeCluster(monkeypatch, [_node("h", "head"), _node("w", "work1")])
    NodeLog(str(path)).setup()
    cluster.nodes = [_node("h", "head"), _node("x", "work2")]  # the driver restarts
    NodeLog(str(path)).setup()
    events = [(x["event"], x["node"]) for x in _lines(path)]
    assert events == [("join", "head"), ("join", "work1"),  # the first start
                      ("leave", "work1"), ("join", "work2")]  # the resume: head stayed


def test_node_log_when_ray_does_not_answer_writes_nothing(tmp_path, monkeypatch):
    import ray

    from hpotk._tune_callbacks import NodeLog

    monkeypatch.setattr(ray, "is_initialized", lambda: True)

    def down():
        raise ray.exceptions.RaySystemError("GCS unavailable")

    monkeypatch.setattr(ray, "nodes", down)
    log = NodeLog(str(tmp_path / "nodes.jsonl"))
    log.setup()
    assert not (tmp_path / "nodes.jsonl").exists() and log.cluster(None) is None


def test_progress_line_shows_nodes_and_slots_on_several_nodes(tmp_path, monkeypatch, capsys):
    from hpotk._tune_callbacks import NodeLog

    cluster = _FakeCluster(monkeypatch, [_node("h", "head", cpus=4.0)])
    nodes = NodeLog(str(tmp_path / "nodes.jsonl"))
    progress = Progress(total=8, metric="acc", mode="max", every_s=0, nodes=nodes,
                        per_trial={"CPU": 1.0, "GPU": 0.0})
    nodes.setup()
    progress.setup()
    progress.on_step_end(0, _trials("RUNNING", "PENDING"))  # one local machine: no nodes part
    cluster.nodes += [_node("a", "work1", cpus=2.0), _node("b", "work2", cpus=3.0)]
    nodes.poll()
    progress.on_step_end(1, _trials("RUNNING", "RUNNING", "RUNNING", "PENDING"))
    lines = capsys.readouterr().out.splitlines()
    assert "of 8 | best" in lines[0] and "node" not in lines[0]
    assert "trials 0 done, 3 running, 1 pending of 8 | 3 nodes, 3/9 slots in use | best" \
        in lines[1]


def test_progress_slots_count_gpus_per_node_and_a_slurm_node_alone(tmp_path, monkeypatch):
    from hpotk._tune_callbacks import NodeLog

    # 2 trials of 0.5 GPU on one GPU, and no CPU bound on them: 2 slots; the Slurm node alone
    # is still named
    _FakeCluster(monkeypatch, [_node("h", "head", cpus=64.0, gpus=1.0, slurm="nid001")])
    nodes = NodeLog(str(tmp_path / "nodes.jsonl"))
    nodes.setup()
    progress = Progress(total=4, metric="acc", mode="max", nodes=nodes,
                        per_trial={"CPU": 1.0, "GPU": 0.5})
    progress.setup()
    assert "of 4 | 1 node, 1/2 slots in use | best" in progress.status(_trials("RUNNING"))


def test_progress_writes_status_json_rate_limited_and_at_the_end(tmp_path, monkeypatch):
    import json

    from hpotk import layout

    writes = []
    real = layout.atomic_write
    monkeypatch.setattr(layout, "atomic_write",
                        lambda path, data: writes.append(json.loads(data)) or real(path, data))
    path = tmp_path / "status.json"
    progress = Progress(total=3, metric="loss", mode="min", status_path=str(path), show=False,
                        status_every_s=3600)
    progress.setup()
    assert writes[-1]["phase"] == "starting"
    progress.on_trial_result(0, [], None, {"loss": 0.25})
    for step in range(50):  # within status_every_s of the first write: not again
        progress.on_step_end(step, _trials("RUNNING", "PENDING", "PENDING"))
    assert [w["phase"] for w in writes] == ["starting"]
    progress.last_status -= 3600  # an hour on
    progress.on_step_end(50, _trials("RUNNING", "PENDING", "PENDING"))
    progress.on_step_end(51, _trials("RUNNING", "PENDING", "PENDING"))
    assert [w["phase"] for w in writes] == ["starting", "running"]
    assert writes[-1]["counts"]["running"] == 1 and writes[-1]["best"] == 0.25
    progress.on_experiment_end(_trials("TERMINATED", "TERMINATED", "ERROR"))
    doc = json.loads(path.read_text())
    assert doc["phase"] == "ended" and len(writes) == 3
    assert doc["line"].startswith("trials 2 done, 0 running, 0 pending, 1 errored of 3")
    assert doc["counts"] == {"done": 2, "running": 0, "pending": 0, "paused": 0, "error": 1}
    assert doc["best"] == 0.25 and doc["metric"] == "loss" and doc["pid"] > 0
    assert not list(tmp_path.glob(".status.json.*"))  # no temporary file left


def test_quiet_progress_prints_nothing(tmp_path, capsys):
    progress = Progress(total=1, metric="loss", mode="min", show=False,
                        status_path=str(tmp_path / "status.json"))
    progress.setup()
    progress.on_step_end(0, _trials("RUNNING"))
    progress.on_experiment_end(_trials("TERMINATED"))
    assert capsys.readouterr().out == ""
    assert (tmp_path / "status.json").exists()
