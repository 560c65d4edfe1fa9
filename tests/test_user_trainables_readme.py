"""The user guide's "Your own code" example (docs/your-code.md) runs as shown: its train.py and
my_experiment.yaml written side by side, `hpotk run my_experiment.yaml`, then its Python
block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def section_blocks() -> dict[str, str]:
    """The section's code blocks by language (the first of each), from the page."""
    text = (REPO / "docs" / "your-code.md").read_text()
    section = text.split("\n## Ray Tune code as it is", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, str] = {}
    for language, body in re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S):
        blocks.setdefault(language or "shell", body)
    return blocks


def test_the_readme_example_runs_as_shown(hpotk_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    blocks = section_blocks()
    assert blocks["python"].startswith("# train.py\n")
    assert blocks["yaml"].startswith("# my_experiment.yaml")
    Path("train.py").write_text(blocks["python"])  # hpotk_cli runs in tmp_path
    Path("my_experiment.yaml").write_text(blocks["yaml"])
    command = blocks["shell"].split()
    assert command[:2] == ["hpotk", "run"]
    code, out, err = hpotk_cli(*command[1:], "--quiet")
    assert code == 0, out + err
    assert "best trial" in out

    python = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "your-code.md").read_text()
                        .split("\n## From Python\n", 1)[1], flags=re.S)[0]
    printed: list[tuple] = []
    namespace = {"print": lambda *args: printed.append(args)}
    exec(compile(python, "docs/your-code.md (From Python)", "exec"), namespace)
    assert namespace["outcome"].status == "complete"
    assert len(namespace["results"].trials) == 2
    assert type(namespace["tuner"]).__name__ == "Tuner"
    assert printed[0][0] == "complete" and printed[0][1] < 9.0  # below the loss at w = 0
