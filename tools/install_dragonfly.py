"""Install dragonfly-opt 0.1.7 (the `bo` searcher's GP bandit) into the running interpreter.

The whole dragonfly-opt workaround lives in this one file. dragonfly-opt 0.1.7 is unmaintained:
its setup.py imports numpy.distutils (gone on Python >= 3.12, so the sdist cannot build in an
isolated environment) to compile an optional Fortran DIRECT optimiser, and its code uses numpy
aliases that numpy 1.24 / 2.0 removed (np.float, np.int, np.bool, np.object, np.asscalar,
np.NaN, np.math). Ray 2.60 needs numpy 2 (through pyarrow), so downgrading numpy is not an option.

What this script does instead:
  1. downloads the 0.1.7 sdist from the package index (pip download, no build),
  2. rewrites the removed numpy aliases in its sources to their builtin / numpy-2 equivalents,
  3. applies targeted fixes (`TARGETED`) where dragonfly relies on numpy behaviour numpy 2
     changed: `np.random.choice` on a list of lists / of mixed values (numpy 2 refuses a
     non-1-D array), and size-1 arrays used as scalars (numpy >= 2.3 no longer converts them);
     without these `CPGPBandit` fails on mixed int/float/discrete domains,
  4. replaces setup.py with a plain setuptools one without the Fortran extension
     (dragonfly then uses its pure-Python DIRECT fallback),
  5. pip-installs the result without dependencies (numpy, scipy, six and future come from
     hpotk's own requirements).

Cost: one ~250 kB download and a few seconds; the acquisition optimiser runs in pure Python,
which makes each `bo` suggestion slower than with the Fortran build (see benchmarks/bo_latency.py).

Usage: python tools/install_dragonfly.py   (idempotent; `--force` reinstalls)
"""

from __future__ import annotations

import hashlib
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
    # float(a) / int(a) of a size-1 array: numpy >= 2.3 refuses it, dragonfly does it often
    (re.compile(r"(?<![\w.])float\("), "_hpotk_float("),
    (re.compile(r"(?<![\w.])int\("), "_hpotk_int("),
]
ASSCALAR = "\ndef _hpotk_asscalar(a):\n    return a.item() if hasattr(a, 'item') else a\n"
# A size-1 array as a scalar (numpy >= 2.3 refuses float(array([x])) and a[i] = array([x])).
ITEM = (
    "\ndef _hpotk_item(a):\n"
    "    return a.item() if getattr(a, 'size', 0) == 1 and getattr(a, 'ndim', 0) > 0 else a\n"
)
SCALARS = (
    "\ndef _hpotk_scalar(a):\n"
    "    return a.item() if getattr(a, 'size', 0) == 1 and getattr(a, 'ndim', 0) > 0 else a\n"
    "def _hpotk_float(*args):\n"
    "    import builtins\n"
    "    return builtins.float(*(_hpotk_scalar(a) for a in args))\n"
    "def _hpotk_int(*args):\n"
    "    import builtins\n"
    "    return builtins.int(*(_hpotk_scalar(a) for a in args))\n"
)
# A uniform random element of a sequence of any values (np.random.choice needs a 1-D array).
PICK = (
    "\ndef _hpotk_pick(seq):\n"
    "    import numpy\n"
    "    return seq[numpy.random.randint(len(seq))]\n"
)

# Targeted fixes: file (relative to the package) -> [(old text, new text)].
TARGETED: dict[str, list[tuple[str, str]]] = {
    "utils/oper_utils.py": [
        ("return [np.random.choice(categ) for categ in dscr_vals]",
         "return [_hpotk_pick(categ) for categ in dscr_vals]"),
    ],
    "opt/cp_ga_optimiser.py": [
        ("change_val = np.random.choice(change_list)",
         "change_val = _hpotk_pick(change_list)"),
        # relied on x[idx] being a numpy scalar (list - np.float64 broadcasts, list - int fails)
        ("diff_vals = [np.abs(loi - x[idx])",
         "diff_vals = [np.abs(np.asarray(loi) - x[idx])"),
    ],
    "gp/gp_core.py": [
        ("      else:\n        self.hps[self.curr_hp] = x\n",
         "      else:\n        self.hps[self.curr_hp] = _hpotk_item(x)\n"),
    ],
}

