"""The score functions of TransE, DistMult and RotatE."""

from __future__ import annotations

import math

import torch

from hpotk.models.kge import MODELS, DistMult, RotatE, TransE


def test_scores_broadcast_over_candidates():
    for cls in MODELS.values():
        model = cls(20, 3, num_hidden=8, gamma=6.0)
        heads, rels = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])
        scores = model.score(model.entity(heads).unsqueeze(1), model.relation(rels).unsqueeze(1),
                             model.entity.weight.unsqueeze(0))
        assert scores.shape == (3, 20)
        assert torch.allclose(scores[:, 5], model(heads, rels, torch.tensor([5, 5, 5])))


def test_initial_embeddings_are_uniform_in_the_gamma_range():
    model = RotatE(50, 4, num_hidden=16, gamma=6.0)
    bound = (6.0 + 2.0) / 16
    assert model.entity.weight.shape == (50, 32)  # complex: real and imaginary parts
    assert float(model.entity.weight.detach().abs().max()) <= bound
    model.entity.reset_parameters()  # what reset_config calls keeps the same range
    assert float(model.entity.weight.detach().abs().max()) <= bound
    assert float(model.entity.weight.detach().abs().max()) > 0.8 * bound


def test_transe_translation_scores_gamma():
    model = TransE(3, 1, num_hidden=4, gamma=5.0)
    h, r = torch.randn(4), torch.randn(4)
    assert model.score(h, r, h + r).item() == 5.0
    # float32 rounding: (h + r) - (h + r + d) is d only to ~1e-6 (CI once drew 4.8e-07)
    assert abs(model.score(h, r, h + r + torch.tensor([3.0, 4.0, 0, 0])).item()) < 1e-5


def test_distmult_is_symmetric():
    torch.manual_seed(0)
    model = DistMult(10, 2, num_hidden=6)
    h, t, r = torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([0, 1])
    # equal up to float32 rounding: h*r*t and t*r*h multiply in another order (a random init
    # once gave 1.6502e-03 against 1.6500e-03, beyond allclose's default tolerance)
    assert torch.allclose(model(h, r, t), model(t, r, h), rtol=1e-4, atol=1e-6)


def test_rotate_rotates_by_the_relation_phase():
    model = RotatE(2, 1, num_hidden=1, gamma=1.0)
    quarter = model.embedding_range / math.pi * (math.pi / 2)  # a relation value of +90 degrees
    h = torch.tensor([1.0, 0.0])  # 1 + 0i
    t = torch.tensor([0.0, 1.0])  # 0 + 1i
    assert abs(model.score(h, torch.tensor([quarter]), t).item() - 1.0) < 1e-5
    assert abs(model.score(h, torch.tensor([0.0]), t).item() - (1.0 - math.sqrt(2))) < 1e-5
