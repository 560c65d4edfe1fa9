"""Install dragonfly-opt 0.1.7 (the `bo` searcher's GP bandit) into the running interpreter.

The whole dragonfly-opt workaround lives in this one file. dragonfly-opt 0.1.7 is unmaintained:
its setup.py imports numpy.distutils (gone on Python >= 3.12, so the sdist cannot build in an
isolated environment) to compile an optional Fortran DIRECT optimiser, and its code uses numpy
aliases that numpy 1.24 / 2.0 removed (np.float, np.int, np.bool, np.object, np.asscalar,
np.NaN, np.math). Ray 2.60 needs numpy 2 (through pyarrow), so downgrading numpy is not an option.

What this script does instead:
  1. downloads the 0.1.7 sdist from the package index (pip download, no build),
  2. rewrites the removed numpy aliases in its sources to their builtin / numpy-2 equivalents,
  3. replaces setup.py with a plain setuptools one without the Fortran extension
     (dragonfly then uses its pure-Python DIRECT fallback),
  4. pip-installs the result without dependencies (numpy, scipy, six and future come from
     hpotk's own requirements).

Cost: one ~250 kB download and a few seconds; the acquisition optimiser runs in pure Python,
which makes each `bo` suggestion slower than with the Fortran build (see benchmarks/).

Usage: python tools/install_dragonfly.py   (idempotent; `--force` reinstalls)
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.1.7"

# (pattern, replacement) applied to every .py file of the package.
ALIASES = [
    (re.compile(r"\bnp\.NaN\b"), "np.nan"),
    (re.compile(r"\bnp\.asscalar\("), "_hpotk_asscalar("),
    (re.compile(r"\bnp\.float\b(?![_0-9])"), "float"),
    (re.compile(r"\bnp\.int\b(?![_0-9])"), "int"),
    (re.compile(r"\bnp\.bool\b(?![_0-9])"), "bool"),
    (re.compile(r"\bnp\.object\b(?![_0-9])"), "object"),
    (re.compile(r"\bnp\.math\."), "math."),
]
ASSCALAR = "\ndef _hpotk_asscalar(a):\n    return a.item() if hasattr(a, 'item') else a\n"

SETUP_PY = f"""
from setuptools import find_packages, setup
setup(
    name="dragonfly-opt",
    version="{VERSION}",
    packages=find_packages(exclude=("examples*", "dragonfly.test_data*")),
    description="dragonfly-opt {VERSION}, numpy-2 aliases patched by hpotk (no Fortran DIRECT)",
)
"""


def patch_source(text: str) -> str:
    """Rewrite the numpy aliases numpy 2 removed; add the helpers the rewrite needs."""
    new = text
    for pattern, replacement in ALIASES:
        new = pattern.sub(replacement, new)
    if new == text:
        return text
    header = ""
    if "_hpotk_asscalar(" in new:
        header += ASSCALAR
    if "math." in new and not re.search(r"^import math\b", new, re.M):
        header += "import math\n"
    if header:
        # after the __future__ imports (they must stay first), else at the top
        matches = list(re.finditer(r"^from __future__ import .*$", new, re.M))
        at = matches[-1].end() + 1 if matches else 0
        new = new[:at] + header + new[at:]
    return new


def installed_and_patched() -> bool:
    spec = importlib.util.find_spec("dragonfly")
    if spec is None or spec.origin is None:
        return False
    marker = Path(spec.origin).with_name("_hpotk_patched")
    return marker.exists()


def main(argv: list[str]) -> int:
    if "--force" not in argv and installed_and_patched():
        print(f"dragonfly-opt {VERSION} (patched) already installed")
        return 0
    pip = [sys.executable, "-m", "pip"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        # --no-build-isolation: pip must not try to build the sdist to read its metadata
        # in an isolated env (its setup.py needs numpy).
        subprocess.run(
            pip + ["download", "-q", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
                   f"dragonfly-opt=={VERSION}", "-d", str(tmp_path)],
            check=True,
        )
        sdist = next(tmp_path.glob("dragonfly*opt-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp_path, filter="data")
        src = next(p for p in tmp_path.iterdir() if p.is_dir())
        n_patched = 0
        for py in (src / "dragonfly").rglob("*.py"):
            text = py.read_text()
            new = patch_source(text)
            if new != text:
                py.write_text(new)
                n_patched += 1
        (src / "dragonfly" / "_hpotk_patched").write_text(f"{n_patched} files patched\n")
        (src / "setup.py").write_text(SETUP_PY)
        (src / "MANIFEST.in").write_text("include dragonfly/_hpotk_patched\n")
        (src / "setup.cfg").unlink(missing_ok=True)
        (src / "pyproject.toml").unlink(missing_ok=True)
        # package_data for the marker file
        (src / "setup.py").write_text(
            SETUP_PY.replace("    description=", "    package_data={'dragonfly': ['_hpotk_patched']},\n    description=")
        )
        subprocess.run(pip + ["install", "-q", "--no-deps", "--no-build-isolation", str(src)], check=True)
    print(f"dragonfly-opt {VERSION} installed ({n_patched} source files patched for numpy 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