SETUP_PY = f"""
from setuptools import find_packages, setup
setup(
    name="dragonfly-opt",
    version="{VERSION}",
    packages=find_packages(exclude=("examples*", "dragonfly.test_data*")),
    package_data={{"dragonfly": ["_hpotk_patched"]}},
    description="dragonfly-opt {VERSION}, numpy-2 aliases patched by hpotk (no Fortran DIRECT)",
)
"""


def _insert_header(text: str, header: str) -> str:
    """Insert ``header`` after the ``__future__`` imports (they must stay first), else at the top."""
    matches = list(re.finditer(r"^from __future__ import .*$", text, re.M))
    at = matches[-1].end() + 1 if matches else 0
    return text[:at] + header + text[at:]


def patch_source(text: str, fixes: list[tuple[str, str]] = (), where: str = "") -> str:
    """Rewrite the numpy aliases numpy 2 removed, apply ``fixes``; add the helpers they need.

    Idempotent: a fix whose new text is already there is skipped. A fix whose old text is
    missing means the sources are not the 0.1.7 this script knows, and it stops.
    """
    new = text
    for pattern, replacement in ALIASES:
        new = pattern.sub(replacement, new)
    for old, replacement in fixes:
        if old in new:
            new = new.replace(old, replacement)
        elif replacement not in new:  # neither the 0.1.7 text nor our fix: unknown sources
            raise SystemExit(f"{where}: expected source text not found: {old!r}")
    if new == text:
        return text
    header = ""
    for name, helper in (("_hpotk_asscalar", ASSCALAR), ("_hpotk_item", ITEM),
                         ("_hpotk_pick", PICK), ("_hpotk_float", SCALARS),
                         ("_hpotk_int", SCALARS)):
        if f"{name}(" in new and f"def {name}(" not in new + header:
            header += helper
    if "math." in new and not re.search(r"^import math\b", new, re.M):
        header += "import math\n"
    return _insert_header(new, header) if header else new


def patch_tree(package_dir: Path) -> int:
    """Patch every source file of an unpacked ``dragonfly`` package; the number changed."""
    n_patched = 0
    for py in sorted(package_dir.rglob("*.py")):
        rel = py.relative_to(package_dir).as_posix()
        text = py.read_text()
        new = patch_source(text, TARGETED.get(rel, []), f"dragonfly/{rel}")
        if new != text:
            py.write_text(new)
            n_patched += 1
    missing = set(TARGETED) - {p.relative_to(package_dir).as_posix()
                               for p in package_dir.rglob("*.py")}
    if missing:
        raise SystemExit(f"dragonfly sources lack {sorted(missing)}: not version {VERSION}?")
    return n_patched


def installed_and_patched() -> bool:
    spec = importlib.util.find_spec("dragonfly")
    if spec is None or spec.origin is None:
        return False
    marker = Path(spec.origin).with_name("_hpotk_patched")
    return marker.exists() and marker.read_text().startswith(_marker_text(0).split(":")[0])


def _marker_text(n_patched: int) -> str:
    # A digest of the rewrite rules in the first line makes an install by another version of
    # this script count as not patched, so `make setup` reinstalls when the fixes change.
    rules = repr(([(p.pattern, r) for p, r in ALIASES], TARGETED, ASSCALAR, ITEM, SCALARS, PICK))
    digest = hashlib.sha256(rules.encode()).hexdigest()[:12]
    return f"hpotk fixes {digest}: {n_patched} files patched\n"


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
        n_patched = patch_tree(src / "dragonfly")
        (src / "dragonfly" / "_hpotk_patched").write_text(_marker_text(n_patched))
        (src / "setup.py").write_text(SETUP_PY)
        (src / "MANIFEST.in").write_text("include dragonfly/_hpotk_patched\n")
        (src / "setup.cfg").unlink(missing_ok=True)
        (src / "pyproject.toml").unlink(missing_ok=True)
        subprocess.run(pip + ["install", "-q", "--no-deps", "--no-build-isolation", str(src)],
                       check=True)
    print(f"dragonfly-opt {VERSION} installed ({n_patched} source files patched for numpy 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
