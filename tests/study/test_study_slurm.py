"""`hpotk submit STUDY` on the local test Slurm (slurm/testing/cluster.sh): a job array with one
element per run, each its own Ray cluster on the same resources; every element completes and
`hpotk study --report-only` aggregates them. One small study: 2 runs of 2 short trials."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from hpotk import results
from tests.slurm.conftest import job_env, slurm_nodes, slurm_shared_host  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "experiments" / "quickstart.yaml"


def array_pending(job_id: int) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-j", str(job_id), "-o", "%i %T"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_study_job_array_runs_every_element_and_the_report_aggregates(
        job_env, tmp_path, monkeypatch, capsys):  # noqa: F811
    from hpotk import slurm
    from hpotk.cli import main

    study = tmp_path / "arr.yaml"
    study.write_text(textwrap.dedent(f"""\
        name: arr
        experiment: {QUICKSTART}
        strategies: [fifo/random, asha/random]
        repeats: 1
        budget: {{time_s: 600, trials: 2, concurrent: 2, max_t: 2}}
        set: {{space.batch_size: 128, space.hidden_size: 32, reuse_actors: false}}
        top_k: 1
        report_metric: test_acc
        results: {tmp_path / 'results'}
    """))
    monkeypatch.chdir(tmp_path)
    # the default asks for every CPU of a node (sinfo): each element fills one node
    assert slurm.submit(str(study), nodes=1, gpus_per_node=0, time="00:20:00",
                        extra_args=["--quiet"], array=2) == 0
    out = capsys.readouterr().out
    assert "(an array of 2 runs)" in out
    job = int(out.split()[3])
    script = slurm.render_script(str(study), nodes=1, gpus_per_node=0, time="00:20:00",
                                 array=2)
    assert "#SBATCH --array=0-1" in script and "#SBATCH --cpus-per-task=2" in script

    deadline = time.monotonic() + 480
    while array_pending(job) and time.monotonic() < deadline:
        time.sleep(2)
    logs = {i: (tmp_path / f"hpotk-{job}_{i}.out") for i in (0, 1)}
    text = {i: p.read_text(errors="replace") if p.exists() else "(no output)"
            for i, p in logs.items()}
    if array_pending(job):
        subprocess.run(["scancel", str(job)], check=False)
        pytest.fail(f"job array {job} did not finish:\n" + "\n".join(
            v[-3000:] for v in text.values()))
    for i in (0, 1):
        assert "driver exited (rc=0)" in text[i], text[i][-4000:]
        assert f"study {study} --element {i}" in text[i]
    doc = json.loads((tmp_path / "results" / "arr" / "study.json").read_text())
    for run in doc["runs"]:
        res = results.load(run["path"])
        assert res.status == "complete" and len(res.trials) == 2, run
        assert set(res.trials["status"]) == {"COMPLETED"}

    assert main(["study", str(study), "--report-only"]) == 0
    summary = pd.read_csv(tmp_path / "results" / "arr" / "summary.csv")
    assert list(summary["strategy"]) == ["fifo/random", "asha/random"]
    assert (summary["runs"] == 1).all()
    assert (tmp_path / "results" / "arr" / "tts.png").exists()
