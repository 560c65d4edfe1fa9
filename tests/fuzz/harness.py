"""What every fuzz case checks: `hpotk` exits 0, or exits 2 with one line naming a key path.

The CLI runs in-process (`hpotk.cli.main`), so thousands of cases take seconds; an exception
that escapes `main` is a traceback a user would see, and fails the case with the input that
caused it. Mutations (`mutate`) start from a valid document and change one thing: a value
replaced by a wrong type, an extreme number, unicode, a deep nesting or a huge list; a key
removed; a key added.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Reproducible and fast: the same cases on every run (no example database, derandomized).
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

PREFIX = "hpotk: error: "


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``hpotk ARGV`` in-process: (exit code, stdout, stderr). Exceptions propagate."""
    from hpotk.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def check_outcome(argv: list[str], roots: set[str], sources: tuple[str, ...] = ()) -> str | None:
    """Run ``hpotk ARGV`` and assert the contract; returns the error's key path (None on exit 0).

    Args:
        argv: the command line.
        roots: names the first segment of the key path may have (the document's top-level
            keys, the schema's fields, ``--set``, ``data``...).
        sources: file names the error line may start with.
    """
    code, out, err = run_cli(argv)
    assert "Traceback" not in out + err, f"traceback for {argv}:\n{err}"
    assert code in (0, 2), f"exit {code} for {argv}:\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    if code == 0:
        return None
    lines = err.splitlines()
    assert len(lines) == 1, f"{len(lines)} lines for {argv}:\n{err[:3000]}"
    line = lines[0]
    assert line.startswith(PREFIX), line
    rest = line[len(PREFIX):]
    for source in sorted(sources, key=len, reverse=True):
        if rest.startswith(f"{source}: "):
            rest = rest[len(source) + 2:]
            break
    path, sep, message = rest.partition(": ")
    assert sep and path and message.strip(), f"no key path in {line!r}"
    first = re.split(r"[.\[]", path, maxsplit=1)[0]
    assert path.startswith("--set") or first in roots, (
        f"key path {path!r} names none of {sorted(roots)} in {line!r}")
    return path


# ---------------------------------------------------------------------------------------------
# Mutations of valid documents

KEY_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=".:[]"),
                   min_size=1, max_size=12)
EXTREME_NUMBERS = st.sampled_from([0, -1, 1, 2**63, -(2**63), 10**400, 1e308, -1e308, 5e-324,
                                   math.inf, -math.inf, math.nan, 0.5, -0.0, 1e-12])
LEAVES = st.one_of(
    st.none(), st.booleans(), EXTREME_NUMBERS,
    st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", " ", "é", "日本語", "\u202e", "a" * 5000, "null", "1e999", "-1",
                     "asha/random", "{python}", "../../etc", "log", "int", "choice(1, 2)"]),
)
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEY_TEXT, inner, max_size=3)), max_leaves=8)


def deep(depth: int, leaf: Any = 1) -> Any:
    """A value nested ``depth`` levels deep, alternating lists and mappings."""
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _huge(kind: str) -> Any:
    """A fresh huge value each time (a shared one would be changed by later mutations)."""
    if kind == "ints":
        return list(range(5000))
    if kind == "strings":
        return ["x"] * 5000
    return {f"k{i}": i for i in range(2000)}


ODD_VALUES = st.one_of(
    VALUES,
    st.integers(20, 400).map(deep),  # deep nesting (JSON and YAML parsers recurse)
    st.sampled_from(["ints", "strings", "keys"]).map(_huge),  # huge lists and mappings
)


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in ``doc`` (mapping keys and list indices), the root excluded."""
    out = []
    if isinstance(doc, dict):
        items = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        return out
    for key, value in items:
        out.append((*prefix, key))
        out.extend(paths(value, (*prefix, key)))
    return out


def _parent(doc: Any, path: tuple) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """One to three mutations of a deep copy of ``valid``."""
    doc = json.loads(json.dumps(valid))
    for _ in range(draw(st.integers(1, 3))):
        every = paths(doc)
        containers = [()] + [p for p in every if isinstance(_get(doc, p), (dict, list))]
        kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "wrap"]))
        if kind == "add" or not every:
            where = draw(st.sampled_from(containers))
            node = _get(doc, where)
            if isinstance(node, dict):
                node[draw(KEY_TEXT)] = draw(VALUES)
            else:
                node.append(draw(VALUES))
            continue
        path = draw(st.sampled_from(every))
        parent = _parent(doc, path)
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "wrap":
            parent[path[-1]] = draw(st.sampled_from([[parent[path[-1]]],
                                                     {"value": parent[path[-1]]}]))
        else:
            parent[path[-1]] = draw(ODD_VALUES)
    return doc


def _get(doc: Any, path: tuple) -> Any:
    node = doc
    for part in path:
        node = node[part]
    return node


def write(path: Path, doc: Any, fmt: str) -> Path:
    """``doc`` as a JSON or YAML file (YAML may also hold what JSON cannot, such as NaN)."""
    text = json.dumps(doc)
    if fmt == "json" or len(text) > 20_000:  # huge values: YAML would only make the case slow
        path = path.with_suffix(".json")
        path.write_text(text)
    else:
        import yaml

        path = path.with_suffix(".yaml")
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path
