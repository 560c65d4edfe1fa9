"""hpotk.recovery: trials that finished after Tune's last save stay finished; failure causes."""

from __future__ import annotations

import json
from pathlib import Path

from hpotk.recovery import failures, keep_finished, latest_state_file


def saved_state(results: Path, trials: dict[str, str],
                started: str = "2026-01-01_00-00-00") -> Path:
    data = []
    for trial_id, status in trials.items():
        state = {"trial_id": trial_id, "status": status, "relative_logdir": trial_id}
        meta = {"last_result": {"trial_id": trial_id, "training_iteration": 1}}
        data.append([json.dumps(state), json.dumps(meta)])
    path = results / f"experiment_state-{started}.json"
    path.write_text(json.dumps({"trial_data": data, "runner_data": {}, "stats": {}}))
    return path


def test_finished_trials_are_marked_finished_with_their_last_result(tmp_path):
    path = saved_state(tmp_path, {"a": "RUNNING", "b": "PENDING", "c": "TERMINATED", "d": "RUNNING"})
    (tmp_path / "finished.jsonl").write_text(
        '{"trial_id": "a", "status": "TERMINATED", "iterations": 3}\n'
        '{"trial_id": "b", "status": "ERROR", "iterations": 1}\n'
        '{"trial_id": "c", "status": "TERMINATED", "iterations": 3}\n'
        '{"trial_id": "d", "sta')  # cut short by the kill
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "result.json").write_text("".join(
        json.dumps({"trial_id": "a", "training_iteration": i, "val": i / 10}) + "\n"
        for i in (1, 2, 3)))
    kept = keep_finished(tmp_path)
    assert list(kept) == ["a", "b"] and kept["a"]["val"] == 0.3 and kept["b"] is None
    saved = json.loads(path.read_text())["trial_data"]
    status = {json.loads(s)["trial_id"]: json.loads(s)["status"] for s, _ in saved}
    assert status == {"a": "TERMINATED", "b": "ERROR", "c": "TERMINATED", "d": "RUNNING"}
    assert json.loads(saved[0][1])["last_result"]["training_iteration"] == 3
    assert keep_finished(tmp_path) == {}  # nothing left to do


def _result(trial_id: str, i: int, **extra) -> dict:
    return {"trial_id": trial_id, "training_iteration": i, "timestamp": 1000 + i, "val": i / 10,
            "config": {"lr": 0.01}, **extra}


def test_a_kept_trials_last_results_come_from_hpotks_log_when_tune_had_not_copied_them(tmp_path):
    # Tune writes result.json and progress.csv in a staging dir and copies them into the results
    # dir when it saves its state: killed before the save that followed the trial's end, the
    # copies lack its last results (here 3, the final one, with done). CI saw that trial come back
    # UNFINISHED from a resume that had kept it as finished.
    path = saved_state(tmp_path, {"a": "RUNNING"})
    (tmp_path / "finished.jsonl").write_text(
        '{"trial_id": "a", "status": "TERMINATED", "iterations": 3}\n')
    history = [{"event": "start", "trial_id": "a", "time": 1.0, "config": {"lr": 0.01}}]
    history += [{"event": "result", "time": 2.0 + i, "slurm_node": "n1",
                 **_result("a", i, done=i == 3)} for i in (1, 2, 3)]
    history.append({"event": "result", "time": 9.0, **_result("other", 3, done=True)})
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    trial = tmp_path / "a"
    trial.mkdir()
    (trial / "result.json").write_text("".join(
        json.dumps(_result("a", i, done=False)) + "\n" for i in (1, 2)))
    (trial / "progress.csv").write_text(
        "val,done,training_iteration,trial_id,config/lr\n"
        "0.1,False,1,a,0.01\n0.2,False,2,a,0.01\n")

    kept = keep_finished(tmp_path)
    assert kept["a"]["done"] is True and kept["a"]["training_iteration"] == 3
    assert "event" not in kept["a"] and "slurm_node" not in kept["a"]
    saved = json.loads(path.read_text())["trial_data"]
    assert json.loads(saved[0][1])["last_result"]["done"] is True
    lines = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    assert [r["training_iteration"] for r in lines] == [1, 2, 3] and lines[-1]["val"] == 0.3
    progress = (trial / "progress.csv").read_text().splitlines()
    assert progress[-1] == "0.3,True,3,a,0.01"
    # a second resume (the first one killed too) appends nothing twice
    saved_state(tmp_path, {"a": "RUNNING"})
    assert keep_finished(tmp_path)["a"]["training_iteration"] == 3
    assert len((trial / "result.json").read_text().splitlines()) == 3
    assert len((trial / "progress.csv").read_text().splitlines()) == 4


