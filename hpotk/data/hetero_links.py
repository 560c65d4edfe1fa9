"""Held-out edges of one relation of a heterogeneous graph, for RGCN link prediction.

The data spec names the relation to predict with ``target_edge: "src,relation,dst"`` (default
for the synthetic graph: ``paper,published_in,venue``). A seeded 80/10/10 split of its edges
gives training, validation and test positives; validation and test edges (and their reverses,
the relation ``rev_<relation>`` or any edge type whose edges are exactly the flipped target
edges) are removed from the graph messages pass over, so the model never sees what it is asked
to predict. Ranking is filtered: other known target edges are left out of a query's candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpotk.errors import ConfigError

DEFAULT_TARGET_EDGE = ("paper", "published_in", "venue")


@dataclass
class LinkSplit:
    """The message-passing graph and the positives of the target relation.

    Attributes:
        relation: index of the target edge type in ``NodeTask.edge_types``.
        edge_index: [2, E'] long, global ids: the graph without held-out edges.
        edge_type: [E'] long.
        train, val, test: [2, n] long global (source, destination) ids of target edges.
        candidates: [C] long global ids of the destination node type (ranked for each query).
        known: sorted [K] long keys ``src * N + dst`` of every target edge (for filtering).
        reverse: indices of the edge types that hold the reversed target edges.
    """

    relation: int
    edge_index: Any
    edge_type: Any
    train: Any
    val: Any
    test: Any
    candidates: Any
    known: Any
    reverse: list[int]

    def batch_edges_mask(self, batch: Any, num_nodes: int) -> Any:
        """[E'] bool: the message edges that are ``batch`` [2, b] target edges or their reverses.

        Training leaves these out of the sampled graph (as DGL's ``exclude="reverse_types"``),
        so the model cannot read a positive off the edge it is asked to predict.
        """
        import torch

        keys = batch[0] * num_nodes + batch[1]
        src, dst = self.edge_index
        mask = (self.edge_type == self.relation) & torch.isin(src * num_nodes + dst, keys)
        for index in self.reverse:
            mask |= (self.edge_type == index) & torch.isin(dst * num_nodes + src, keys)
        return mask


def parse_edge_type(value: Any, edge_types: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """``"src,relation,dst"`` (or a 3-item list) checked against the graph's edge types."""
    parts = value.split(",") if isinstance(value, str) else list(value or [])
    edge = tuple(p.strip() for p in parts)
    if edge not in edge_types:
        shown = [",".join(e) for e in edge_types]
        raise ConfigError("data.target_edge", f"{value!r} is not an edge type of the graph; "
                          f"choose one of {shown}")
    return edge  # type: ignore[return-value]


def split_edges(task: Any, target_edge: Any = None, seed: int = 0, val_fraction: float = 0.1,
                test_fraction: float = 0.1) -> LinkSplit:
    """Split the edges of ``target_edge`` of ``task`` (a `hpotk.data.hetero.NodeTask`)."""
    import torch

    edge = parse_edge_type(target_edge or DEFAULT_TARGET_EDGE, task.edge_types)
    relation = task.edge_types.index(edge)
    src, dst = task.edge_index
    is_target = task.edge_type == relation
    positives = task.edge_index[:, is_target]
    n = task.num_nodes
    order = torch.randperm(positives.shape[1], generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(val_fraction * len(order)))
    n_test = max(1, int(test_fraction * len(order)))
    if positives.shape[1] < 10 or n_val + n_test >= len(order):
        raise ConfigError("data.target_edge", f"{','.join(edge)} has {positives.shape[1]} "
                          "edges: too few to split into train/val/test")
    val, test = positives[:, order[:n_val]], positives[:, order[n_val:n_val + n_test]]
    train = positives[:, order[n_val + n_test:]]
    held = torch.cat([val, test], 1)
    held_keys = held[0] * n + held[1]
    drop = is_target & torch.isin(src * n + dst, held_keys)
    reverse = _reverse_types(task, edge, positives)
    for index in reverse:
        drop |= (task.edge_type == index) & torch.isin(dst * n + src, held_keys)
    dst_type = task.node_types.index(edge[2])
    return LinkSplit(
        relation=relation, edge_index=task.edge_index[:, ~drop], edge_type=task.edge_type[~drop],
        train=train, val=val, test=test,
        candidates=(task.node_type == dst_type).nonzero().view(-1),
        known=torch.unique(positives[0] * n + positives[1]), reverse=reverse,
    )


def _reverse_types(task: Any, edge: tuple[str, str, str], positives: Any) -> list[int]:
    """Edge types holding the reversed target edges (``rev_<relation>`` or identical flips)."""
    import torch

    n = task.num_nodes
    flipped = torch.unique(positives[1] * n + positives[0])
    out = []
    for index, (s, r, d) in enumerate(task.edge_types):
        if (s, d) != (edge[2], edge[0]) or (s, r, d) == edge:
            continue
        pairs = task.edge_index[:, task.edge_type == index]
        same = torch.equal(torch.unique(pairs[0] * n + pairs[1]), flipped)
        if r == f"rev_{edge[1]}" or same:
            out.append(index)
    return out
