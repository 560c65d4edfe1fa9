"""Heterogeneous graphs for RGCN node classification and regression.

Two sources, chosen by the data spec:

- ``{name: hetero-synthetic, nodes: 2000, classes: 4, seed: 0}``: a generated bibliographic
  graph (cached on disk by `hpotk.data.cache`). Node types ``paper`` (the target: 16 features of
  pure noise), ``author`` (features: a noisy one-hot of the author's hidden class), ``venue`` and
  ``topic`` (no features). Relations ``paper -published_in-> venue``, ``paper -written_by->
  author``, ``paper -cites-> paper``, ``paper -has_topic-> topic`` and the reverse of each. A
  paper's label is planted in its neighbourhood, not in its features: its venue has the paper's
  class with probability 0.8, each of its 2 authors with 0.75, each of its 3 citations with 0.6;
  topics are random (a distractor relation a relation-aware model learns to ignore). A model
  that sees only paper features is at chance (1/classes); an RGCN reads the label off the venue
  (a learnt embedding) and the authors' features. ``y_score``, the regression target, is a
  noisy sum of per-class values of the paper's venue and authors.
- ``{path: my_graph.pt, target: paper}``: a user's PyG ``HeteroData`` saved with
  ``torch.save``. Labels are ``data[target].y`` (integers: classification, floats:
  regression; negative integer labels and NaN targets mean unlabelled); masks
  ``train_mask``/``val_mask``/``test_mask`` on the target type are used when present, else a
  seeded 60/20/20 split of the labelled nodes. The file is unpickled: load only files you trust.

Either spec may add ``target_edge: "src,relation,dst"`` for link prediction
(`hpotk.data.hetero_links`); a user's file then needs no ``target``.

Both become a `NodeTask`: one homogeneous relational view of the graph (global node ids, an
``edge_type`` per edge) that RGCN layers consume, plus labels and split indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpotk.errors import ConfigError
from hpotk.options import check_options

SYNTHETIC = "hetero-synthetic"
SYNTHETIC_OPTIONS = {"name": str, "nodes": int, "size": int, "classes": int, "seed": int,
                     "target_edge": str}
FILE_OPTIONS = {"path": str, "target": str, "seed": int, "val_fraction": float,
                "test_fraction": float, "target_edge": str}
FORMAT_VERSION = 1
PAPER_FEATURES = 16
#: per paper: venues, authors, citations, topics it links to (each also reversed)
LINKS_PER_PAPER = {"published_in": 1, "written_by": 2, "cites": 3, "has_topic": 2}


@dataclass
class NodeTask:
    """A heterogeneous graph prepared for relational message passing.

    Global node ids number the node types one after the other (type ``t`` starts at
    ``offsets[t]``).

    Attributes:
        node_types: names, in the order of their global ids.
        edge_types: ``(src, relation, dst)`` triples; ``edge_type`` indexes this list.
        node_type: [N] long, the type index of each node.
        local_index: [N] long, each node's index within its type.
        features: per node type, a [count, dim] float tensor, or None for featureless types.
        edge_index: [2, E] long, global (source, destination) ids; messages flow source -> dest.
        edge_type: [E] long.
        target: the node type with labels.
        labels: [count(target)] long class ids (-1 = unlabelled), or None for regression.
        scores: [count(target)] float regression targets (NaN = unlabelled), or None.
        train, val, test: long tensors of *global* ids of labelled target nodes.
        num_classes: number of classes (0 without class labels).
    """

    node_types: list[str]
    edge_types: list[tuple[str, str, str]]
    node_type: Any
    local_index: Any
    features: list[Any]
    edge_index: Any
    edge_type: Any
    target: str
    labels: Any
    scores: Any
    train: Any
    val: Any
    test: Any
    num_classes: int

    @property
    def num_nodes(self) -> int:
        return int(self.node_type.numel())

    @property
    def num_edges(self) -> int:
        return int(self.edge_type.numel())

    def counts(self) -> list[int]:
        import torch

        return torch.bincount(self.node_type, minlength=len(self.node_types)).tolist()


def synthetic_counts(nodes: int, classes: int) -> dict[str, int]:
    """Nodes per type of the synthetic graph with ``nodes`` nodes in all."""
    venues = max(2 * classes, round(0.02 * nodes))
    topics = max(classes, round(0.05 * nodes))
    authors = max(classes, round(0.3 * nodes))
    papers = nodes - venues - topics - authors
    return {"paper": papers, "author": authors, "venue": venues, "topic": topics}


def _check_synthetic(spec: dict[str, Any]) -> dict[str, int]:
    check_options(spec, SYNTHETIC_OPTIONS, "data")
    spec = {k: v for k, v in spec.items() if v is not None}  # null (``size=``): the default
    if "size" in spec and "nodes" in spec:
        raise ConfigError("data.size", "give nodes or size (the same thing), not both")
    params = {"nodes": int(spec.get("nodes", spec.get("size", 2000))), "classes": int(spec.get("classes", 4)),
              "seed": int(spec.get("seed", 0))}
    if params["classes"] < 2:
        raise ConfigError("data.classes", f"need at least 2 classes, got {params['classes']}")
    minimum = 20 * params["classes"]
    if params["nodes"] < minimum:
        raise ConfigError("data.nodes", f"need at least {minimum} nodes for "
                          f"{params['classes']} classes, got {params['nodes']}")
    return params


def graph_size(spec: dict[str, Any]) -> tuple[int, int]:
    """(nodes, edges) of the graph ``spec`` describes, for ``node_strategy``/``edge_strategy``.

    Cheap for the synthetic graph (a formula, nothing is generated); a user's file is loaded.
    """
    if "path" in spec:
        check_options(spec, FILE_OPTIONS, "data")
        data = _load_file(spec["path"])
        return int(data.num_nodes), int(data.num_edges)
    params = _check_synthetic(spec)
    counts = synthetic_counts(params["nodes"], params["classes"])
    return params["nodes"], 2 * counts["paper"] * sum(LINKS_PER_PAPER.values())


def generate(nodes: int = 2000, classes: int = 4, seed: int = 0) -> Any:
    """The synthetic ``HeteroData`` (see the module docstring); deterministic in its arguments."""
    import numpy as np
    import torch
    from torch_geometric.data import HeteroData

    rng = np.random.default_rng(seed)
    counts = synthetic_counts(nodes, classes)
    papers = counts["paper"]
    venue_class = rng.permutation(np.arange(counts["venue"]) % classes)
    author_class = rng.permutation(np.arange(counts["author"]) % classes)
    label = rng.integers(0, classes, size=papers)

    def linked(node_class: np.ndarray, per_paper: int, keep: float) -> np.ndarray:
        """[papers, per_paper] ids: of the paper's class with probability ``keep``, else any."""
        members = [np.flatnonzero(node_class == c) for c in range(classes)]
        same = np.stack([rng.choice(members[c], size=per_paper) for c in label])
        anything = rng.integers(0, len(node_class), size=(papers, per_paper))
        return np.where(rng.random((papers, per_paper)) < keep, same, anything)

    links = {
        "published_in": ("venue", linked(venue_class, 1, 0.8)),
        "written_by": ("author", linked(author_class, 2, 0.75)),
        "cites": ("paper", linked(label, 3, 0.6)),
        "has_topic": ("topic", rng.integers(0, counts["topic"], size=(papers, 2))),
    }
    data = HeteroData()
    data["paper"].x = torch.from_numpy(rng.normal(size=(papers, PAPER_FEATURES)).astype(np.float32))
    author_dim = max(8, classes)
    author_x = rng.normal(size=(counts["author"], author_dim))
    author_x[np.arange(counts["author"]), author_class] += 1.0
    data["author"].x = torch.from_numpy(author_x.astype(np.float32))
    data["venue"].num_nodes = counts["venue"]
    data["topic"].num_nodes = counts["topic"]
    for relation, (dst_type, ids) in links.items():
        src = np.repeat(np.arange(papers), ids.shape[1])
        edge_index = torch.from_numpy(np.stack([src, ids.reshape(-1)]).astype(np.int64))
        data["paper", relation, dst_type].edge_index = edge_index
        data[dst_type, f"rev_{relation}", "paper"].edge_index = edge_index.flip(0)
    value = np.linspace(-1.5, 1.5, classes)
    venue_ids, author_ids = links["published_in"][1][:, 0], links["written_by"][1]
    score = (value[venue_class[venue_ids]] + value[author_class[author_ids]].mean(axis=1)
             + rng.normal(scale=0.1, size=papers))
    data["paper"].y = torch.from_numpy(label.astype(np.int64))
    data["paper"].y_score = torch.from_numpy(score.astype(np.float32))
    split = rng.permutation(papers)
    for name, part in zip(("train", "val", "test"),
                          np.split(split, [int(0.6 * papers), int(0.8 * papers)]), strict=True):
        mask = torch.zeros(papers, dtype=torch.bool)
        mask[torch.from_numpy(part)] = True
        data["paper"][f"{name}_mask"] = mask
    return data


