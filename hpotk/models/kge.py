"""Knowledge-graph embedding models: TransE, DistMult and RotatE (as in DGL-KE).

Each model keeps an entity and a relation embedding table and scores a triple (h, r, t); a
higher score means a more plausible triple. Scores broadcast over leading dimensions, so one
call scores a batch against many candidate heads or tails.

- TransE (Bordes et al., 2013): ``gamma - ||h + r - t||_2``.
- DistMult (Yang et al., 2015): ``sum(h * r * t)``; symmetric in h and t by construction.
- RotatE (Sun et al., 2019): entities are complex vectors of ``num_hidden`` dimensions, a
  relation is a rotation by phases; ``gamma - sum_i |h_i * r_i - t_i|``.

Embeddings start uniform in ``±(gamma + 2) / num_hidden``, as in DGL-KE and the RotatE paper.
"""

from __future__ import annotations

import math

import torch
from torch import nn

EPSILON = 2.0


class UniformEmbedding(nn.Embedding):
    """An embedding table initialised uniformly in ``±bound`` (also by ``reset_parameters``)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, bound: float):
        super().__init__(num_embeddings, embedding_dim)
        self.bound = bound
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = getattr(self, "bound", None)
        if bound is None:  # called from nn.Embedding.__init__, before bound is set
            return super().reset_parameters()
        nn.init.uniform_(self.weight, -bound, bound)


class KGEModel(nn.Module):
    """Entity and relation tables plus a score function (subclasses define `score`).

    Args:
        num_entities, num_relations: table sizes.
        num_hidden: embedding width (complex dimensions for RotatE).
        gamma: the margin in the score of TransE and RotatE; also sets the initial scale.

    Shapes:
        forward(head [...], relation [...], tail [...]) -> [...] scores (ids broadcast).
        score(h [..., d_e], r [..., d_r], t [..., d_e]) -> [...]
    """

    entity_factor = 1
    relation_factor = 1

    def __init__(self, num_entities: int, num_relations: int, num_hidden: int = 64,
                 gamma: float = 12.0):
        super().__init__()
        self.num_hidden = num_hidden
        self.gamma = float(gamma)
        self.embedding_range = (self.gamma + EPSILON) / num_hidden
        self.entity = UniformEmbedding(num_entities, num_hidden * self.entity_factor,
                                       self.embedding_range)
        self.relation = UniformEmbedding(num_relations, num_hidden * self.relation_factor,
                                         self.embedding_range)

    def score(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, head: torch.Tensor, relation: torch.Tensor,
                tail: torch.Tensor) -> torch.Tensor:
        return self.score(self.entity(head), self.relation(relation), self.entity(tail))


class TransE(KGEModel):
    def score(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.gamma - torch.linalg.vector_norm(h + r - t, ord=2, dim=-1)


class DistMult(KGEModel):
    def score(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (h * r * t).sum(dim=-1)


class RotatE(KGEModel):
    entity_factor = 2  # real and imaginary parts

    def score(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h_re, h_im = h.chunk(2, dim=-1)
        t_re, t_im = t.chunk(2, dim=-1)
        phase = r / (self.embedding_range / math.pi)  # relation values -> angles in [-pi, pi]
        r_re, r_im = torch.cos(phase), torch.sin(phase)
        re = h_re * r_re - h_im * r_im - t_re
        im = h_re * r_im + h_im * r_re - t_im
        return self.gamma - torch.sqrt(re * re + im * im + 1e-12).sum(dim=-1)


MODELS = {"transe": TransE, "distmult": DistMult, "rotate": RotatE}
