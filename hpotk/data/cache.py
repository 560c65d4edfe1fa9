"""A small on-disk cache for generated datasets, keyed by a hash of every parameter.

Generated data (EMT adsorption graphs, synthetic heterogeneous and knowledge graphs) is built
once and then loaded by every trial process. The file lives under ``$HPOTK_DATA_DIR`` (or
``~/.cache/hpotk``) at ``<name>/<key>.pkl``, where ``key`` hashes the dataset name, its
parameters and a format version. Writes are atomic (temporary file + rename) and guarded by a
file lock, so trials that start together build the dataset once and the others wait and load it.

Example::

    entry = load_or_build("emt-adsorption", {"size": 2000, "seed": 0}, lambda: build(...))
    entry.value, entry.hit, entry.path
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_DIR = "HPOTK_DATA_DIR"


def data_dir() -> Path:
    """Root of the cache: ``$HPOTK_DATA_DIR`` if set, else ``~/.cache/hpotk``."""
    root = os.environ.get(ENV_DIR)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "hpotk"


def cache_key(name: str, params: dict[str, Any], version: int = 1) -> str:
    """A stable hex key for ``name`` + ``params`` (order-independent) + format ``version``."""
    blob = json.dumps({"name": name, "params": params, "version": version},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(name: str, params: dict[str, Any], version: int = 1) -> Path:
    """Where the dataset ``name`` with ``params`` is (or would be) stored."""
    return data_dir() / name / f"{cache_key(name, params, version)}.pkl"


@dataclass(frozen=True)
class Cached:
    """The result of `load_or_build`.

    Attributes:
        value: the dataset.
        path: its file.
        hit: True when it was loaded from disk, False when ``build`` ran.
        seconds: time spent building (or loading).
    """

    value: Any
    path: Path
    hit: bool
    seconds: float


def load_or_build(name: str, params: dict[str, Any], build: Callable[[], Any],
                  version: int = 1) -> Cached:
    """Load the dataset for ``name``/``params`` from the cache, or build, store and return it.

    Args:
        name: dataset name (a folder under the cache root).
        params: every parameter the dataset depends on (JSON-serialisable).
        build: makes the dataset when it is not cached; its result must be picklable.
        version: bump it when the stored format changes, so old files are not read.
    """
    path = cache_path(name, params, version)
    start = time.perf_counter()
    if path.exists():
        return Cached(_read(path), path, True, time.perf_counter() - start)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        if path.exists():  # another process built it while we waited
            return Cached(_read(path), path, True, time.perf_counter() - start)
        value = build()
        _write_atomic(path, value)
        _write_atomic_text(path.with_suffix(".json"),
                           json.dumps({"name": name, "params": params, "version": version},
                                      sort_keys=True, indent=1, default=str))
    return Cached(value, path, False, time.perf_counter() - start)


def _read(path: Path) -> Any:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def _write_atomic(path: Path, value: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
