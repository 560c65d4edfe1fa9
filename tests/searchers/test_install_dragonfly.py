"""tools/install_dragonfly.py: the numpy-2 rewrite of dragonfly-opt 0.1.7's sources, and the
installed copy being the patched one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))
import install_dragonfly as installer  # noqa: E402

SOURCE = '''"""A dragonfly module."""
from __future__ import print_function
import numpy as np

def f(x, vals):
  a = np.float(x) + np.int(2) * float(np.asscalar(x))
  b = np.zeros(3, dtype=np.bool) if x is not np.NaN else np.math.log(2)
  c = int(x) + obj.int(3) + np.int64(1) + np.float_(2)
  return [np.random.choice(categ) for categ in dscr_vals]
'''


def test_aliases_and_scalar_conversions_rewritten():
    fixes = [("return [np.random.choice(categ) for categ in dscr_vals]",
              "return [_hpotk_pick(categ) for categ in dscr_vals]")]
    new = installer.patch_source(SOURCE, fixes, "m.py")
    code = new.split("def f(", 1)[1]
    assert "np.float(" not in code and "np.int(" not in code and "np.bool" not in code
    assert "np.NaN" not in code and "np.math." not in code and "np.asscalar" not in code
    assert "_hpotk_float(x)" in code and "_hpotk_int(2)" in code
    assert "obj.int(3)" in code and "np.int64(1)" in code and "np.float_(2)" in code  # untouched
    assert "_hpotk_pick(categ)" in code
    # helpers go after the __future__ import, which must stay first
    assert new.index("from __future__") < new.index("def _hpotk_float(")
    assert new.startswith('"""A dragonfly module."""\nfrom __future__ import print_function\n')
    namespace: dict = {}
    exec(compile(new, "m.py", "exec"), namespace)  # the result is valid Python


def test_helpers_handle_size_one_arrays_and_lists_of_lists():
    import numpy as np

    new = installer.patch_source(SOURCE, [], "m.py")
    namespace: dict = {}
    exec(compile(new, "m.py", "exec"), namespace)
    assert namespace["_hpotk_float"](np.array([2.5])) == 2.5
    assert namespace["_hpotk_int"](np.array([[3]])) == 3
    assert namespace["_hpotk_int"]("101", 2) == 5
    with pytest.raises(TypeError):
        namespace["_hpotk_float"](np.array([1.0, 2.0]))
    pick_source = installer.patch_source("x = _hpotk_pick([[1, 2], [3]])\n", [], "p.py")
    # (a file with nothing to rewrite is returned unchanged; the helper arrives with a fix)
    assert pick_source == "x = _hpotk_pick([[1, 2], [3]])\n"
    fixed = installer.patch_source("x = np.random.choice(v)\n",
                                   [("np.random.choice(v)", "_hpotk_pick(v)")], "p.py")
    namespace = {"v": [[1, 2], [3]]}
    exec(compile(fixed, "p.py", "exec"), namespace)
    assert namespace["x"] in ([1, 2], [3])


def test_patching_is_idempotent_and_checks_the_sources():
    fixes = [("np.random.choice(categ)", "_hpotk_pick(categ)")]
    once = installer.patch_source(SOURCE, fixes, "m.py")
    assert installer.patch_source(once, fixes, "m.py") == once
    with pytest.raises(SystemExit, match="expected source text not found"):
        installer.patch_source(SOURCE, [("no such line", "_hpotk_new_line()")], "m.py")


def test_installed_dragonfly_is_the_patched_one():
    spec = importlib.util.find_spec("dragonfly")
    assert spec is not None, "dragonfly-opt missing: run tools/install_dragonfly.py"
    assert installer.installed_and_patched(), "run tools/install_dragonfly.py --force"
    root = Path(spec.origin).parent
    for rel, fixes in installer.TARGETED.items():
        text = (root / rel).read_text()
        for _, new in fixes:
            assert new in text, f"{rel}: fix not applied"
