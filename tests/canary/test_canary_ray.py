"""Canaries for the private parts of Ray Tune's driver that hpotk relies on: the actor manager
and controller it patches (`hpotk._ray_fixes`), the controller its callbacks reach through the
call stack (`hpotk._tune_save`, `hpotk._stall`), the actor table (`hpotk._tune_callbacks`), the
Tuner and ResultGrid internals (`hpotk.runner`, `hpotk.summary`) and Tune's files
(`hpotk.recovery`). No test here starts Ray. See `tests.canary._tune.moved` for the messages."""

from __future__ import annotations

import fnmatch
import inspect
import json
import threading
import time
from pathlib import Path

import pytest

from tests.canary._tune import controller, moved, stub_trial


def params(owner, name: str) -> tuple[str, ...]:
    """The parameter names of ``owner.name`` (unwrapped from hpotk's patch); () if it is gone."""
    function = getattr(owner, name, None)
    if function is None:
        return ()
    return tuple(inspect.signature(getattr(function, "__wrapped__", function)).parameters)


# --- hpotk._ray_fixes: the OOM / lost-worker fix ---------------------------------------------

OOM_FIX = ("a trial the OOM killer stops fails alone, not the whole experiment "
           "(hpotk._ray_fixes._install_worker_lost_fix, tests/faults/test_oom_e2e.py)")


def test_canary_actor_task_failed_signature():
    from ray.air.execution._internal.actor_manager import RayActorManager

    assert params(RayActorManager, "_actor_task_failed") == (
            "self", "tracked_actor_task", "exception"), moved(
        "RayActorManager._actor_task_failed(self, tracked_actor_task, exception)", OOM_FIX,
        "ray/air/execution/_internal/actor_manager.py")


def test_canary_actor_task_failed_actor_error_branch():
    """The fix does for a lost worker what Ray's RayActorError branch does; if that branch
    changes, the fix must change with it."""
    from ray.air.execution._internal.actor_manager import RayActorManager

    method = getattr(RayActorManager, "_actor_task_failed", None)
    source = inspect.getsource(getattr(method, "__wrapped__", method)) if method else ""
    for line in ("isinstance(exception, RayActorError)",
                 "self._failed_actor_ids.add(tracked_actor.actor_id)",
                 "self._cleanup_actor(tracked_actor=tracked_actor)",
                 "tracked_actor._on_error(tracked_actor, exception)",
                 "tracked_actor_task._on_error(tracked_actor, exception)"):
        assert line in source, moved(f"RayActorManager._actor_task_failed's RayActorError "
                                     f"branch ({line!r})", OOM_FIX,
                                     "ray/air/execution/_internal/actor_manager.py")


def test_canary_actor_manager_parts_the_oom_fix_uses():
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.air.execution._internal.tracked_actor import TrackedActor
    from ray.air.execution._internal.tracked_actor_task import TrackedActorTask
    from ray.air.execution.resources import PlacementGroupResourceManager

    manager = RayActorManager(PlacementGroupResourceManager())
    assert isinstance(getattr(manager, "_failed_actor_ids", None), set), moved(
        "RayActorManager._failed_actor_ids (a set)", OOM_FIX, "actor_manager.py")
    assert params(RayActorManager, "_cleanup_actor") == ("self", "tracked_actor"), moved(
        "RayActorManager._cleanup_actor(self, tracked_actor)", OOM_FIX, "actor_manager.py")

    def on_error(actor, exc):
        return None

    actor = TrackedActor(actor_id=7, on_error=on_error)
    task = TrackedActorTask(actor, on_error=on_error)
    assert (actor.actor_id, actor._on_error) == (7, on_error), moved(
        "TrackedActor.actor_id / ._on_error", OOM_FIX, "tracked_actor.py")
    assert (task._tracked_actor, task._on_error) == (actor, on_error), moved(
        "TrackedActorTask._tracked_actor / ._on_error", OOM_FIX, "tracked_actor_task.py")


def test_canary_worker_lost_exception_classes():
    from ray import exceptions

    from hpotk._ray_fixes import WORKER_LOST

    missing = [name for name in WORKER_LOST if not isinstance(getattr(exceptions, name, None),
                                                              type)]
    assert not missing, moved(f"ray.exceptions.{', '.join(missing)}", OOM_FIX,
                              "ray/exceptions.py; summary.py's OOM_ERROR names the class too")


# --- hpotk._ray_fixes: restoring from a checkpoint Tune deleted --------------------------------

