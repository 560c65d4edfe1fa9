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
                    account="m1234", extra_args=["--set", "budget.trials=64"])
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


def test_rendered_script_matches_golden_file(monkeypatch):
    monkeypatch.delenv("HPOTK_SLURM_DIR", raising=False)
    text = render().replace(str(REPO / "slurm"), PLACEHOLDER)
    if os.environ.get("HPOTK_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), (
        "the rendered batch script changed; if on purpose, rerun with HPOTK_UPDATE_GOLDEN=1 "
        "and review the diff of " + str(GOLDEN))


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
    assert len([line for line in sbatch_lines if line.startswith("#SBATCH --nodes")]) == 1
    args, slurm_dir = bash_args(script)
    assert args == ["/data/exp.yaml", "--set", "budget.trials=64"]
    assert slurm_dir == str(REPO / "slurm")


def test_optional_settings_are_left_out():
    script = render(gpus_per_node=0, partition=None, account=None, time="00:10:00")
    assert "#SBATCH --gpus-per-node" not in script
    assert "#SBATCH --partition" not in script
    assert "#SBATCH --account" not in script
    assert "#SBATCH --signal=B:USR1@60" in script


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
