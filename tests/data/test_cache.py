"""The shared dataset cache: keys, hits, and one build when several processes ask at once."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from hpotk.data import cache


def test_key_depends_on_every_parameter_not_on_their_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HPOTK_DATA_DIR", str(tmp_path))
    a = cache.cache_path("x", {"size": 10, "seed": 0})
    assert a == cache.cache_path("x", {"seed": 0, "size": 10})
    assert a.parent == tmp_path / "x"
    others = {cache.cache_path("x", {"size": 11, "seed": 0}),
              cache.cache_path("x", {"size": 10, "seed": 1}),
              cache.cache_path("y", {"size": 10, "seed": 0}),
              cache.cache_path("x", {"size": 10, "seed": 0}, version=2)}
    assert a not in others and len(others) == 4


def test_default_root_is_under_home(monkeypatch, tmp_path):
    monkeypatch.delenv("HPOTK_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.data_dir() == tmp_path / ".cache" / "hpotk"


def test_builds_once_then_loads(monkeypatch, tmp_path):
    monkeypatch.setenv("HPOTK_DATA_DIR", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"values": [1, 2, 3]}

    first = cache.load_or_build("x", {"n": 3}, build)
    second = cache.load_or_build("x", {"n": 3}, build)
    assert (first.hit, second.hit) == (False, True) and len(calls) == 1
    assert second.value == first.value and second.path == first.path
    assert first.path.with_suffix(".json").exists()  # says which parameters the file holds
    assert not list(tmp_path.glob("x/*.tmp"))


def _slow_build(marker: str) -> list[int]:
    with open(marker, "a") as handle:
        handle.write("built\n")
    time.sleep(0.5)
    return list(range(5))


def _ask(root: str, marker: str, out: multiprocessing.Queue) -> None:
    import os

    os.environ["HPOTK_DATA_DIR"] = root
    entry = cache.load_or_build("slow", {"n": 5}, lambda: _slow_build(marker))
    out.put((entry.value, entry.hit))


def test_processes_asking_together_build_once(tmp_path):
    marker = tmp_path / "builds.txt"
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [context.Process(target=_ask, args=(str(tmp_path / "cache"), str(marker), out))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert Path(marker).read_text() == "built\n"
    assert sorted(hit for _, hit in results) == [False, True]
    assert all(value == list(range(5)) for value, _ in results)
