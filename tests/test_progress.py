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
