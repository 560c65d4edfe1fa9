"""CLI subcommands that need no Ray: submit --dry-run, and plan of a study."""

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


def hybrid_study(tmp_path: Path, repeats: int, validate: int) -> Path:
    path = tmp_path / "hybrid.yaml"
    path.write_text(f"""\
name: hybrid
experiment: {QUICKSTART}
strategies: [fifo/random, asha/random, asha/tpe]
repeats: {repeats}
replay: auto
validate: {validate}
budget: {{time_s: 60, concurrent: 2}}
baseline: fifo/random
""")
    return path


def test_a_hybrid_study_is_a_job_array_of_the_runs_that_run_for_real(tmp_path, capsys):
    """The baseline's 3 repeats and 1 of each replayed strategy: 5 elements, not the 9 runs of 3
    strategies x 3 repeats (elements 5 to 8 found no run and failed); the plan numbers the runs
    as the elements (`hpotk study FILE --element i`)."""
    study = hybrid_study(tmp_path, repeats=3, validate=1)
    assert main(["submit", str(study), "--dry-run"]) == 0
    assert "#SBATCH --array=0-4" in capsys.readouterr().out
    assert main(["plan", str(study)]) == 0
    runs = [line.split() for line in capsys.readouterr().out.splitlines() if " seed " in line]
    assert [(int(r[0]), r[1]) for r in runs] == [
        (0, "fifo/random"), (1, "asha/random"), (2, "asha/tpe"), (3, "fifo/random"),
        (4, "fifo/random")]


def test_validate_may_run_more_real_repeats_than_the_table_has(tmp_path, capsys):
    """`validate: 3` with `repeats: 2`: the baseline runs twice for the table, each replayed
    strategy three times to check its replay against (it was capped at 2, silently)."""
    study = hybrid_study(tmp_path, repeats=2, validate=3)
    assert main(["plan", str(study)]) == 0
    out = capsys.readouterr().out
    assert "study hybrid: 2 fifo/random + 3 asha/random + 3 asha/tpe = 8 runs" in out
    labels = [line.split()[1] for line in out.splitlines() if " seed " in line]
    assert sorted(labels) == sorted(["fifo/random"] * 2 + ["asha/random"] * 3
                                    + ["asha/tpe"] * 3)
    assert main(["submit", str(study), "--dry-run"]) == 0
    assert "#SBATCH --array=0-7" in capsys.readouterr().out


def test_a_study_replayed_on_a_table_is_not_submitted(tmp_path, capsys):
    study = tmp_path / "replayed.yaml"
    study.write_text(f"""\
name: replayed
experiment: {QUICKSTART}
strategies: [fifo/random, asha/random]
replay: {tmp_path / "table"}
budget: {{time_s: 60, concurrent: 2}}
""")
    assert main(["submit", str(study), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "runs nothing for real" in err and f"hpotk study {study}" in err


def test_the_plan_of_a_study_replayed_on_a_table_lists_no_real_runs(tmp_path, capsys):
    """It listed every strategy x repeat with their real running time (57 min for the NERSC
    study, which replays in about a minute)."""
    study = tmp_path / "replayed.yaml"
    study.write_text(f"""\
name: replayed
experiment: {QUICKSTART}
strategies: [fifo/random, asha/random]
replay: {tmp_path / "table"}
budget: {{time_s: 60, concurrent: 2}}
""")
    assert main(["plan", str(study)]) == 0
    out = capsys.readouterr().out
    assert "nothing runs for real" in out
    assert " seed " not in out and "total:" not in out