def prepare(**spec: Any) -> tuple[Any, int, str]:
    """Build (or load from the cache) the synthetic graph: the `hpotk.data.DATASETS` builder.

    Args:
        **spec: ``nodes`` (or ``size``) [2000], ``classes`` [4], ``seed`` [0].
    """
    from hpotk.data.cache import load_or_build

    params = _check_synthetic(spec)
    entry = load_or_build(SYNTHETIC, params, lambda: generate(**params), version=FORMAT_VERSION)
    return entry, params["nodes"], "nodes"


def load_node_task(spec: dict[str, Any]) -> NodeTask:
    """The `NodeTask` for a data spec (synthetic graph, or a user's ``HeteroData`` file)."""
    if "path" in spec:
        check_options(spec, FILE_OPTIONS, "data")
        data = _load_file(spec["path"])
        target = spec.get("target")
        if target is None and "target_edge" in spec:  # link prediction needs no labels
            return to_node_task(data, None)
        if target is None or target not in data.node_types:
            raise ConfigError("data.target", f"name the node type with labels, one of "
                              f"{sorted(data.node_types)}; got {target!r}")
        return to_node_task(data, target, seed=int(spec.get("seed", 0)),
                            val_fraction=float(spec.get("val_fraction", 0.2)),
                            test_fraction=float(spec.get("test_fraction", 0.2)))
    if spec.get("name", SYNTHETIC) != SYNTHETIC:
        raise ConfigError("data.name", f"expected {SYNTHETIC!r} or a 'path' to a HeteroData "
                          f"file, got {spec.get('name')!r}")
    params = _check_synthetic(spec)
    entry, _, _ = prepare(**params)
    return to_node_task(entry.value, "paper", seed=params["seed"])


