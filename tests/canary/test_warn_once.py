"""Where hpotk cannot apply a fix or a hook to Ray, it warns once per process, naming the
feature lost, instead of carrying on silently or raising (STYLE 12). Each test takes the
private part away and checks the warning."""

from __future__ import annotations

import types
import warnings

import pytest

from hpotk import _ray_fixes
from tests.canary._tune import controller


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    """No warning given yet, no fix installed yet; Ray's classes put back afterwards."""
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.tune.execution.tune_controller import TuneController

    monkeypatch.setattr(_ray_fixes, "_warned", set())
    monkeypatch.setattr(_ray_fixes, "_installed", False)
    # install() replaces these: monkeypatch restores what was there
    monkeypatch.setattr(RayActorManager, "_actor_task_failed",
                        RayActorManager._actor_task_failed)
    monkeypatch.setattr(TuneController, "_schedule_trial_restore",
                        TuneController._schedule_trial_restore)


def hpotk_warnings(call, times: int = 2) -> list[str]:
    """The texts of hpotk's RuntimeWarnings while ``call`` runs ``times`` times."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(times):
            call()
    return [str(w.message) for w in caught
            if issubclass(w.category, RuntimeWarning) and str(w.message).startswith("[hpotk]")]


def install_again():
    _ray_fixes._installed = False
    _ray_fixes.install()


def test_a_missing_method_to_patch_warns_once_and_the_other_fix_installs(monkeypatch):
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.tune.execution.tune_controller import TuneController

    monkeypatch.delattr(RayActorManager, "_actor_task_failed")
    texts = hpotk_warnings(install_again)
    assert len(texts) == 1 and "OOM killer" in texts[0] and "_actor_task_failed is gone" in \
        texts[0] and "tests/canary" in texts[0]
    assert hasattr(TuneController._schedule_trial_restore, "__wrapped__")


def test_a_method_with_other_arguments_is_not_patched(monkeypatch):
    from ray.tune.execution.tune_controller import TuneController

    def moved(self, trial, *, strict):
        return True

    monkeypatch.setattr(TuneController, "_schedule_trial_restore", moved)
    texts = hpotk_warnings(install_again)
    assert len(texts) == 1 and "checkpoint deleted after Tune's last state save" in texts[0]
    assert TuneController._schedule_trial_restore is moved


def test_a_missing_worker_lost_error_class_warns(monkeypatch):
    import ray.exceptions

    monkeypatch.delattr(ray.exceptions, "NodeDiedError")
    texts = hpotk_warnings(install_again)
    assert len(texts) == 1 and "NodeDiedError" in texts[0]


def test_a_checkpoint_manager_without_the_latest_result_warns(tmp_path):
    from ray.tune import Checkpoint

    result = types.SimpleNamespace(checkpoint=Checkpoint(str(tmp_path / "checkpoint_000002")))
    trial = types.SimpleNamespace(
        trial_id="t1", latest_checkpoint_result=result,
        run_metadata=types.SimpleNamespace(checkpoint_manager=types.SimpleNamespace()))
    texts = hpotk_warnings(lambda: _ray_fixes.point_at_a_checkpoint_that_exists(trial))
    assert len(texts) == 1 and "_latest_checkpoint_result" in texts[0]


def test_the_journal_without_a_controller_warns_once():
    from hpotk._tune_save import TrialJournal

    journal = TrialJournal("/nowhere")
    texts = hpotk_warnings(journal.setup)
    assert len(texts) == 1 and "not on the call stack" in texts[0] and "killed" in texts[0]
    assert journal._live() is None


def test_the_journal_names_a_missing_controller_part(tmp_path):
    from hpotk._tune_save import TrialJournal

    journal = TrialJournal(str(tmp_path))
    tc = controller(tmp_path, callbacks=[journal])
    del tc._session_str
    texts = hpotk_warnings(lambda: tc.setup_experiments(experiments=[None], total_num_samples=1))
    assert len(texts) == 1 and "_session_str" in texts[0]
    assert journal._live() is None  # no step of the run reads what is not there


def test_the_journal_finds_a_whole_controller_silently(tmp_path):
    from hpotk._tune_save import TrialJournal

    journal = TrialJournal(str(tmp_path))
    tc = controller(tmp_path, callbacks=[journal])
    assert hpotk_warnings(lambda: tc.setup_experiments(experiments=[None],
                                                       total_num_samples=1)) == []
    assert journal._live() is tc


def test_the_stall_watch_without_a_controller_warns_once():
    from hpotk._stall import RunStopper, StallWatch

    watch = StallWatch(RunStopper(max_t=1), stall_s=60, verbose=0)
    try:
        texts = hpotk_warnings(watch.setup)
    finally:
        watch.on_experiment_end(trials=[])
    assert len(texts) == 1 and "budget.stall_s" in texts[0]


@pytest.fixture
def ray_up(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: True)


def test_an_unreadable_actor_table_warns_once(ray_up):
    from hpotk._tune_callbacks import slurm_node_of

    trial = types.SimpleNamespace(temporary_state=types.SimpleNamespace(ray_actor=object()))
    texts = hpotk_warnings(lambda: slurm_node_of(trial, {}))
    assert len(texts) == 1 and "Slurm node" in texts[0] and "trials.csv" in texts[0]


def test_a_failed_actor_table_read_warns_once(ray_up, monkeypatch):
    from ray._private import state
    from ray.exceptions import RaySystemError

    from hpotk._tune_callbacks import slurm_node_of

    def fails(**kwargs):
        raise RaySystemError("GCS unreachable")

    monkeypatch.setattr(state, "actors", fails)
    actor = types.SimpleNamespace(_actor_id=types.SimpleNamespace(hex=lambda: "ab"))
    trial = types.SimpleNamespace(temporary_state=types.SimpleNamespace(ray_actor=actor))
    texts = hpotk_warnings(lambda: slurm_node_of(trial, {}))
    assert len(texts) == 1 and "GCS unreachable" in texts[0]


def test_any_other_error_reading_the_actor_table_is_not_swallowed(ray_up, monkeypatch):
    from ray._private import state

    from hpotk._tune_callbacks import slurm_node_of

    def broken(**kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(state, "actors", broken)
    actor = types.SimpleNamespace(_actor_id=types.SimpleNamespace(hex=lambda: "ab"))
    trial = types.SimpleNamespace(temporary_state=types.SimpleNamespace(ray_actor=actor))
    with pytest.raises(ZeroDivisionError):
        slurm_node_of(trial, {})
