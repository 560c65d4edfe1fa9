"""A plain multilayer perceptron (the quickstart model)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``num_layers`` hidden layers of ``hidden_size`` units with ReLU and dropout.

    Shapes:
        input: [batch, in_features] -> output: [batch, out_features] (logits)
    """

    def __init__(self, in_features: int, out_features: int, hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_size
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