def _load_file(path: str) -> Any:
    from pathlib import Path

    import torch
    from torch_geometric.data import HeteroData

    file = Path(path).expanduser()
    if not file.is_file():
        where = "" if file.is_absolute() else f" (relative to {Path.cwd()}; give an absolute path)"
        raise ConfigError("data.path", f"no such file: {path!r}{where}")
    try:
        data = torch.load(file, weights_only=False)
    except Exception as exc:  # a broken or foreign file: say which and why
        raise ConfigError("data.path", f"cannot load {path!r} with torch.load: {exc}") from None
    if not isinstance(data, HeteroData):
        raise ConfigError("data.path", f"{path!r} holds a {type(data).__name__}, expected a "
                          "torch_geometric.data.HeteroData saved with torch.save")
    return data


def to_node_task(data: Any, target: str | None, seed: int = 0, val_fraction: float = 0.2,
                 test_fraction: float = 0.2) -> NodeTask:
    """Flatten ``data`` (a ``HeteroData``) into a `NodeTask` with labels of node type ``target``
    (None: no labels, for link prediction)."""
    import torch

    node_types = list(data.node_types)
    counts = [int(data[t].num_nodes) for t in node_types]
    offsets = dict(zip(node_types, torch.tensor([0] + counts).cumsum(0).tolist(), strict=False))
    node_type = torch.repeat_interleave(torch.arange(len(node_types)), torch.tensor(counts))
    local_index = torch.cat([torch.arange(c) for c in counts])
    features = [data[t].x.float() if "x" in data[t] else None for t in node_types]
    edge_types = [tuple(e) for e in data.edge_types]
    edges, kinds = [], []
    for index, (src, _, dst) in enumerate(edge_types):
        pair = data[edge_types[index]].edge_index.long()
        edges.append(torch.stack([pair[0] + offsets[src], pair[1] + offsets[dst]]))
        kinds.append(torch.full((pair.shape[1],), index, dtype=torch.long))
    if target is None:
        empty = torch.zeros(0, dtype=torch.long)
        return NodeTask(node_types, edge_types, node_type, local_index, features,
                        _cat(edges, 1, (2, 0)), _cat(kinds, 0, (0,)), "", None, None,
                        empty, empty, empty, 0)
    y = data[target].get("y")
    if y is None:
        raise ConfigError("data.target", f"node type {target!r} has no labels 'y'")
    labels = scores = None
    if y.is_floating_point():
        scores = y.float().reshape(-1)
        labelled = ~torch.isnan(scores)
    else:
        labels = y.long().reshape(-1)
        labelled = labels >= 0
    splits = _splits(data[target], labelled, seed, val_fraction, test_fraction)
    if "y_score" in data[target]:  # the synthetic graph carries both targets
        scores = data[target].y_score.float()
    return NodeTask(
        node_types=node_types, edge_types=edge_types, node_type=node_type,
        local_index=local_index, features=features,
        edge_index=_cat(edges, 1, (2, 0)), edge_type=_cat(kinds, 0, (0,)),
        target=target, labels=labels, scores=scores,
        train=splits[0] + offsets[target], val=splits[1] + offsets[target],
        test=splits[2] + offsets[target],
        num_classes=int(labels.max()) + 1 if labels is not None and labelled.any() else 0,
    )


