"""A full disk while the results are written: one clear line (exit 2), and once space is freed
the same command resumes and completes the experiment."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

SCRIPT = textwrap.dedent("""\
    import argparse, os, time
    from hpotk import report

    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float)
    parser.add_argument("--filler")
    args = parser.parse_args()
    for step in range(3):
        if step == 1 and not os.path.exists(args.filler + ".done"):
            open(args.filler + ".done", "w").close()
            with open(args.filler, "wb") as f:  # fill the disk the results are written to
                try:
                    while True:
                        f.write(b"x" * (1 << 20))
                        f.flush()
                except OSError:
                    pass
        time.sleep(0.5)
        report(score=args.x * (step + 1))
    """)


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs: a disk that a trial can fill (mounting needs root, as the Slurm tests)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_is_one_clear_line_and_the_run_resumes(hpotk_cli, tmp_path, small_disk):
    (tmp_path / "trial.py").write_text(SCRIPT)
    filler = small_disk / "filler"
    exp = tmp_path / "disk.yaml"
    exp.write_text(textwrap.dedent(f"""\
        name: disk
        trainable:
          command: ["{{python}}", trial.py, --filler, "{filler}"]
          metrics: [{{name: score}}]
        space: {{x: {{type: continuous, min_value: 0.1, max_value: 1.0, scaling: linear}}}}
        metric: {{name: score, mode: max}}
        strategy: fifo/random
        budget: {{trials: 3, concurrent: 1, max_t: 3}}
        results: {small_disk / "out"}
        """))
    code, out, err = hpotk_cli("run", exp, "--quiet")
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "the disk is full" in lines[0], err
    assert "run the same command again" in lines[0]

    filler.unlink()  # free the space
    code, out, err = hpotk_cli("run", exp, "--quiet")
    assert code == 0, out + err
    exp_dir = small_disk / "out" / "disk"
    trials = pd.read_csv(exp_dir / "trials.csv")
    assert len(trials) == 3 and set(trials["status"]) == {"COMPLETED"}, trials
    done = [json.loads(line) for line in (exp_dir / "finished.jsonl").read_text().splitlines()
            if line.strip().endswith("}")]
    assert sorted({d["trial_id"] for d in done}) == sorted(trials["trial_id"])
    assert json.loads((exp_dir / "hpotk.json").read_text())["status"] == "complete"
    assert not (exp_dir / "hpotk.lock").exists()
