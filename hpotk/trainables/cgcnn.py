"""CGCNN regressing EMT adsorption energies (the NERSC Ray Tune guide's model), as a Ray Tune class Trainable.

Hyperparameters (exactly the NERSC Ray Tune guide's six): ``lr``, ``batch_size``, ``atom_embedding_size``,
``num_graph_conv_layers``, ``fc_feat_size``, ``num_fc_layers``; the last four are architecture
(`MODEL_PARAMS`: changing them in ``reset_config`` builds a new model). Data: the experiment's
``data`` mapping, ``{name: emt-adsorption, size, seed, ...}`` (see `hpotk.data.emt_adsorption`).

Targets are referenced per adsorbate, as catalysis practice references adsorption energies to
the adsorbate (each structure's target is its energy minus the training mean of its adsorbate's
energies), then standardised with the training residuals' standard deviation; the loss is the
mean squared error on that scale. The model pools over all atoms and over the adsorbate atom
(`hpotk.models.cgcnn.CGCNN`'s ``site_pool``). Each evaluation reports, in eV: ``val_mae``,
``test_mae``, ``baseline_mae`` (predicting the training mean for every test structure),
``adsorbate_baseline_mae`` (predicting the training mean of the structure's adsorbate) and
``site_baseline_mae`` (the training mean of its (adsorbate, site) pair, the lookup table to beat:
a model that only knows which adsorbate sits on which kind of site reaches it), plus
``val_loss`` (on the standardised scale) and the cost metrics every built-in reports
(``epoch_s``, ``params``, ``peak_mem_mb``; see `hpotk.trainables.cost`).
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
        mean = float(energies[train].mean())
        adsorbate = [r["adsorbate"] for r in dataset.records]
        site = [(r["adsorbate"], r["site"]) for r in dataset.records]
        by_adsorbate = lookup_means(adsorbate, energies, train)
        reference = np.array([by_adsorbate.get(a, mean) for a in adsorbate])
        std = float((energies[train] - reference[train]).std()) or 1.0
        graphs = [_with_reference(graph, ref) for graph, ref in zip(dataset.graphs, reference,
                                                                     strict=True)]
        return {
            "dataset": dataset,
            "train": [graphs[i] for i in train],
            "val": Batch.from_data_list([graphs[i] for i in val]),
            "test": Batch.from_data_list([graphs[i] for i in test]),
            "std": std,
            "baseline_mae": float(np.abs(energies[test] - mean).mean()),
            "adsorbate_baseline_mae": lookup_mae(adsorbate, energies, train, test),
            "site_baseline_mae": lookup_mae(site, energies, train, test, fallback=adsorbate),
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
                     cutoff=self.data["cutoff"], site_pool=True)

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
        """Standardised predictions of the residual from the adsorbate's reference, [B]."""
        batch = batch.to(self.device)
        return self.model(batch.x, batch.edge_index, batch.edge_attr, batch.batch,
                          batch.num_graphs, site_mask=batch.adsorbate), batch

    def train_batch(self, batch: Any) -> float:
        import torch.nn.functional as F

        prediction, batch = self._predict(batch)
        target = (batch.y - batch.reference) / self.data["std"]
        self.optimizer.zero_grad()
        loss = F.mse_loss(prediction, target)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def evaluate(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for split in ("val", "test"):
            prediction, batch = self._predict(self.data[split])
            energy = prediction * self.data["std"] + batch.reference
            error = energy - batch.y
            metrics[f"{split}_mae"] = float(error.abs().mean())
            metrics[f"{split}_loss"] = float((error / self.data["std"]).pow(2).mean())
        metrics["baseline_mae"] = self.data["baseline_mae"]
        metrics["adsorbate_baseline_mae"] = self.data["adsorbate_baseline_mae"]
        metrics["site_baseline_mae"] = self.data["site_baseline_mae"]
        return metrics


def lookup_means(keys: list[Any], energies: Any, train: Any) -> dict[Any, float]:
    """The mean training energy of each key (e.g. adsorbate, or (adsorbate, site)) seen in
    ``train`` (indices into ``keys`` and ``energies``)."""
    sums: dict[Any, list[float]] = {}
    for i in train:
        total = sums.setdefault(keys[i], [0.0, 0])
        total[0] += float(energies[i])
        total[1] += 1
    return {key: total / count for key, (total, count) in sums.items()}


def lookup_mae(keys: list[Any], energies: Any, train: Any, test: Any,
               fallback: list[Any] | None = None) -> float:
    """Test MAE (eV) of a lookup table: each test structure gets the training mean of its key.

    A key never seen in training falls back to the training mean of its ``fallback`` key
    (e.g. the adsorbate alone), else to the overall training mean.
    """
    table = lookup_means(keys, energies, train)
    second = lookup_means(fallback, energies, train) if fallback is not None else {}
    overall = float(sum(float(energies[i]) for i in train) / len(train))
    errors = []
    for i in test:
        guess = table.get(keys[i])
        if guess is None and fallback is not None:
            guess = second.get(fallback[i])
        errors.append(abs(float(energies[i]) - (overall if guess is None else guess)))
    return float(sum(errors) / len(errors))


def _with_reference(graph: Any, reference: float) -> Any:
    """A copy of ``graph`` with ``reference`` [1] (eV, its adsorbate's training mean energy) and
    ``adsorbate`` [N] (bool, its adsorbate atoms: those whose element one-hot is an adsorbate's,
    see `hpotk.data._crystal_graph.atom_feature_table`)."""
    import torch

    from hpotk.data import _crystal_graph as cg
    from hpotk.data import emt_adsorption

    columns = [cg.ELEMENTS.index(a) for a in emt_adsorption.ADSORBATES]
    graph = graph.clone()
    graph.reference = torch.tensor([reference], dtype=torch.float32)
    graph.adsorbate = graph.x[:, columns].sum(dim=1) > 0
    return graph