RESTORE_FIX = ("a resume after a killed driver restores from the newest checkpoint left "
               "(hpotk._ray_fixes._install_restore_fix, point_at_a_checkpoint_that_exists)")


def test_canary_schedule_trial_restore_signature():
    from ray.tune.execution.tune_controller import TuneController

    assert params(TuneController, "_schedule_trial_restore") == ("self", "trial"), moved(
        "TuneController._schedule_trial_restore(self, trial) -> bool", RESTORE_FIX,
        "ray/tune/execution/tune_controller.py")
    method = TuneController._schedule_trial_restore
    assert "return False" in inspect.getsource(getattr(method, "__wrapped__", method)), moved(
        "TuneController._schedule_trial_restore returning False for 'nothing to restore'",
        RESTORE_FIX, "tune_controller.py")


def test_canary_latest_checkpoint_result(tmp_path):
    """``trial.latest_checkpoint_result`` is the checkpoint manager's
    ``_latest_checkpoint_result``: setting that to None makes the trial start again."""
    import pyarrow.fs
    from ray.train._internal.session import _TrainingResult
    from ray.tune import Checkpoint

    trial = stub_trial("t0", controller(tmp_path)._storage)
    manager = trial.run_metadata.checkpoint_manager
    assert hasattr(manager, "_latest_checkpoint_result"), moved(
        "_CheckpointManager._latest_checkpoint_result", RESTORE_FIX,
        "ray/train/_internal/checkpoint_manager.py")
    result = _TrainingResult(Checkpoint(str(tmp_path), filesystem=pyarrow.fs.LocalFileSystem()),
                             {})
    manager._latest_checkpoint_result = result
    assert trial.latest_checkpoint_result is result, moved(
        "Trial.latest_checkpoint_result reading the manager's _latest_checkpoint_result",
        RESTORE_FIX, "ray/tune/experiment/trial.py")
    assert type(result.checkpoint.filesystem).__name__ == "LocalFileSystem", moved(
        "Checkpoint.filesystem", RESTORE_FIX, "ray/train/_checkpoint.py")
    manager._latest_checkpoint_result = None
    assert trial.latest_checkpoint_result is None, moved(
        "Trial.latest_checkpoint_result", RESTORE_FIX, "trial.py")


# --- the controller on the call stack (hpotk._ray_fixes.find_controller) --------------------

def test_canary_callbacks_setup_runs_inside_the_controller(tmp_path):
    """Tune calls ``Callback.setup`` from ``TuneController.setup_experiments``, so the
    controller is ``self`` in a frame on the stack."""
    from ray.tune import Callback

    from hpotk._ray_fixes import find_controller

    found = []

    class Probe(Callback):
        def setup(self, **info):
            found.append(find_controller())

    tc = controller(tmp_path, callbacks=[Probe()])
    tc.setup_experiments(experiments=[None], total_num_samples=1)
    assert found and found[0] is not None and found[0]() is tc, moved(
        "TuneController.setup_experiments calling Callback.setup with the controller on the "
        "call stack", "the trial journal (kill -9 safety between Tune's saves) and the stall "
        "watch's release of Tune's searcher wait", "hpotk/_ray_fixes.find_controller, "
        "ray/tune/execution/tune_controller.py setup_experiments, ray/tune/tune.py")
    source = inspect.getsource(__import__("ray.tune.tune", fromlist=["run"]).run)
    assert "setup_experiments(" in source, moved(
        "tune.run calling TuneController.setup_experiments", "the trial journal and the stall "
        "watch", "ray/tune/tune.py")


# --- hpotk._tune_save: the trial journal --------------------------------------------------------

JOURNAL = ("the trial journal: trials created or ended between two of Tune's state saves "
           "survive a killed driver (hpotk/_tune_save.py, hpotk/recovery.py)")


@pytest.fixture
def saved(tmp_path):
    """A controller with one trial whose state Tune has just saved."""
    from ray.tune.search import Searcher, SearchGenerator

    class Saving(Searcher):
        def suggest(self, trial_id):
            return None

        def save(self, path):
            with open(path, "w") as f:
                f.write("{}")

    tc = controller(tmp_path, search_alg=SearchGenerator(Saving()))
    trial = stub_trial("t0", tc._storage, a=1)
    tc.add_trial(trial)
    trial.init_local_path()
    before = tc._checkpoint_manager._last_save_time
    tc.checkpoint(force=True, wait=True)
    return tc, trial, before


