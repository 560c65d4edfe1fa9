"""CGCNN regressing EMT adsorption energies (the NERSC Ray Tune guide's model), as a Ray Tune class Trainable.

Hyperparameters (exactly the NERSC Ray Tune guide's six): ``lr``, ``batch_size``, ``atom_embedding_size``,
``num_graph_conv_layers``, ``fc_feat_size``, ``num_fc_layers``; the last four are architecture
(`MODEL_PARAMS`: changing them in ``reset_config`` builds a new model). Data: the experiment's
``data`` mapping, ``{name: emt-adsorption, size, seed, ...}`` (see `hpotk.data.emt_adsorption`).

Targets are standardised with the training set's mean and standard deviation; the loss is the
mean squared error on that scale. Each evaluation reports, in eV: ``val_mae``, ``test_mae``,
``baseline_mae`` (predicting the training mean for every test structure) and
``adsorbate_baseline_mae`` (predicting the training mean of the structure's adsorbate element:
what a model that only knows which adsorbate it sees would reach), plus ``val_loss``.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.trainables.base import TorchTrainable

DEFAULTS: dict[str, Any] = {
    "lr": 0.005, "batch_size": 64, "atom_embedding_size": 64, "num_graph_conv_layers": 3,
    "fc_feat_size": 128, "num_fc_layers": 1,
}


class CGCNNTrainable(TorchTrainable):
    MODEL_PARAMS = frozenset(
        {"atom_embedding_size", "num_graph_conv_layers", "fc_feat_size", "num_fc_layers"}
    )
    HYPERPARAMETERS = DEFAULTS
    NAME = "cgcnn"

    @staticmethod
    def load_data(spec: dict[str, Any]) -> dict[str, Any]:
        """The dataset plus what every trial reuses: training targets' scale, collated eval sets."""
        import numpy as np
        from torch_geometric.data import Batch

        from hpotk.data import emt_adsorption

        spec = dict(spec)
        name = spec.get("name", emt_adsorption.NAME)
        if name != emt_adsorption.NAME:
            from hpotk.errors import ConfigError

            raise ConfigError("data.name", f"the cgcnn trainable reads {emt_adsorption.NAME!r} "
                              f"data, got {name!r}")
        dataset = emt_adsorption.load(spec)
        train, val, test = (dataset.split[k] for k in ("train", "val", "test"))
        energies = dataset.energies
        mean, std = float(energies[train].mean()), float(energies[train].std()) or 1.0
        adsorbate = np.array([r["adsorbate"] for r in dataset.records])
        by_adsorbate = {a: energies[train][adsorbate[train] == a].mean()
                        for a in set(adsorbate[train])}
        guess = np.array([by_adsorbate.get(a, mean) for a in adsorbate[test]])
        return {
            "dataset": dataset,
            "train": [dataset.graphs[i] for i in train],
            "val": Batch.from_data_list([dataset.graphs[i] for i in val]),
            "test": Batch.from_data_list([dataset.graphs[i] for i in test]),
            "mean": mean,
            "std": std,
            "baseline_mae": float(np.abs(energies[test] - mean).mean()),
            "adsorbate_baseline_mae": float(np.abs(energies[test] - guess).mean()),
            "num_atom_features": dataset.num_atom_features,
            "cutoff": float(dataset.params["cutoff"]),
        }

    def build_model(self, config: dict[str, Any]) -> Any:
        from hpotk.models.cgcnn import CGCNN

        get = lambda name: int(self.hp(name, config))  # noqa: E731
        return CGCNN(self.data["num_atom_features"],
                     atom_embedding_size=get("atom_embedding_size"),
                     num_graph_conv_layers=get("num_graph_conv_layers"),
                     fc_feat_size=get("fc_feat_size"), num_fc_layers=get("num_fc_layers"),
                     cutoff=self.data["cutoff"])

    def build_optimizer(self, model: Any, config: dict[str, Any]) -> Any:
        import torch

        return torch.optim.Adam(model.parameters(), lr=float(self.hp("lr", config)))

    def _batch_size(self) -> int:
        return max(1, int(self.hp("batch_size")))

    def num_batches(self) -> int:
        return math.ceil(len(self.data["train"]) / self._batch_size())

    def batches(self, epoch: int, generator: Any) -> Any:
        import torch
        from torch_geometric.data import Batch

        train = self.data["train"]
        order = torch.randperm(len(train), generator=generator).tolist()
        size = self._batch_size()
        for start in range(0, len(order), size):
            yield Batch.from_data_list([train[i] for i in order[start:start + size]])

    def _predict(self, batch: Any) -> Any:
        """Standardised predictions, [B]."""
        batch = batch.to(self.device)
        return self.model(batch.x, batch.edge_index, batch.edge_attr, batch.batch,
                          batch.num_graphs), batch

    def train_batch(self, batch: Any) -> float:
        import torch.nn.functional as F

        prediction, batch = self._predict(batch)
        target = (batch.y - self.data["mean"]) / self.data["std"]
        self.optimizer.zero_grad()
        loss = F.mse_loss(prediction, target)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def evaluate(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for split in ("val", "test"):
            prediction, batch = self._predict(self.data[split])
            energy = prediction * self.data["std"] + self.data["mean"]
            error = energy - batch.y
            metrics[f"{split}_mae"] = float(error.abs().mean())
            metrics[f"{split}_loss"] = float((error / self.data["std"]).pow(2).mean())
        metrics["baseline_mae"] = self.data["baseline_mae"]
        metrics["adsorbate_baseline_mae"] = self.data["adsorbate_baseline_mae"]
        return metrics
