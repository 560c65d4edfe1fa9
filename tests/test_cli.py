"""CLI subcommands that need no Ray: submit --dry-run."""

from __future__ import annotations

from pathlib import Path

from hpotk.cli import main

QUICKSTART = Path(__file__).resolve().parent.parent / "experiments" / "quickstart.yaml"


def test_submit_dry_run_renders_the_job_with_run_arguments(capsys):
    code = main(["submit", str(QUICKSTART), "--nodes", "3", "--gpus-per-node", "2",
                 "--time", "02:00:00", "--partition", "gpu", "--dry-run",
                 "--", "--set", "budget.trials=64"])
    out = capsys.readouterr().out
    assert code == 0
    for line in ("#SBATCH --nodes=3", "#SBATCH --gpus-per-node=2", "#SBATCH --time=02:00:00",
                 "#SBATCH --partition=gpu", "#SBATCH --requeue"):
        assert line in out
    assert f"set -- {QUICKSTART} --set budget.trials=64" in out


def test_submit_validates_the_experiment_before_queueing(capsys):
    code = main(["submit", str(QUICKSTART), "--dry-run", "--", "--set", "strategy=nope/random"])
    assert code == 2
    assert "strategy.scheduler: unknown scheduler 'nope'" in capsys.readouterr().err