def test_canary_controller_parts_the_journal_reads(saved):
    from hpotk._ray_fixes import missing_parts
    from hpotk._tune_save import CONTROLLER_PARTS

    tc, trial, _ = saved
    assert not missing_parts(tc, CONTROLLER_PARTS), moved(
        f"TuneController.{', '.join(missing_parts(tc, CONTROLLER_PARTS))}", JOURNAL,
        "ray/tune/execution/tune_controller.py")
    assert tc._trials == [trial] and isinstance(tc._session_str, str), moved(
        "TuneController._trials (the trial list) / _session_str", JOURNAL, "tune_controller.py")


def test_canary_last_save_time_moves_at_each_save(saved):
    tc, _, before = saved
    assert tc._checkpoint_manager._last_save_time > before, moved(
        "_ExperimentCheckpointManager._last_save_time (changes at each state save)",
        JOURNAL + "; its backups of Tune's state files", "ray/tune/execution/experiment_state.py")


def test_canary_state_files_in_the_staging_directory(saved):
    tc, _, _ = saved
    staging = Path(tc._storage.experiment_driver_staging_path)
    names = sorted(p.name for p in staging.iterdir() if p.is_file())
    state = f"experiment_state-{tc._session_str}.json"
    assert state in names, moved(f"Tune's state file {state} (named by _session_str) in "
                                 f"experiment_driver_staging_path", JOURNAL, "tune_controller.py "
                                 "CKPT_FILE_TMPL, save_to_dir")


def test_canary_state_file_names_match_the_backup_patterns(saved):
    from hpotk.recovery import TUNE_STATE_PATTERNS

    tc, _, _ = saved
    staging = Path(tc._storage.experiment_driver_staging_path)
    names = sorted(p.name for p in staging.iterdir() if p.is_file())
    unmatched = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in TUNE_STATE_PATTERNS)]
    assert not unmatched, moved(f"the names of Tune's state files ({unmatched})", JOURNAL +
                                "; repair_state's backups", "hpotk/recovery.py "
                                "TUNE_STATE_PATTERNS")


def test_canary_experiment_state_format(saved):
    """recovery.keep_finished / add_journaled edit Tune's state file: ``trial_data`` is a list
    of [trial state, run metadata] JSON strings, the form ``Trial.get_json_state`` gives."""
    tc, trial, _ = saved
    path = f"{tc._storage.experiment_driver_staging_path}/experiment_state-{tc._session_str}.json"
    with open(path) as f:
        state = json.load(f)
    where = "hpotk/recovery.py keep_finished, add_journaled; ray/tune/execution/tune_controller.py"
    entry = state.get("trial_data", [[None, None]])[0]
    assert list(entry) == list(trial.get_json_state()), moved(
        "experiment_state's trial_data entries being Trial.get_json_state()", JOURNAL, where)
    saved_trial, metadata = json.loads(entry[0]), json.loads(entry[1])
    assert {"trial_id", "status", "relative_logdir"} <= set(saved_trial), moved(
        "a saved trial's trial_id / status / relative_logdir", JOURNAL, where)
    assert "last_result" in metadata, moved("a saved trial's run metadata last_result",
                                            JOURNAL, where)


def test_canary_newest_state_file_by_name(tmp_path):
    from ray.tune.execution.experiment_state import _find_newest_experiment_checkpoint

    for name in ("experiment_state-2024-01-02_00-00-00.json",
                 "experiment_state-2024-01-01_00-00-00.json"):
        (tmp_path / name).write_text("{}")
    newest = _find_newest_experiment_checkpoint(str(tmp_path))
    assert newest and newest.endswith("2024-01-02_00-00-00.json"), moved(
        "Tune restoring the greatest experiment_state-*.json name", JOURNAL,
        "hpotk/recovery.py latest_state_file")


def test_canary_search_algorithms_save_to_dir_session_str():
    from ray.tune.search import BasicVariantGenerator, SearchGenerator

    for cls in (SearchGenerator, BasicVariantGenerator):
        assert params(cls, "save_to_dir")[1:] == ("dirpath", "session_str"), moved(
            f"{cls.__name__}.save_to_dir(dirpath, session_str)", JOURNAL,
            "hpotk/_tune_save.write_snapshot, ray/tune/search/")
    assert "return False" in inspect.getsource(BasicVariantGenerator.save_to_dir), moved(
        "BasicVariantGenerator.save_to_dir returning False when it saves nothing (lazily "
        "evaluated spaces)", JOURNAL, "hpotk/_tune_save.write_snapshot")


# --- hpotk._stall: ending a run that waits in Tune's searcher loop --------------------------

