"""hpotk._watchdog: a trial that runs past trial_time_s without results has its actor killed;
each loop step looks only at the trials started and not ended."""

from __future__ import annotations

import json
from types import SimpleNamespace

from hpotk._watchdog import HangWatchdog


def trial(trial_id: str, status: str = "RUNNING") -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, status=status, last_result={},
                           temporary_state=SimpleNamespace(ray_actor=f"actor-{trial_id}"))


def test_only_live_trials_are_looked_at_and_a_hung_one_is_killed_once(tmp_path, monkeypatch):
    import ray

    killed = []
    monkeypatch.setattr(ray, "kill", lambda actor, no_restart: killed.append(actor))
    log = tmp_path / "watchdog.jsonl"
    dog = HangWatchdog(trial_time_s=1.0, log_path=str(log))
    hung, done, errored = trial("hung"), trial("done"), trial("errored")
    for t in (hung, done, errored):
        dog.on_trial_start(0, [], t)
    dog.on_trial_complete(0, [], done)
    dog.on_trial_error(0, [], errored)
    assert set(dog.live) == {"hung"}
    for t in dog.started:
        dog.started[t] -= 60  # started a minute ago
    dog.on_step_begin(0, [hung, done, errored])
    dog.on_step_begin(1, [hung, done, errored])
    assert killed == ["actor-hung"]
    assert [json.loads(line)["trial_id"] for line in log.read_text().splitlines()] == ["hung"]
