"""`hpotk submit`'s script: pinned by a golden file, and safe with odd paths and arguments."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hpotk import slurm
from hpotk.errors import HpotkError

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "submit-4x2-gpu.sbatch"
PLACEHOLDER = "@HPOTK_SLURM_DIR@"


def render(experiment: str = "/data/exp.yaml", **kwargs) -> str:
    settings = dict(nodes=4, gpus_per_node=2, time="02:00:00", partition="gpu",
                    account="m1234", extra_args=["--set", "budget.trials=64"], cpus_per_task=32,
                    constraint="gpu", qos="regular", mem="0",
                    sbatch_options=["--reservation=x", "--mail-type=END"])
    settings.update(kwargs)
    return slurm.render_script(experiment, **settings)


def bash_args(script: str) -> tuple[list[str], str]:
    """Run the script's argument block in bash: the positional parameters it sets, and the
    HPOTK_SLURM_DIR it exports."""
    block = script[script.index("# --- arguments"):script.index("# --- end arguments ---")]
    proc = subprocess.run(["bash", "-c", block + '\nprintf "%s\\0" "$HPOTK_SLURM_DIR" "$@"'],
                          capture_output=True, check=True)
    values = proc.stdout.decode().split("\0")[:-1]
    return values[1:], values[0]


def test_rendered_script_is_valid_bash_with_the_settings_given():
    script = render()
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    sbatch_lines = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --nodes=4" in sbatch_lines
    assert "#SBATCH --gpus-per-node=2" in sbatch_lines
    assert "#SBATCH --time=02:00:00" in sbatch_lines
    assert "#SBATCH --partition=gpu" in sbatch_lines
    assert "#SBATCH --account=m1234" in sbatch_lines
    assert "#SBATCH --requeue" in sbatch_lines
    assert "#SBATCH --signal=B:USR1@300" in sbatch_lines  # a tenth of 2 h, capped at 5 min
    assert "#SBATCH --cpus-per-task=32" in sbatch_lines
    assert "#SBATCH --constraint=gpu" in sbatch_lines
    assert "#SBATCH --qos=regular" in sbatch_lines
    assert "#SBATCH --mem=0" in sbatch_lines
    assert "#SBATCH --reservation=x" in sbatch_lines  # passed through as it is
    assert "#SBATCH --mail-type=END" in sbatch_lines
    assert "#SBATCH --exclusive" not in sbatch_lines
    assert not any("--array" in line for line in sbatch_lines)
    assert len([line for line in sbatch_lines if line.startswith("#SBATCH --nodes")]) == 1
    args, slurm_dir = bash_args(script)
    assert args == ["/data/exp.yaml", "--set", "budget.trials=64"]
    assert slurm_dir == str(REPO / "slurm")


def test_optional_settings_are_left_out():
    script = render(gpus_per_node=0, partition=None, account=None, time="00:10:00",
                    constraint=None, qos=None, mem=None, sbatch_options=[])
    assert "#SBATCH --gpus-per-node" not in script
    assert "#SBATCH --partition" not in script
    assert "#SBATCH --account" not in script
    assert "#SBATCH --constraint" not in script
    assert "#SBATCH --qos" not in script
    assert "#SBATCH --mem" not in script
    assert "#SBATCH --signal=B:USR1@60" in script


def test_by_default_every_cpu_of_a_node_is_asked_for(monkeypatch):
    asked = []
    monkeypatch.setattr(slurm, "node_cpus", lambda partition: asked.append(partition) or 64)
    script = render(cpus_per_task="all")
    assert "#SBATCH --cpus-per-task=64" in script.splitlines()
    assert asked == ["gpu"]  # the partition's nodes
    # sinfo cannot tell: whole nodes, so that SLURM_CPUS_ON_NODE (what Ray is offered) is all
    monkeypatch.setattr(slurm, "node_cpus", lambda partition: None)
    lines = render(cpus_per_task="all").splitlines()
    assert "#SBATCH --exclusive" in lines
    assert not any(line.startswith("#SBATCH --cpus-per-task") for line in lines)
    # --exclusive given: whole nodes already, no sinfo needed
    monkeypatch.setattr(slurm, "node_cpus", lambda partition: pytest.fail("sinfo asked"))
    lines = render(cpus_per_task="all", exclusive=True).splitlines()
    assert lines.count("#SBATCH --exclusive") == 1


def test_node_cpus_reads_the_smallest_node_of_the_partition(tmp_path, monkeypatch):
    fake = tmp_path / "sinfo"
    fake.write_text("#!/bin/sh\ncase \"$*\" in *'-p gpu'*) printf 'gpu 128+\\ngpu 64\\n';;\n"
                    "*) printf 'debug* 8\\ndebug* 4\\ngpu 64\\n';; esac\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert slurm.node_cpus(None) == 4  # the default partition (starred)
    assert slurm.node_cpus("gpu") == 64  # with -p, every line is that partition's


def test_a_study_is_a_job_array_of_its_runs():
    script = render(array=12)
    lines = script.splitlines()
    assert "#SBATCH --array=0-11" in lines
    assert "#SBATCH --output=hpotk-%A_%a.out" in lines
    assert "export HPOTK_STUDY=1" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


@pytest.mark.parametrize("odd", ["a'; echo foo", "with space/exp.yaml", 'quote"$(touch x)`x`',
                                 "new\nline"])
def test_odd_experiment_paths_and_arguments_arrive_verbatim(odd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = render(odd, extra_args=["--set", f"name={odd}", odd])
    args, _ = bash_args(script)
    assert args == [str(tmp_path / odd), "--set", f"name={odd}", odd]
    assert not (tmp_path / "x").exists()  # nothing was executed
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_odd_scripts_directory_is_quoted(tmp_path, monkeypatch):
    odd_dir = tmp_path / "we ird'; echo foo"
    shutil.copytree(REPO / "slurm", odd_dir)
    monkeypatch.setenv("HPOTK_SLURM_DIR", str(odd_dir))
    _, slurm_dir = bash_args(render())
    assert slurm_dir == str(odd_dir)


@pytest.mark.parametrize(("setting", "message"), [
    ({"nodes": 0}, "--nodes"),
    ({"nodes": True}, "--nodes"),
    ({"gpus_per_node": -1}, "--gpus-per-node"),
    ({"time": "2h"}, "--time"),
    ({"time": "00:61:00"}, "--time"),
    ({"time": "00:00:00"}, "--time"),
    ({"partition": "gpu\n#SBATCH --nodes=100"}, "--partition"),
    ({"account": "a b"}, "--account"),
    ({"cpus_per_task": 0}, "--cpus-per-task"),
    ({"cpus_per_task": "many"}, "--cpus-per-task"),
    ({"mem": "lots"}, "--mem"),
    ({"qos": "a;b"}, "--qos"),
    ({"constraint": "gpu\n#SBATCH -N 9"}, "--constraint"),
    ({"sbatch_options": ["--reservation=x\n#SBATCH --nodes=100"]}, "--sbatch"),
    ({"sbatch_options": ["reservation=x"]}, "--sbatch"),
])
def test_bad_settings_are_refused_with_the_option_named(setting, message):
    with pytest.raises(HpotkError, match=message):
        render(**setting)


def test_time_formats():
    assert slurm.time_seconds("00:10:00") == 600
    assert slurm.time_seconds("1-02:00:00") == 26 * 3600


def test_dry_run_prints_the_script_and_submits_nothing(tmp_path, capsys, monkeypatch):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch reachable: a submission would fail
    code = slurm.submit(str(experiment), nodes=2, gpus_per_node=0, time="00:30:00", dry_run=True)
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("#!/bin/bash")
    assert "#SBATCH --nodes=2" in out


def test_submit_refuses_a_missing_experiment(tmp_path):
    with pytest.raises(HpotkError, match="not found"):
        slurm.submit(str(tmp_path / "missing.yaml"), nodes=2, gpus_per_node=0, time="00:30:00")


def test_submit_without_sbatch_says_so(tmp_path, monkeypatch):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HpotkError, match="sbatch not found"):
        slurm.submit(str(experiment), nodes=2, gpus_per_node=0, time="00:30:00")


# ---- elastic runs: the head's script and the worker array's -----------------------------------

GOLDEN_HEAD = Path(__file__).parent / "golden" / "submit-elastic-head.sbatch"
GOLDEN_WORKER = Path(__file__).parent / "golden" / "worker-3.sbatch"


def render_elastic_head() -> str:
    return render(nodes=1, elastic=True, name="cgcnn")


def render_workers(head_job: str = "1234") -> str:
    return slurm.render_worker_script(head_job, count=3, time="01:00:00", gpus_per_node=2,
                                      name="cgcnn", partition="gpu", account="m1234",
                                      cpus_per_task=32, constraint="gpu", qos="regular", mem="0")


@pytest.mark.parametrize(("golden", "make"), [(GOLDEN, render),
                                              (GOLDEN_HEAD, render_elastic_head),
                                              (GOLDEN_WORKER, render_workers)])
def test_rendered_scripts_match_golden_files(golden, make, monkeypatch):
    """One job, an elastic head and its worker array, each pinned by a golden file."""
    monkeypatch.delenv("HPOTK_SLURM_DIR", raising=False)
    text = make().replace(str(REPO / "slurm"), PLACEHOLDER)
    if os.environ.get("HPOTK_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), (
        "a rendered batch script changed; if on purpose, rerun with HPOTK_UPDATE_GOLDEN=1 "
        "and review the diff of " + str(golden))


def test_the_worker_array_waits_for_its_head_and_names_the_experiment():
    script = render_workers()
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    lines = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --array=0-2" in lines
    assert "#SBATCH --dependency=after:1234" in lines  # not before the head has started
    assert "#SBATCH --nodes=1" in lines
    assert "#SBATCH --job-name=hpotk-cgcnn-worker" in lines
    assert not any("--requeue" in line for line in lines)  # a worker that ends is not requeued
    head = render_elastic_head()
    assert "#SBATCH --job-name=hpotk-cgcnn" in head.splitlines()
    assert "export HPOTK_ELASTIC=1" in head


@pytest.mark.parametrize(("call", "message"), [
    (lambda: render(nodes=4, elastic=True), "drop --nodes 4"),
    (lambda: render(nodes=1, elastic=True, array=3), "drop --elastic"),
    (lambda: slurm.render_worker_script("1", count=0, time="01:00:00"), "worker jobs >= 1"),
    (lambda: slurm.render_worker_script("1;rm", count=1, time="01:00:00"), "Slurm job id"),
])
def test_elastic_settings_that_cannot_work_are_refused(call, message):
    with pytest.raises(HpotkError, match=message):
        call()


@pytest.mark.parametrize("count", [0, -2])
def test_elastic_needs_at_least_one_worker(tmp_path, count):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\n")
    with pytest.raises(HpotkError, match="worker jobs >= 1"):
        slurm.submit(str(experiment), nodes=1, gpus_per_node=0, time="00:30:00", elastic=count,
                     dry_run=True)


def test_worker_time_needs_elastic(tmp_path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\n")
    with pytest.raises(HpotkError, match="add --elastic N"):
        slurm.submit(str(experiment), nodes=1, gpus_per_node=0, time="00:30:00",
                     worker_time="00:10:00", dry_run=True)


def test_elastic_dry_run_prints_both_scripts(tmp_path, capsys, monkeypatch):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch reachable: a submission would fail
    assert slurm.submit(str(experiment), nodes=1, gpus_per_node=0, time="02:00:00", elastic=4,
                        worker_time="00:30:00", dry_run=True) == 0
    out = capsys.readouterr().out
    head, _, workers = out.partition("# ===== 4 worker job(s)")
    assert "#SBATCH --nodes=1" in head and "#SBATCH --time=02:00:00" in head
    assert "#SBATCH --array=0-3" in workers and "#SBATCH --time=00:30:00" in workers
    assert f"#SBATCH --dependency=after:{slurm.HEAD_JOB_PLACEHOLDER}" in workers


def test_elastic_submit_submits_head_then_workers_and_records_both(tmp_path, capsys,
                                                                    monkeypatch):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "scripts"
    (bin_dir / "sbatch").write_text(  # a fake sbatch: keeps each script, answers ids 501, 502
        f"#!/bin/bash\nn=$(ls {seen} | wc -l)\ncat > {seen}/$n\necho $((501 + n))\n")
    (bin_dir / "sbatch").chmod(0o755)
    seen.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    out_dir = tmp_path / "results" / "x"
    assert slurm.submit(str(experiment), nodes=1, gpus_per_node=0, time="01:00:00", elastic=2,
                        experiment_dir=out_dir) == 0
    assert "HPOTK_ELASTIC=1" in (seen / "0").read_text()
    assert "#SBATCH --dependency=after:501" in (seen / "1").read_text()
    jobs = slurm.recorded_jobs(out_dir)
    assert [(j["job"], j["role"]) for j in jobs] == [("501", "head"), ("502", "workers")]
    out = capsys.readouterr().out
    assert "Submitted batch job 501" in out and "Submitted batch job 502" in out
    assert f"hpotk cancel {out_dir}" in out
