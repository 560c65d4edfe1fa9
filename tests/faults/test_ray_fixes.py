"""hpotk._ray_fixes: a resume whose saved state names a checkpoint Tune has since deleted (a
driver killed between Tune's deletion of the older checkpoint and its next state save)."""

from __future__ import annotations

import types

import pyarrow.fs
from ray.tune import Checkpoint

from hpotk._ray_fixes import point_at_a_checkpoint_that_exists


def _trial(tmp_path, name):
    from ray.train._internal.session import _TrainingResult

    result = _TrainingResult(Checkpoint(str(tmp_path / name),
                                        filesystem=pyarrow.fs.LocalFileSystem()), {})
    manager = types.SimpleNamespace(_latest_checkpoint_result=result)
    return types.SimpleNamespace(trial_id="t1", latest_checkpoint_result=result,
                                 run_metadata=types.SimpleNamespace(checkpoint_manager=manager))


def test_a_deleted_checkpoint_is_replaced_by_the_newer_one_left(tmp_path, capsys):
    (tmp_path / "checkpoint_000001").mkdir()  # older: not a candidate
    (tmp_path / "checkpoint_000003").mkdir()  # the one that replaced checkpoint_000002
    trial = _trial(tmp_path, "checkpoint_000002")
    assert point_at_a_checkpoint_that_exists(trial)
    assert trial.latest_checkpoint_result.checkpoint.path == str(tmp_path / "checkpoint_000003")
    assert "restoring from checkpoint_000003" in capsys.readouterr().out


def test_an_existing_checkpoint_is_left_alone(tmp_path):
    (tmp_path / "checkpoint_000002").mkdir()
    (tmp_path / "checkpoint_000003").mkdir()
    trial = _trial(tmp_path, "checkpoint_000002")
    assert point_at_a_checkpoint_that_exists(trial)
    assert trial.latest_checkpoint_result.checkpoint.path == str(tmp_path / "checkpoint_000002")


def test_without_any_checkpoint_left_the_trial_starts_again(tmp_path, capsys):
    trial = _trial(tmp_path, "checkpoint_000002")
    assert not point_at_a_checkpoint_that_exists(trial)
    assert trial.run_metadata.checkpoint_manager._latest_checkpoint_result is None
    assert "starts again" in capsys.readouterr().out
