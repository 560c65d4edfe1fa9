"""The quickstart trainable: an MLP classifying scikit-learn's 8x8 digits.

Hyperparameters: ``lr``, ``hidden_size``, ``num_layers``, ``dropout``, ``batch_size``,
``weight_decay``. Reports ``val_acc``, ``val_loss``, ``test_acc``, ``test_loss`` per evaluation,
with the cost metrics every built-in reports (``epoch_s``, ``params``, ``peak_mem_mb``; see
`hpotk.trainables.cost`).
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.trainables.base import TorchTrainable


class DigitsMLP(TorchTrainable):
    MODEL_PARAMS = frozenset({"hidden_size", "num_layers"})

    @staticmethod
    def load_data(spec: dict[str, Any]) -> dict[str, Any]:
        from hpotk.data.digits import load_digits_split

        return load_digits_split(spec)

    def build_model(self, config: dict[str, Any]) -> Any:
        from hpotk.models.mlp import MLP

        return MLP(64, 10, hidden_size=int(config.get("hidden_size", 64)),
                   num_layers=int(config.get("num_layers", 1)),
                   dropout=float(config.get("dropout", 0.0)))

    def build_optimizer(self, model: Any, config: dict[str, Any]) -> Any:
        import torch

        return torch.optim.Adam(model.parameters(), lr=float(config.get("lr", 1e-3)),
                                weight_decay=float(config.get("weight_decay", 0.0)))

    def _batch_size(self) -> int:
        return int(self.config.get("batch_size", 64))

    def num_batches(self) -> int:
        return math.ceil(len(self.data["y_train"]) / self._batch_size())

    def batches(self, epoch: int, generator: Any) -> Any:
        import torch

        order = torch.randperm(len(self.data["y_train"]), generator=generator)
        size = self._batch_size()
        for start in range(0, len(order), size):
            index = order[start:start + size]
            yield (self.data["x_train"][index].to(self.device),
                   self.data["y_train"][index].to(self.device))

    def train_batch(self, batch: Any) -> float:
        import torch.nn.functional as F

        x, y = batch
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def evaluate(self) -> dict[str, float]:
        import torch.nn.functional as F

        metrics = {}
        for split in ("val", "test"):
            x = self.data[f"x_{split}"].to(self.device)
            y = self.data[f"y_{split}"].to(self.device)
            logits = self.model(x)
            metrics[f"{split}_loss"] = float(F.cross_entropy(logits, y))
            metrics[f"{split}_acc"] = float((logits.argmax(1) == y).float().mean())
        return metrics
