"""Relational graph convolutional network (Schlichtkrull et al., 2018) on PyTorch Geometric.

The input layer turns every node into a ``num_hidden`` vector: a linear map of its features
(types with features), a learnt embedding (featureless types), or, with ``concat_node_embed``,
a linear map of the features concatenated with a learnt embedding. Then ``num_layers``
relational convolutions (one weight per relation, or combinations of ``num_bases`` shared
bases), each followed by ReLU, optional layer normalisation and dropout, and a linear output
head.
"""

from __future__ import annotations

import torch
from torch import nn


class RGCN(nn.Module):
    """RGCN over a graph flattened to global node ids with an edge type per edge.

    Args:
        counts: nodes per node type.
        feature_dims: feature width per node type (0 = no features).
        num_relations: number of edge types.
        out_dim: classes (classification) or 1 (regression).
        num_hidden: width of the node representations and of the learnt embeddings.
        num_layers: relational convolutions.
        num_bases: basis decomposition with this many bases; 0 = a full weight per relation.
        dropout: dropout probability after each convolution and on the input representation.
        layer_norm: layer normalisation after each convolution.
        self_loop: add a separate weight for each node's own representation (RGCN's root
            weight, the self-loop of Schlichtkrull et al.).
        concat_node_embed: give featured node types a learnt embedding too, concatenated with
            their features.
        low_mem: use `RGCNConv` (loops over relations, memory O(E + N·hidden)) instead of
            `FastRGCNConv` (gathers one weight matrix per edge: faster on small graphs, memory
            O(E·hidden²)).

    Shapes:
        forward(node_type [n], local_index [n], features list of [count_t, dim_t] or None,
        edge_index [2, e], edge_type [e]) -> [n, out_dim]
    """

    def __init__(self, counts: list[int], feature_dims: list[int], num_relations: int,
                 out_dim: int, num_hidden: int = 64, num_layers: int = 2, num_bases: int = 0,
                 dropout: float = 0.0, layer_norm: bool = False, self_loop: bool = True,
                 concat_node_embed: bool = False, low_mem: bool = True):
        super().__init__()
        from torch_geometric.nn import FastRGCNConv, RGCNConv

        self.num_hidden = num_hidden
        self.embeddings = nn.ModuleDict()
        self.projections = nn.ModuleDict()
        for index, (count, dim) in enumerate(zip(counts, feature_dims, strict=True)):
            if dim == 0 or concat_node_embed:
                self.embeddings[str(index)] = nn.Embedding(count, num_hidden)
            if dim > 0:
                width = dim + (num_hidden if concat_node_embed else 0)
                self.projections[str(index)] = nn.Linear(width, num_hidden)
        conv = RGCNConv if low_mem else FastRGCNConv
        bases = num_bases if 0 < num_bases < num_relations else None
        self.convs = nn.ModuleList(
            conv(num_hidden, num_hidden, num_relations, num_bases=bases, root_weight=self_loop)
            for _ in range(num_layers))
        self.norms = nn.ModuleList(
            nn.LayerNorm(num_hidden) if layer_norm else nn.Identity() for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(num_hidden, out_dim)

    def embedding_parameters(self) -> list[nn.Parameter]:
        """The learnt node embeddings (trained with their own learning rate, ``sparse-lr``)."""
        return list(self.embeddings.parameters())

    def encode(self, node_type: torch.Tensor, local_index: torch.Tensor,
               features: list[torch.Tensor | None]) -> torch.Tensor:
        """Input representations [n, num_hidden] of the nodes ``(node_type, local_index)``."""
        out = torch.zeros(node_type.numel(), self.num_hidden, device=node_type.device)
        for index in torch.unique(node_type).tolist():
            where = (node_type == index).nonzero().view(-1)
            local = local_index[where]
            key = str(index)
            parts = []
            if features[index] is not None and key in self.projections:
                parts.append(features[index][local])
            if key in self.embeddings:
                parts.append(self.embeddings[key](local))
            if key in self.projections:
                out[where] = self.projections[key](torch.cat(parts, dim=1))
            else:
                out[where] = parts[0]
        return out

    def forward(self, node_type: torch.Tensor, local_index: torch.Tensor,
                features: list[torch.Tensor | None], edge_index: torch.Tensor,
                edge_type: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.encode(node_type, local_index, features))
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = self.dropout(norm(torch.relu(conv(h, edge_index, edge_type))))
        return self.head(h)


class DiagonalRelation(nn.Module):
    """DistMult's decoder for one relation: ``score(u, v) = sum(z_u * w * z_v)``.

    Shapes:
        forward(source [..., d], destination [..., d]) -> [...]
    """

    def __init__(self, num_hidden: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_hidden))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def forward(self, source: torch.Tensor, destination: torch.Tensor) -> torch.Tensor:
        return (source * self.weight * destination).sum(dim=-1)


class RGCNLinkPredictor(nn.Module):
    """An `RGCN` node encoder (output width ``num_hidden``) and a `DiagonalRelation` decoder.

    Args:
        **rgcn_options: everything `RGCN` takes except ``out_dim``.

    Shapes:
        forward(node_type [n], local_index [n], features, edge_index [2, e], edge_type [e])
        -> [n, num_hidden] node embeddings; decoder(z_u [..., d], z_v [..., d]) -> [...] scores
    """

    def __init__(self, **rgcn_options):
        super().__init__()
        self.encoder = RGCN(out_dim=rgcn_options["num_hidden"], **rgcn_options)
        self.decoder = DiagonalRelation(rgcn_options["num_hidden"])

    def embedding_parameters(self) -> list[nn.Parameter]:
        return self.encoder.embedding_parameters()

    def forward(self, node_type: torch.Tensor, local_index: torch.Tensor,
                features: list[torch.Tensor | None], edge_index: torch.Tensor,
                edge_type: torch.Tensor) -> torch.Tensor:
        return self.encoder(node_type, local_index, features, edge_index, edge_type)
