"""The user's own Ray Tune code on a real two-node Slurm: a Trainable class in a module next to
the experiment file, no PYTHONPATH, its trials on both nodes' Ray workers (which import the
module's neighbour from its directory while they run)."""

from __future__ import annotations

import pytest
import yaml

from tests.slurm.jobs import sbatch, wait_job
from tests.slurm.test_e2e import SUBMIT, assert_completed, assert_no_ray_left, trials_csv
from tests.test_user_trainables import experiment, experiment_dir

pytestmark = pytest.mark.slurm


def test_a_module_next_to_the_experiment_runs_on_both_nodes(slurm_nodes, job_env, tmp_path,
                                                            monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    directory = experiment_dir(tmp_path)
    doc = experiment("train.py:Plain", "fifo/random", trials=2, max_t=3)
    doc.update(results=str(tmp_path / "results"), reuse_actors=False)
    path = directory / "exp.yaml"
    path.write_text(yaml.safe_dump(doc))
    job = sbatch(str(SUBMIT), str(path), "--quiet", cwd=tmp_path)
    assert_completed(wait_job(job, tmp_path), tmp_path, job)
    rows = trials_csv(tmp_path / "results", "mine")
    assert [row["status"] for row in rows] == ["COMPLETED", "COMPLETED"]
    assert {row["node_ip"] for row in rows} == set(slurm_nodes.values())
    assert_no_ray_left(job)
