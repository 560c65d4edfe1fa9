"""The architecture, checked: hpotk's layers and no import circles (import-linter, contracts in
pyproject.toml), `import hpotk` without Ray, torch or pandas, one owner of every results-file
name (`hpotk.layout`), and summary files that a kill -9 cannot cut short."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpotk import layout

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "hpotk"


def test_the_layers_and_no_import_circles_hold():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                               "sys.exit(lint_imports())"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("module", ["hpotk", "hpotk.cli", "hpotk.plan", "hpotk.layout",
                                    "hpotk.study", "hpotk.replay", "hpotk.pbt.lineage",
                                    "hpotk.experiment", "hpotk.lr_schedule"])
def test_importing_hpotk_imports_no_ray_torch_or_pandas(module):
    code = (f"import sys, {module}; "
            f"print(sorted(m for m in ('ray', 'torch', 'pandas') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"import {module} pulled in {proc.stdout.strip()}"


def _file_names() -> set[str]:
    """Every file name hpotk.layout owns (its string constants that name a file)."""
    names = set()
    for key, value in vars(layout).items():
        if key.isupper() and isinstance(value, str) and "." in value and "/" not in value:
            names.add(value)
    return names


def test_no_results_file_name_is_spelled_outside_the_layout_module():
    names = _file_names()
    assert {"trials.csv", "best.json", "hpotk.json", "history.jsonl", "study.json"} <= names
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "layout.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in names:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert not found, ("results-file names belong to hpotk/layout.py; use its constants:\n"
                       + "\n".join(found))


WRITER = textwrap.dedent('''
    import sys
    import pandas as pd
    from hpotk import layout

    out = sys.argv[1]
    big = pd.DataFrame({"trial_id": [f"t{i:06d}" for i in range(60000)], "value": 1.5})
    print("ready", flush=True)
    n = 0
    while True:  # trials.csv and best.json rewritten, as each run's end writes them
        n += 1
        big["value"] = float(n)
        layout.write_csv(f"{out}/trials.csv", big)
        layout.write_json(f"{out}/best.json", {"n": n, "pad": "x" * 200000})
''')


def test_a_kill_during_the_summary_write_leaves_the_previous_files_whole(tmp_path):
    import pandas as pd

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)],
                                stdout=subprocess.PIPE, text=True, cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.4 + 0.37 * attempt)  # lands mid-write on some tries, between on others
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if not (tmp_path / "trials.csv").exists():
            continue
        table = pd.read_csv(tmp_path / "trials.csv")
        assert len(table) == 60000 and table["value"].nunique() == 1
        best = layout.read_json_object(tmp_path / "best.json")
        assert best is not None and len(best["pad"]) == 200000
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) <= 4  # a kill may leave its temporary file, never a cut summary