STALL = ("budget.stall_s ends a run whose searcher suggests nothing (hpotk/_stall.py "
         "StallWatch.check)")


def test_canary_set_finished_releases_the_wait_for_a_suggestion(tmp_path):
    from hpotk._ray_fixes import missing_parts
    from hpotk._stall import CONTROLLER_PARTS

    tc = controller(tmp_path)
    assert not missing_parts(tc, CONTROLLER_PARTS), moved(
        f"TuneController.{', '.join(missing_parts(tc, CONTROLLER_PARTS))}", STALL,
        "tune_controller.py")
    threading.Timer(0.5, tc._search_alg.set_finished).start()
    start = time.monotonic()
    tc._update_trial_queue(blocking=True, timeout=60)
    assert time.monotonic() - start < 30 and tc.is_finished(), moved(
        "TuneController._update_trial_queue's blocking wait ending once the search algorithm "
        "is finished", STALL, "tune_controller.py _update_trial_queue")


# --- hpotk._tune_callbacks: the Slurm node of a trial ---------------------------------------

NODES = ("trials.csv and history.jsonl name the Slurm node each trial ran on "
         "(hpotk/_tune_callbacks.py actor_node_id)")


def test_canary_trial_temporary_state_ray_actor(tmp_path):
    trial = stub_trial("t0", controller(tmp_path)._storage)
    assert hasattr(getattr(trial, "temporary_state", None), "ray_actor"), moved(
        "Trial.temporary_state.ray_actor", NODES + "; the hang watchdog (budget.trial_time_s, "
        "hpotk/_watchdog.py) kills that actor", "ray/tune/experiment/trial.py")


def test_canary_actor_handle_actor_id():
    from ray.actor import ActorHandle

    assert isinstance(inspect.getattr_static(ActorHandle, "_actor_id", None), property), moved(
        "ActorHandle._actor_id", NODES, "ray/actor.py")


def test_canary_actor_table_gives_the_node_id():
    from ray._private import state
    from ray.core.generated import gcs_pb2

    assert "actor_id" in params(state, "actors"), moved("ray._private.state.actors(actor_id=...)",
                                                     NODES, "ray/_private/state.py")
    data = gcs_pb2.ActorTableData(actor_id=b"\x01" * 16)
    data.address.node_id = b"\xab" * 28
    info = state.GlobalState._gen_actor_info(None, data)
    assert info.get("Address", {}).get("NodeID") == "ab" * 28, moved(
        "the actor table's ['Address']['NodeID'] (hex)", NODES,
        "ray/_private/state.py _gen_actor_info")


# --- hpotk.runner: the restored Tuner --------------------------------------------------------

def test_canary_tuner_internals_a_resume_replaces():
    from ray import tune

    def train(config):
        return None

    tune_config = tune.TuneConfig(num_samples=1, time_budget_s=5)
    tuner = tune.Tuner(train, tune_config=tune_config, run_config=tune.RunConfig(name="x"))
    feature = ("a resume runs with this run's callbacks, stop rule, verbosity and time budget, "
               "and tells the searcher of trials kept as finished (hpotk/runner.py "
               "build_tuner)")
    local = getattr(tuner, "_local_tuner", None)
    assert local is not None and getattr(local, "_tune_config", None) is tune_config, moved(
        "Tuner._local_tuner._tune_config", feature, "ray/tune/tuner.py, impl/tuner_internal.py")
    run_config = local.get_run_config()
    run_config.verbose = 0
    assert local.get_run_config() is run_config and local.get_run_config().verbose == 0, moved(
        "Tuner._local_tuner.get_run_config() returning the RunConfig the fit uses", feature,
        "ray/tune/impl/tuner_internal.py")


def test_canary_air_new_output_switch():
    from ray.tune.experimental.output import get_air_verbosity

    source = inspect.getsource(get_air_verbosity)
    assert '"RAY_AIR_NEW_OUTPUT"' in source and get_air_verbosity.__code__.co_argcount == 1, \
        moved("RAY_AIR_NEW_OUTPUT=0 choosing Tune's older console output (silent at verbosity "
              "0)", "hpotk run prints only its own progress line below -v (hpotk/runner.py "
              "_tune_output)", "ray/tune/experimental/output.py")


def test_canary_strict_metric_checking_switch():
    from ray.tune.execution.tune_controller import TuneController

    assert "TUNE_DISABLE_STRICT_METRIC_CHECKING" in inspect.getsource(
        TuneController._validate_result_metrics), moved(
        "TUNE_DISABLE_STRICT_METRIC_CHECKING", "Ray's own check of the metric (a traceback) is "
        "off for hpotk's, which names the key to fix (hpotk/runner.py, hpotk._stall.MetricCheck)",
        "tune_controller.py _validate_result_metrics")


