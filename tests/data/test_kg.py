"""The knowledge graphs behind transe/distmult/rotate: planted patterns, splits, TSV files."""

from __future__ import annotations

import pytest
import torch

from hpotk.data import kg
from hpotk.errors import ConfigError


@pytest.fixture(scope="module", autouse=True)
def _data_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("kg-cache")))
        yield


def _by_relation(triples):
    out = {name: set() for name in kg.RELATIONS}
    for h, r, t in triples:
        out[kg.RELATIONS[r]].add((h, t))
    return out


def test_generation_is_deterministic():
    assert kg.generate(200, seed=1) == kg.generate(200, seed=1)
    assert kg.generate(200, seed=1) != kg.generate(200, seed=2)


def test_planted_patterns_hold_exactly():
    rel = _by_relation(kg.generate(300, seed=0))
    assert rel["contains"] == {(t, h) for h, t in rel["part_of"]}  # inverse
    assert rel["similar_to"] == {(t, h) for h, t in rel["similar_to"]}  # symmetric
    composed = {(a, c) for a, b in rel["part_of"] for b2, c in rel["located_in"] if b == b2}
    assert rel["reaches"] == composed  # composition
    assert all(len(pairs) > 100 for pairs in rel.values())


def test_split_is_seeded_disjoint_and_complete():
    task = kg.load_kg_task({"name": "kg-synthetic", "entities": 200, "seed": 0})
    again = kg.load_kg_task({"name": "kg-synthetic", "entities": 200, "seed": 0})
    assert torch.equal(task.train, again.train) and torch.equal(task.test, again.test)
    rows = [set(map(tuple, part.tolist())) for part in (task.train, task.val, task.test)]
    assert sum(map(len, rows)) == len(rows[0] | rows[1] | rows[2]) == len(kg.generate(200, 0))
    assert len(rows[1]) == pytest.approx(0.1 * sum(map(len, rows)), abs=1)
    assert task.num_entities == 200 and task.relations == list(kg.RELATIONS)
    assert kg.graph_size({"entities": 200}) == (200, sum(map(len, rows)))


def test_known_mask_marks_exactly_the_known_replacements():
    task = kg.load_kg_task({"entities": 100, "seed": 0})
    keys = task.known_keys()
    every = set(map(tuple, torch.cat([task.train, task.val, task.test]).tolist()))
    query = task.test[:20]
    tails = task.known_mask(query, "tail", keys)
    heads = task.known_mask(query, "head", keys)
    for row, (h, r, t) in enumerate(query.tolist()):
        assert set(tails[row].nonzero().view(-1).tolist()) == {
            e for e in range(100) if (h, r, e) in every}
        assert set(heads[row].nonzero().view(-1).tolist()) == {
            e for e in range(100) if (e, r, t) in every}


def test_prepare_caches():
    first, count, unit = kg.prepare(entities=120, seed=3)
    second, _, _ = kg.prepare(entities=120, seed=3)
    assert unit == "triples" and count == len(first.value) and second.hit
    assert kg.prepare(size=120, seed=3)[0].path == first.path  # size: the same as entities
    with pytest.raises(ConfigError, match="not both"):
        kg.prepare(size=120, entities=120)


def test_reads_a_users_tsv(tmp_path):
    lines = ["# a comment", ""] + [f"city{i}\tin\tcountry{i % 3}" for i in range(12)] + [
        "country0\tborders\tcountry1", "country1\tborders\tcountry0"]
    path = tmp_path / "triples.tsv"
    path.write_text("\n".join(lines) + "\n")
    task = kg.load_kg_task({"path": str(path), "seed": 0})
    assert task.relations == ["in", "borders"]
    assert task.num_entities == 15 and task.entities[:2] == ["city0", "country0"]
    assert len(task.train) + len(task.val) + len(task.test) == 14
    assert kg.graph_size({"path": str(path)}) == (15, 14)


def test_bad_tsv_lines_name_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("a\tr\tb\na r b\n")
    with pytest.raises(ConfigError, match=r"bad.tsv:2: expected 'head<TAB>relation<TAB>tail'"):
        kg.load_kg_task({"path": str(path)})
    with pytest.raises(ConfigError, match="no such file"):
        kg.load_kg_task({"path": str(tmp_path / "none.tsv")})
    with pytest.raises(ConfigError, match="data.nodes"):
        kg.load_kg_task({"name": "kg-synthetic", "nodes": 5})
