"""Knowledge graphs for link prediction with knowledge-graph embeddings (transe, distmult, rotate).

Two sources, chosen by the data spec:

- ``{name: kg-synthetic, entities: 500, seed: 0}``: a generated graph with planted relational
  patterns (cached on disk by `hpotk.data.cache`). Entities fall into clusters; relations
  (``part_of``: 2 tails per head, ``located_in``: 1) link a head to random entities of the
  cluster a fixed permutation assigns to the head's cluster, so every relation has learnable
  type structure; on top of that ``contains`` is the exact **inverse** of ``part_of``,
  ``similar_to`` is **symmetric** (pairs inside a cluster, both directions), and ``reaches`` is
  the **composition** ``part_of`` then ``located_in``. A held-out triple is usually implied by
  training triples through one of these patterns, which is what the models are tested on.
- ``{path: triples.tsv}``: a user's triples, one ``head<TAB>relation<TAB>tail`` per line
  (blank lines and lines starting with ``#`` are skipped); names are mapped to ids in order of
  first appearance.

Triples are split 80/10/10 with a seeded permutation (``val_fraction``/``test_fraction``
change it). Ranking is filtered: candidates that form any known triple (train, val or test)
are left out, as is standard for filtered MRR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options

SYNTHETIC = "kg-synthetic"
SYNTHETIC_OPTIONS = {"name": str, "entities": int, "size": int, "seed": int}
FILE_OPTIONS = {"path": str, "seed": int, "val_fraction": float, "test_fraction": float}
RELATIONS = ("part_of", "located_in", "contains", "similar_to", "reaches")
FORMAT_VERSION = 1


@dataclass
class KGTask:
    """Triples of a knowledge graph split for link prediction.

    Attributes:
        entities: entity names (index = id).
        relations: relation names (index = id).
        train, val, test: [n, 3] long (head, relation, tail) ids.
    """

    entities: list[str]
    relations: list[str]
    train: Any
    val: Any
    test: Any

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def known_keys(self) -> Any:
        """Sorted [n_all] long keys ``(h * R + r) * E + t`` of every known triple (for filtering)."""
        import torch

        triples = torch.cat([self.train, self.val, self.test])
        return torch.unique(self._key(triples[:, 0], triples[:, 1], triples[:, 2]))

    def _key(self, head: Any, relation: Any, tail: Any) -> Any:
        return (head * self.num_relations + relation) * self.num_entities + tail

    def known_mask(self, triples: Any, corrupt: str, keys: Any) -> Any:
        """[n, E] bool: which replacements of the ``corrupt`` side ("head"/"tail") are known."""
        import torch

        candidates = torch.arange(self.num_entities, device=triples.device)
        h, r, t = triples[:, 0:1], triples[:, 1:2], triples[:, 2:3]
        if corrupt == "tail":
            query = self._key(h, r, candidates.unsqueeze(0))
        else:
            query = self._key(candidates.unsqueeze(0), r, t)
        return torch.isin(query, keys)


def _check_synthetic(spec: dict[str, Any]) -> dict[str, int]:
    check_options(spec, SYNTHETIC_OPTIONS, "data")
    spec = {k: v for k, v in spec.items() if v is not None}  # null (``size=``): the default
    if "size" in spec and "entities" in spec:
        raise ConfigError("data.size", "give entities or size (the same thing), not both")
    params = {"entities": int(spec.get("entities", spec.get("size", 500))), "seed": int(spec.get("seed", 0))}
    if params["entities"] < 40:
        raise ConfigError("data.entities", f"need at least 40 entities, got {params['entities']}")
    return params


def generate(entities: int = 500, seed: int = 0) -> list[tuple[int, int, int]]:
    """Synthetic triples (head, relation, tail), deduplicated and sorted; see the module docs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    clusters = max(4, entities // 50)
    cluster = rng.permutation(np.arange(entities) % clusters)
    members = [np.flatnonzero(cluster == c) for c in range(clusters)]
    heads = np.arange(entities)

    def typed(per_head: int) -> np.ndarray:
        """[entities, per_head] tails in the cluster a random permutation assigns to the head's."""
        target = rng.permutation(clusters)[cluster]
        return np.stack([rng.choice(members[c], size=per_head) for c in target])

    part_of, located_in = typed(2), typed(1)
    triples = set()
    relation = {name: index for index, name in enumerate(RELATIONS)}
    for h in heads:
        for t in part_of[h]:
            triples.add((h, relation["part_of"], t))
            triples.add((t, relation["contains"], h))
            for c in located_in[t]:
                triples.add((h, relation["reaches"], c))
        triples.add((h, relation["located_in"], located_in[h][0]))
        partner = rng.choice(members[cluster[h]])
        if partner != h:
            triples.add((h, relation["similar_to"], partner))
            triples.add((partner, relation["similar_to"], h))
    return sorted((int(h), int(r), int(t)) for h, r, t in triples)


def prepare(**spec: Any) -> tuple[Any, int, str]:
    """Build (or load from the cache) the synthetic triples: the `hpotk.data.DATASETS` builder.

    Args:
        **spec: ``entities`` (or ``size``) [500], ``seed`` [0].
    """
    from hpotk.data.cache import load_or_build

    params = _check_synthetic(spec)
    entry = load_or_build(SYNTHETIC, params, lambda: generate(**params), version=FORMAT_VERSION)
    return entry, len(entry.value), "triples"


def read_tsv(path: str) -> tuple[list[tuple[int, int, int]], list[str], list[str]]:
    """Triples and the entity and relation names of a ``head<TAB>relation<TAB>tail`` file."""
    from pathlib import Path

    file = Path(path).expanduser()
    if not file.is_file():
        where = "" if file.is_absolute() else f" (relative to {Path.cwd()}; give an absolute path)"
        raise ConfigError("data.path", f"no such file: {path!r}{where}")
    entity_ids: dict[str, int] = {}
    relation_ids: dict[str, int] = {}
    triples = []
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 3 or not all(f.strip() for f in fields):
                raise ConfigError("data.path", f"{path}:{number}: expected "
                                  f"'head<TAB>relation<TAB>tail', got {line!r}")
            head, relation, tail = (f.strip() for f in fields)
            ids = (entity_ids.setdefault(head, len(entity_ids)),
                   relation_ids.setdefault(relation, len(relation_ids)),
                   entity_ids.setdefault(tail, len(entity_ids)))
            triples.append(ids)
    if len(triples) < 10:
        raise ConfigError("data.path", f"{path}: need at least 10 triples, found {len(triples)}")
    return sorted(set(triples)), list(entity_ids), list(relation_ids)


def load_kg_task(spec: dict[str, Any]) -> KGTask:
    """The `KGTask` for a data spec (synthetic graph, or a user's TSV file)."""
    if "path" in spec:
        check_options(spec, FILE_OPTIONS, "data")
        triples, entities, relations = read_tsv(spec["path"])
        return split(triples, entities, relations, seed=int(spec.get("seed", 0)),
                     val_fraction=float(spec.get("val_fraction", 0.1)),
                     test_fraction=float(spec.get("test_fraction", 0.1)))
    if spec.get("name", SYNTHETIC) != SYNTHETIC:
        raise ConfigError("data.name", f"expected {SYNTHETIC!r} or a 'path' to a TSV file of "
                          f"triples, got {spec.get('name')!r}")
    params = _check_synthetic(spec)
    entry, _, _ = prepare(**params)
    names = [f"e{i}" for i in range(params["entities"])]
    return split(entry.value, names, list(RELATIONS), seed=params["seed"])


def graph_size(spec: dict[str, Any]) -> tuple[int, int]:
    """(entities, triples) of the knowledge graph ``spec`` describes."""
    task = load_kg_task(spec)
    return task.num_entities, sum(len(part) for part in (task.train, task.val, task.test))


def split(triples: list[tuple[int, int, int]], entities: list[str], relations: list[str],
          seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1) -> KGTask:
    """A seeded train/val/test split of ``triples`` into a `KGTask`."""
    import torch

    if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1):
        raise ConfigError("data", f"val_fraction {val_fraction} and test_fraction "
                          f"{test_fraction} must be > 0 with a sum < 1")
    all_triples = torch.tensor(triples, dtype=torch.long).view(-1, 3)
    order = torch.randperm(len(all_triples), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(val_fraction * len(order)))
    n_test = max(1, int(test_fraction * len(order)))
    shuffled = all_triples[order]
    return KGTask(entities=entities, relations=relations,
                  train=shuffled[n_val + n_test:], val=shuffled[:n_val],
                  test=shuffled[n_val:n_val + n_test])