def _cat(parts: list[Any], dim: int, empty_shape: tuple[int, ...]) -> Any:
    import torch

    return torch.cat(parts, dim) if parts else torch.zeros(empty_shape, dtype=torch.long)


def _splits(store: Any, labelled: Any, seed: int, val_fraction: float,
            test_fraction: float) -> list[Any]:
    import torch

    if all(f"{s}_mask" in store for s in ("train", "val", "test")):
        return [(store[f"{s}_mask"].bool() & labelled).nonzero().view(-1)
                for s in ("train", "val", "test")]
    if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1):
        raise ConfigError("data", f"val_fraction {val_fraction} and test_fraction "
                          f"{test_fraction} must be > 0 with a sum < 1")
    ids = labelled.nonzero().view(-1)
    ids = ids[torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed))]
    n_val, n_test = int(val_fraction * len(ids)), int(test_fraction * len(ids))
    return [ids[n_val + n_test:].sort().values, ids[:n_val].sort().values,
            ids[n_val:n_val + n_test].sort().values]


class NeighbourSampler:
    """Mini-batches of target nodes with their sampled multi-hop neighbourhood, in plain torch.

    PyG's ``NeighborLoader`` needs ``pyg-lib`` or ``torch-sparse`` (compiled extensions with no
    wheels for every torch build); this sampler needs neither and is seeded by a
    ``torch.Generator``, so a restored trial draws the same batches. For each layer it keeps, per
    node of the current frontier and per relation, at most ``fanout`` incoming edges chosen
    uniformly (``-1``: all of them), then moves the frontier to the nodes first reached. Cost per
    batch: O(E) per layer (a mask over all edges), fine for graphs of up to a few million edges.

    Args:
        edge_index: [2, E] long, global (source, destination) ids.
        edge_type: [E] long.
        num_nodes: N.
    """

    def __init__(self, edge_index: Any, edge_type: Any, num_nodes: int):
        self.src, self.dst = edge_index[0], edge_index[1]
        self.edge_type = edge_type
        self.num_nodes = num_nodes
        self.num_relations = int(edge_type.max()) + 1 if edge_type.numel() else 1

    def sample(self, seeds: Any, fanouts: list[int], generator: Any,
               exclude: Any = None) -> tuple[Any, Any, Any]:
        """The subgraph that ``len(fanouts)`` layers of message passing into ``seeds`` use.

        Args:
            seeds: [B] long global ids (distinct).
            fanouts: neighbours per node and relation, one entry per layer (-1 = all).
            generator: a CPU ``torch.Generator``.
            exclude: optional [E] bool, edges never to sample (link prediction's positives).

        Returns:
            ``(nodes, edge_index, edge_type)``: nodes [n] global ids with ``seeds`` first;
            edge_index [2, e] in positions of ``nodes``; edge_type [e].
        """
        import torch

        reached = torch.zeros(self.num_nodes, dtype=torch.bool)
        reached[seeds] = True
        nodes, frontier, kept = [seeds], seeds, []
        for fanout in fanouts:
            in_frontier = torch.zeros(self.num_nodes, dtype=torch.bool)
            in_frontier[frontier] = True
            candidates = in_frontier[self.dst].nonzero().view(-1)
            if exclude is not None:
                candidates = candidates[~exclude[candidates]]
            if fanout >= 0 and candidates.numel():
                key = self.dst[candidates] * self.num_relations + self.edge_type[candidates]
                order = torch.randperm(candidates.numel(), generator=generator)
                order = order[torch.sort(key[order], stable=True).indices]
                key = key[order]
                position = torch.arange(key.numel())
                starts = torch.ones_like(key, dtype=torch.bool)
                starts[1:] = key[1:] != key[:-1]
                first = torch.cummax(torch.where(starts, position, 0), 0).values
                candidates = candidates[order[position - first < fanout]]
            kept.append(candidates)
            sources = self.src[candidates]
            new = torch.unique(sources[~reached[sources]])
            reached[new] = True
            nodes.append(new)
            frontier = new
        nodes = torch.cat(nodes)
        position_of = torch.full((self.num_nodes,), -1, dtype=torch.long)
        position_of[nodes] = torch.arange(nodes.numel())
        edges = torch.cat(kept)
        edge_index = torch.stack([position_of[self.src[edges]], position_of[self.dst[edges]]])
        return nodes, edge_index, self.edge_type[edges]