def test_the_state_kept_is_the_one_tune_restores_not_the_newest_by_mtime(tmp_path):
    # each driver of a resumed experiment writes its own experiment_state-<start>.json, and
    # Tune's sync rewrites all of them at every save in no set order; Tune restores the greatest
    # name. Editing the newest by mtime instead made a kept trial run again (measured:
    # benchmarks/kill_driver.py --moment trial-end, 2 of 10 completed trials ran twice).
    import os

    newer = saved_state(tmp_path, {"a": "RUNNING"}, started="2026-01-01_00-00-09")
    older = saved_state(tmp_path, {"a": "RUNNING"}, started="2026-01-01_00-00-00")
    os.utime(newer, (1000, 1000))  # synced first
    (tmp_path / "finished.jsonl").write_text(
        '{"trial_id": "a", "status": "TERMINATED", "iterations": 3}\n')
    assert latest_state_file(tmp_path) == newer
    assert list(keep_finished(tmp_path)) == ["a"]
    assert json.loads(json.loads(newer.read_text())["trial_data"][0][0])["status"] == "TERMINATED"
    assert json.loads(json.loads(older.read_text())["trial_data"][0][0])["status"] == "RUNNING"


def test_nothing_to_keep_without_a_log_or_a_state(tmp_path):
    assert keep_finished(tmp_path) == {}
    saved_state(tmp_path, {"a": "RUNNING"})
    assert keep_finished(tmp_path) == {}


def test_failures_name_each_cause(tmp_path):
    (tmp_path / "error.txt").write_text(
        "Failure # 1 (occurred at 2026-01-01_00-00-01)\n"
        "The actor died unexpectedly before finishing this task.\n"
        "\tclass_name: ImplicitFunc\n"
        "Failure # 2 (occurred at 2026-01-01_00-00-09)\n"
        "ray::ImplicitFunc.train() (pid=1, ip=10.0.0.1)\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in step\n'
        "ValueError: loss diverged\n"
        "Failure # 3 (occurred at 2026-01-01_00-00-20)\n"
        "ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on "
        "memory.\n")
    assert failures(tmp_path) == [
        "The actor died unexpectedly before finishing this task.",
        "ValueError: loss diverged",
        "ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory.",
    ]
    assert failures(tmp_path / "nowhere") == []


def test_state_files_a_kill_cut_short_are_put_back_from_their_copy(tmp_path):
    from hpotk.recovery import BACKUP_DIR, back_up_state, repair_state

    state = saved_state(tmp_path, {"a": "RUNNING"})
    good = state.read_text()
    searcher = tmp_path / "basic-variant-state-2026-01-01_00-00-00.json"
    searcher.write_text('{"counter": 3}')
    back_up_state(tmp_path)
    state.write_text("")  # the kill landed while Tune rewrote them
    searcher.write_text('{"coun')
    other = tmp_path / "searcher-state-2026-01-01_00-00-00.pkl"
    other.write_bytes(b"")  # no copy of this one
    notes = repair_state(tmp_path)
    assert state.read_text() == good and searcher.read_text() == '{"counter": 3}'
    assert not other.exists() and other.with_name(other.name + ".corrupt").exists()
    assert len(notes) == 3 and (tmp_path / BACKUP_DIR / state.name).exists()
    assert repair_state(tmp_path) == []


def _never_run(config):
    return None


def test_a_searchers_pickled_state_under_a_json_name_is_kept(tmp_path):
    """Tune saves BasicVariantGenerator's state as a cloudpickle named ``.json``: a resume must
    neither move it aside nor replace it, or random search forgets which trials it made."""
    from ray.tune.search import BasicVariantGenerator

    from hpotk.recovery import back_up_state, repair_state

    generator = BasicVariantGenerator(random_state=0, max_concurrent=2)
    generator.add_configurations({"e": {"run": _never_run, "config": {"a": 1},
                                        "num_samples": 3}})
    generator.save_to_dir(str(tmp_path), session_str="s")
    saved = tmp_path / "basic-variant-state-s.json"
    assert saved.exists()
    back_up_state(tmp_path)
    assert repair_state(tmp_path) == []
    assert saved.exists()
    saved.write_bytes(saved.read_bytes()[:10])  # a kill cut it short
    assert repair_state(tmp_path) == ["basic-variant-state-s.json: restored from its last good copy"]
    fresh = BasicVariantGenerator()
    fresh.restore_from_dir(str(tmp_path))
    assert fresh.get_state()["_total_samples"] == 3