def test_canary_auth_token_logger_name():
    import importlib.util

    name = "ray._private.authentication.authentication_token_setup"
    assert importlib.util.find_spec(name) is not None, moved(
        name, "Ray's token-authentication INFO lines stay off hpotk's console at -v 0 "
        "(hpotk/_output.py)", "ray/_private/authentication/")


# --- hpotk.summary: trials of a ResultGrid -----------------------------------------------------

def test_canary_result_grid_experiment_analysis(saved, tmp_path):
    from ray.tune import ExperimentAnalysis, ResultGrid

    grid = ResultGrid(ExperimentAnalysis(str(tmp_path / "exp")))
    trials = getattr(getattr(grid, "_experiment_analysis", None), "trials", None)
    assert [t.trial_id for t in trials or []] == ["t0"], moved(
        "ResultGrid._experiment_analysis.trials", "trials.csv's status, node and error "
        "columns (hpotk/summary.py summarise)", "ray/tune/result_grid.py")


# --- hpotk.recovery: Tune's per-trial files --------------------------------------------------

RECOVERY = ("a resume keeps trials that ended after Tune's last save, with their last "
            "results, and trials.csv counts retries (hpotk/recovery.py)")


def test_canary_trial_file_names():
    from ray.tune import result

    assert (result.EXPR_RESULT_FILE, result.EXPR_PROGRESS_FILE, result.EXPR_ERROR_FILE) == (
        "result.json", "progress.csv", "error.txt"), moved(
        "Tune's per-trial file names", RECOVERY, "ray/tune/result.py")


def test_canary_error_txt_format(saved):
    from hpotk.recovery import failures

    _, trial, _ = saved
    trial.handle_error(ValueError("first"))
    trial.handle_error(ValueError("second"))
    assert failures(Path(trial.local_path)) == ["first", "second"], moved(
        "error.txt's 'Failure # N (occurred at ...)' entries", RECOVERY + " (failures)",
        "ray/tune/experiment/trial.py handle_error")


def test_canary_progress_csv_flattening():
    from ray.tune.utils import flatten_dict

    assert flatten_dict({"a": {"b": 1}}, delimiter="/") == {"a/b": 1}, moved(
        "ray.tune.utils.flatten_dict(delimiter='/')", RECOVERY + " (_append_results)",
        "ray/tune/utils/util.py")


# --- hpotk.slurm.drain: an elastic worker leaving near its wall time -------------------------

DRAIN = ("an elastic worker's drain at its wall time (hpotk.slurm.drain, slurm/worker.sbatch): "
         "without it, its trials are killed without notice and retried as failures")


def test_canary_gcs_client_drain_node():
    from ray._raylet import InnerGcsClient

    # GcsClient hands its calls to InnerGcsClient (a __getattr__), as `ray drain-node` does
    assert hasattr(InnerGcsClient, "drain_node"), moved(
        "GcsClient.drain_node(node_id, reason, reason_message, deadline_timestamp_ms)", DRAIN,
        "python/ray/includes/gcs_client.pxi")
    assert hasattr(InnerGcsClient, "get_all_node_info"), moved(
        "GcsClient.get_all_node_info", DRAIN, "python/ray/includes/gcs_client.pxi")


def test_canary_drain_reason_and_node_info_fields():
    from ray.core.generated import autoscaler_pb2, gcs_pb2

    assert "DRAIN_NODE_REASON_PREEMPTION" in autoscaler_pb2.DrainNodeReason.keys(), moved(
        "autoscaler_pb2.DrainNodeReason.DRAIN_NODE_REASON_PREEMPTION", DRAIN,
        "src/ray/protobuf/autoscaler.proto")
    fields = gcs_pb2.GcsNodeInfo.DESCRIPTOR.fields_by_name
    assert "temp_dir" in fields and "state" in fields, moved(
        "GcsNodeInfo.temp_dir / .state", DRAIN, "src/ray/protobuf/gcs.proto")


def test_canary_tune_retries_a_preempted_actor_without_counting_a_failure():
    from ray.tune.experiment.trial import Trial

    source = inspect.getsource(Trial._handle_ray_actor_error)
    assert "preempted" in source, moved(
        "Trial._handle_ray_actor_error's exc.preempted", DRAIN, "ray/tune/experiment/trial.py")
