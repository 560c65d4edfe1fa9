"""The README is a front door and the user guide is behind it (docs/, MkDocs): the site builds
offline with no warning (so no broken link or anchor between pages), every page the README
links to exists, the home page is the README, and the README's experiment file is the real one.
The guide's code examples run as written in tests/test_user_trainables_readme.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_the_site_builds_with_no_warning(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d",
                           str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "WARNING" not in output, output
    pages = {p.name for p in (tmp_path / "site").glob("*.html")}
    assert {"index.html", "experiment-file.html", "what-survives-what.html"} <= pages


def test_the_readme_is_short_and_every_link_in_it_resolves():
    assert len(README.splitlines()) < 200
    for target in re.findall(r"\]\(((?!https?://)[^)#]+)(?:#[^)]*)?\)", README):
        assert (REPO / target).exists(), f"README links to {target}, which does not exist"
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", README))
    pages = {p.name for p in (REPO / "docs").glob("*.md")} - {"index.md"}
    assert pages <= linked, f"pages the README does not link to: {sorted(pages - linked)}"


def test_the_guides_home_page_is_the_readme():
    home = (REPO / "docs" / "index.md").read_text()
    assert home == README.replace("](docs/", "]("), \
        "docs/index.md is the README with links relative to docs/: copy it again"


def test_the_readmes_experiment_file_is_the_quickstart():
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
              if "name: quickstart" in b]
    quickstart = (REPO / "experiments" / "quickstart.yaml").read_text()
    assert blocks == [quickstart]
