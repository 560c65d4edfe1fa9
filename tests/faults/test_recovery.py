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


# --- the trial journal (hpotk._tune_save.TrialJournal): trials created since Tune's last save

SESSION = "2026-01-01_00-00-00"


def journal(results: Path, entries: list[tuple[str, int, str]], session: str = SESSION) -> None:
    """Lines of tune-trials.jsonl: (trial id, index in the driver's trial list, status)."""
    from hpotk.recovery import TRIAL_JOURNAL

    with open(results / TRIAL_JOURNAL, "a") as f:
        for trial_id, index, status in entries:
            state = {"trial_id": trial_id, "status": status, "relative_logdir": trial_id}
            f.write(json.dumps({"session": session, "index": index, "trial_id": trial_id,
                                "state": json.dumps(state), "metadata": "{}"}) + "\n")


def snapshot(results: Path, covers: int, session: str = SESSION, payload: bytes = b"new") -> None:
    import pickle

    from hpotk.recovery import BACKUP_DIR, SNAPSHOT

    (results / BACKUP_DIR).mkdir(exist_ok=True)
    (results / BACKUP_DIR / SNAPSHOT).write_bytes(pickle.dumps(
        {"session": session, "covers": covers,
         "files": {f"basic-variant-state-{session}.json": payload}}))


def statuses(path: Path) -> dict[str, str]:
    saved = json.loads(path.read_text())["trial_data"]
    return {json.loads(s)["trial_id"]: json.loads(s)["status"] for s, _ in saved}


def test_a_trial_created_and_finished_after_tunes_last_save_is_added_and_kept(tmp_path):
    # Tune saved with trial a only; the driver then created b and c (the searcher snapshot
    # taken after b's creation covers 2 trials) and b finished before the kill
    path = saved_state(tmp_path, {"a": "RUNNING"}, started=SESSION)
    searcher = tmp_path / f"basic-variant-state-{SESSION}.json"
    searcher.write_bytes(b"old")
    journal(tmp_path, [("a", 0, "PENDING"), ("b", 1, "PENDING"), ("c", 2, "PENDING")])
    snapshot(tmp_path, covers=2)
    (tmp_path / "finished.jsonl").write_text(
        '{"trial_id": "a", "status": "TERMINATED", "iterations": 2}\n'
        '{"trial_id": "b", "status": "TERMINATED", "iterations": 2}\n')
    (tmp_path / "history.jsonl").write_text("".join(
        json.dumps({"event": "result", "time": 1.0 + i, **_result("b", i)}) + "\n"
        for i in (1, 2)))

    kept = keep_finished(tmp_path)
    assert set(kept) == {"a", "b"} and kept["b"]["training_iteration"] == 2
    # c came after the snapshot: the restored searcher creates it again, so it is not added
    assert statuses(path) == {"a": "TERMINATED", "b": "TERMINATED"}
    assert searcher.read_bytes() == b"new"  # the snapshot's searcher knows b
    lines = (tmp_path / "b" / "result.json").read_text().splitlines()
    assert [json.loads(line)["training_iteration"] for line in lines] == [1, 2]
    # a second resume (the first one killed too) changes nothing
    searcher.write_bytes(b"tune's own, newer")
    assert keep_finished(tmp_path) == {}
    assert statuses(path) == {"a": "TERMINATED", "b": "TERMINATED"}
    assert searcher.read_bytes() == b"tune's own, newer"


def test_an_unfinished_journaled_trial_is_added_to_run_again_under_its_own_id(tmp_path):
    path = saved_state(tmp_path, {"a": "TERMINATED"}, started=SESSION)
    journal(tmp_path, [("b", 1, "PENDING")])
    snapshot(tmp_path, covers=2)
    assert keep_finished(tmp_path) == {}
    assert statuses(path) == {"a": "TERMINATED", "b": "PENDING"}


def test_a_snapshot_older_than_tunes_save_is_not_used(tmp_path):
    # Tune saved after the snapshot (3 trials in its state, the snapshot covers 2): its own
    # state and searcher are newer
    path = saved_state(tmp_path, {"a": "RUNNING", "b": "RUNNING", "c": "RUNNING"},
                       started=SESSION)
    journal(tmp_path, [("a", 0, "PENDING"), ("b", 1, "PENDING"), ("c", 2, "PENDING")])
    snapshot(tmp_path, covers=2)
    assert keep_finished(tmp_path) == {}
    assert not (tmp_path / f"basic-variant-state-{SESSION}.json").exists()
    # and one of an earlier driver neither
    snapshot(tmp_path, covers=9, session="2025-01-01_00-00-00")
    journal(tmp_path, [("z", 5, "PENDING")], session="2025-01-01_00-00-00")
    assert keep_finished(tmp_path) == {} and set(statuses(path)) == {"a", "b", "c"}


def test_a_later_driver_killed_before_its_first_save_reached_the_results_dir(tmp_path):
    # the resumed driver (a later session) restored trial a, created b, and was killed before
    # any state file of its own was written: the older driver's state file gets b
    path = saved_state(tmp_path, {"a": "TERMINATED"}, started="2025-01-01_00-00-00")
    journal(tmp_path, [("b", 1, "RUNNING")])
    snapshot(tmp_path, covers=2)
    (tmp_path / "finished.jsonl").write_text('{"trial_id": "b", "status": "ERROR"}\n')
    assert keep_finished(tmp_path) == {"b": None}
    assert statuses(path) == {"a": "TERMINATED", "b": "ERROR"}
    assert (tmp_path / f"basic-variant-state-{SESSION}.json").read_bytes() == b"new"


def test_a_searcher_snapshot_restores_the_searcher(tmp_path):
    """`write_snapshot` keeps what Tune's own save keeps: a BasicVariantGenerator put back from
    it continues where it was (the next trial is the one it would have made)."""
    from ray.tune.search import BasicVariantGenerator

    from hpotk._tune_save import write_snapshot

    def generator() -> BasicVariantGenerator:
        g = BasicVariantGenerator(random_state=0, max_concurrent=0)
        g.add_configurations({"e": {"run": _never_run, "num_samples": 5,
                                    "config": {"x": {"grid_search": [1, 2, 3, 4, 5]}}}})
        return g

    running = generator()
    made = [running.next_trial() for _ in range(2)]
    saved_state(tmp_path, {}, started=SESSION)
    write_snapshot(tmp_path, running, SESSION, covers=2)
    journal(tmp_path, [(t.trial_id, i, "PENDING") for i, t in enumerate(made)])
    keep_finished(tmp_path)
    restored = generator()
    restored.restore_from_dir(str(tmp_path))
    assert restored.next_trial().config == running.next_trial().config == {"x": 3}


def test_the_journal_callback_pickles_without_its_controller_and_reads_older_pickles():
    import pickle

    from hpotk._tune_save import SaveOnTrialEvents, TrialJournal

    journal_cb = pickle.loads(pickle.dumps(TrialJournal("/r")))
    assert journal_cb.results_dir == "/r" and journal_cb._controller is None
    older = SaveOnTrialEvents.__new__(SaveOnTrialEvents)  # what an older tuner.pkl holds
    older.__setstate__({"_controller": None, "_pending": False, "results_dir": "/r"})
    assert older.results_dir == "/r" and older._count == 0
