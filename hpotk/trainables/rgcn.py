"""``rgcn``: node classification / regression and link prediction on a heterogeneous graph
(Neptune ML's default model).

Data: `hpotk.data.hetero` (``{name: hetero-synthetic, nodes: N, seed: S}`` or ``{path:
graph.pt, target: TYPE}``). Task (``TrainContext.task``): ``task_type`` ``node_class`` (default)
or ``node_regression``; ``eval_metric`` ``{"metric": "acc"|"acc_topk"|"F1"|"precision"|"recall"|
"roc_auc"}`` for classification, ``"mse"|"mae"`` for regression (``topk`` for ``acc_topk``).
Reports ``val_<metric>``/``test_<metric>``, ``val_loss``/``test_loss`` and, for classification,
``val_acc``/``test_acc`` each evaluation, with the cost metrics every built-in reports
(``epoch_s``, ``params``, ``peak_mem_mb``; see `hpotk.trainables.cost`).

``task_type: link_prediction`` predicts the edges of one relation (data key ``target_edge:
"src,relation,dst"``, default ``paper,published_in,venue``; see `hpotk.data.hetero_links`): the
RGCN's node representations are scored by a DistMult decoder, trained against ``num-negs`` [16]
random destination nodes shared by a batch of ``batch-size`` positive edges (each batch's edges
and their reverses are left out of the sampled graph), and ranked against every node of the
destination type: ``val_mrr``/``test_mrr`` (filtered) and ``val_hits10``/``test_hits10``.

Hyperparameters (Neptune ML's names, used as written; defaults in brackets):

- ``num-hidden`` [64]: width of node representations and of learnt node embeddings.
- ``num-layer`` [2]: relational convolutions; ``fanout`` [[10, 15, 15]]: neighbours sampled per
  node and relation at each layer (a list, one int for all layers, or ``"10,15"``; the list is
  cut or its last entry repeated to ``num-layer`` entries; -1 = all neighbours).
- ``batch-size`` [1024]: target nodes per mini-batch (each with its sampled neighbourhood).
- ``num-epochs`` [100]: the trial ends (``done``) after this many epochs.
- ``lr`` [0.01]; ``sparse-lr`` [= lr]: learning rate of the learnt node embeddings (their own
  parameter group); ``l2norm`` [0]: weight decay of all other parameters.
- ``dropout`` [0], ``layer-norm`` [false], ``num-bases`` [0 = a full weight per relation; with
  0 < num-bases < relations, basis decomposition], ``use-self-loop`` [true: a root weight for
  each node's own representation], ``concat-node-embed`` [false: featured nodes also get a learnt
  embedding, concatenated with their features], ``use-class-weight`` [false: cross-entropy
  weighted by inverse training class frequency], ``low-mem`` [true: `RGCNConv`, which loops
  over relations; false: `FastRGCNConv`, one weight matrix per edge, faster on small graphs and
  memory-hungry].
- ``enable-early-stop``, ``window-for-early-stop``: see `hpotk.trainables.base`.
- Accepted but without effect, because hpotk's graphs have no edge features and one feature
  tensor per node type: ``use-edge-features`` (only ``false``), ``edge-num-hidden``,
  ``per-feat-name-embed``.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError
from hpotk.trainables.base import TorchTrainable

CLASSIFICATION = ("acc", "acc_topk", "F1", "precision", "recall", "roc_auc")
REGRESSION = ("mse", "mae")
DEFAULTS: dict[str, Any] = {
    "num-hidden": 64, "num-layer": 2, "fanout": [10, 15, 15], "batch-size": 1024,
    "num-epochs": 100, "lr": 0.01, "sparse-lr": None, "l2norm": 0.0, "dropout": 0.0,
    "layer-norm": False, "num-bases": 0, "use-self-loop": True, "concat-node-embed": False,
    "use-class-weight": False, "low-mem": True, "enable-early-stop": None,
    "window-for-early-stop": None, "use-edge-features": False, "edge-num-hidden": None,
    "per-feat-name-embed": None, "num-negs": 16,
}


def parse_fanout(value: Any, num_layers: int) -> list[int]:
    """``fanout`` as one int per layer: a list, an int, or a ``"10,15"`` string."""
    if isinstance(value, str):
        value = [part for part in value.replace("[", "").replace("]", "").split(",") if part]
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        fanouts = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ConfigError("fanout", f"expected ints (one per layer), got {value!r}") from None
    if not fanouts or any(f < -1 or f == 0 for f in fanouts):
        raise ConfigError("fanout", f"each fanout must be >= 1 or -1 (all), got {value!r}")
    return (fanouts + [fanouts[-1]] * num_layers)[:num_layers]


def check_task(task: dict[str, Any], model: str) -> tuple[str, str, dict[str, Any]]:
    """(task_type, metric, metric options) of a `TrainContext.task` for a node model."""
    task_type = task.get("task_type") or "node_class"
    if task_type == "link_predict":
        task_type = "link_prediction"
    if task_type not in ("node_class", "node_regression", "link_prediction"):
        raise ConfigError("task_type", f"{model} supports node_class, node_regression and "
                          f"link_prediction, got {task_type!r}")
    allowed = {"node_class": CLASSIFICATION, "node_regression": REGRESSION,
               "link_prediction": ("mrr",)}[task_type]
    eval_metric = dict(task.get("eval_metric") or {})
    metric = eval_metric.pop("metric", allowed[0])
    if metric not in allowed:
        raise ConfigError("eval_metric.metric", f"{metric!r} does not apply to {task_type}; "
                          f"choose one of {list(allowed)}")
    if set(eval_metric) - {"topk"}:
        raise ConfigError("eval_metric", f"unknown keys {sorted(set(eval_metric) - {'topk'})}; "
                          "only 'metric' and 'topk' (for acc_topk)")
    return task_type, metric, eval_metric


class RGCNTrainable(TorchTrainable):
    MODEL_PARAMS = frozenset({"num-hidden", "num-layer", "num-bases", "layer-norm",
                              "use-self-loop", "concat-node-embed", "low-mem"})
    HYPERPARAMETERS = DEFAULTS
    EPOCHS_PARAM = "num-epochs"
    NAME = "rgcn"

    @staticmethod
    def load_data(spec: dict[str, Any]) -> Any:
        from hpotk.data.hetero import load_node_task

        return load_node_task(spec)

    def _prepare(self, config: dict[str, Any]) -> None:
        """Check config and task; move the graph to the device once (not per trial)."""
        import torch

        if config.get("use-edge-features"):
            raise ConfigError("use-edge-features", "hpotk's graphs carry no edge features; "
                              "set it to false")
        if getattr(self, "graph", None) is not None:
            return
        self.task_type, self.metric, self.metric_options = check_task(self.context.task, "rgcn")
        data = self.data
        if self.task_type == "link_prediction":
            return self._prepare_links()
        if self.task_type == "node_class" and data.labels is None:
            raise ConfigError("task_type", "node_class needs integer labels; the graph's "
                              "target labels are floats (use node_regression)")
        if self.task_type == "node_regression" and data.scores is None:
            raise ConfigError("task_type", "node_regression needs float targets 'y'")
        from hpotk.data.hetero import NeighbourSampler

        offset = int((data.node_type < data.node_types.index(data.target)).sum())
        if self.task_type == "node_class":
            target = torch.full((data.num_nodes,), -1, dtype=torch.long)
            target[offset:offset + data.labels.numel()] = data.labels
        else:
            target = torch.full((data.num_nodes,), float("nan"))
            target[offset:offset + data.scores.numel()] = data.scores
            train_values = target[data.train]
            self.scale = (float(train_values.mean()), float(train_values.std()) or 1.0)
        self.sampler = NeighbourSampler(data.edge_index, data.edge_type, data.num_nodes)
        device = self.device
        self.graph = {
            "node_type": data.node_type.to(device), "local_index": data.local_index.to(device),
            "features": [f.to(device) if f is not None else None for f in data.features],
            "edge_index": data.edge_index.to(device), "edge_type": data.edge_type.to(device),
            "target": target.to(device),
        }

    def _prepare_links(self) -> None:
        from hpotk.data.hetero import NeighbourSampler
        from hpotk.data.hetero_links import split_edges

        spec, data, device = self.context.data, self.data, self.device
        self.links = split_edges(data, spec.get("target_edge"), seed=int(spec.get("seed", 0)))
        self.sampler = NeighbourSampler(self.links.edge_index, self.links.edge_type,
                                        data.num_nodes)
        self.graph = {
            "node_type": data.node_type.to(device), "local_index": data.local_index.to(device),
            "features": [f.to(device) if f is not None else None for f in data.features],
            "edge_index": self.links.edge_index.to(device),
            "edge_type": self.links.edge_type.to(device),
        }

    def build_model(self, config: dict[str, Any]) -> Any:
        from hpotk.models.rgcn import RGCN, RGCNLinkPredictor

        self._prepare(config)
        data = self.data
        options = dict(
            counts=data.counts(),
            feature_dims=[0 if f is None else f.shape[1] for f in data.features],
            num_relations=max(len(data.edge_types), 1),
            num_hidden=int(self.hp("num-hidden", config)),
            num_layers=int(self.hp("num-layer", config)),
            num_bases=int(self.hp("num-bases", config)),
            dropout=float(self.hp("dropout", config)),
            layer_norm=bool(self.hp("layer-norm", config)),
            self_loop=bool(self.hp("use-self-loop", config)),
            concat_node_embed=bool(self.hp("concat-node-embed", config)),
            low_mem=bool(self.hp("low-mem", config)),
        )
        if self.task_type == "link_prediction":
            return RGCNLinkPredictor(**options)
        return RGCN(out_dim=data.num_classes if self.task_type == "node_class" else 1, **options)

    def build_optimizer(self, model: Any, config: dict[str, Any]) -> Any:
        import torch

        self._prepare(config)
        lr = float(self.hp("lr", config))
        sparse_lr = float(self.hp("sparse-lr", config) if config.get("sparse-lr") is not None
                          else lr)
        embedding = {id(p) for p in model.embedding_parameters()}
        dense = [p for p in model.parameters() if id(p) not in embedding]
        groups = [{"params": dense, "lr": lr,
                   "weight_decay": float(self.hp("l2norm", config))}]
        if embedding:
            groups.append({"params": model.embedding_parameters(), "lr": sparse_lr,
                           "weight_decay": 0.0})
        self._class_weight = self._class_weights(config)
        return torch.optim.Adam(groups)

    def _class_weights(self, config: dict[str, Any]) -> Any:
        import torch

        if self.task_type != "node_class" or not self.hp("use-class-weight", config):
            return None
        labels = self.graph["target"][self.data.train.to(self.device)]
        counts = torch.bincount(labels, minlength=self.data.num_classes).float().clamp(min=1)
        return counts.sum() / (len(counts) * counts)

    def _train_items(self) -> Any:
        """Target node ids, or (link prediction) positions of the training edges."""
        import torch

        if self.task_type == "link_prediction":
            return torch.arange(self.links.train.shape[1])
        return self.data.train

    def num_batches(self) -> int:
        return max(1, math.ceil(self._train_items().numel() / int(self.hp("batch-size"))))

    def batches(self, epoch: int, generator: Any) -> Any:
        import torch

        items = self._train_items()
        order = items[torch.randperm(items.numel(), generator=generator)]
        size = int(self.hp("batch-size"))
        seeds = torch.randint(0, 2**62, (self.num_batches(),), generator=generator)
        for index, start in enumerate(range(0, order.numel(), size)):
            yield order[start:start + size], int(seeds[index])  # sampled in train_batch

    def _loss(self, output: Any, target: Any) -> Any:
        import torch.nn.functional as F

        if self.task_type == "node_class":
            return F.cross_entropy(output, target, weight=self._class_weight)
        mean, std = self.scale
        return F.mse_loss(output.view(-1), (target - mean) / std)

    def train_batch(self, batch: Any) -> float:
        import torch

        if self.task_type == "link_prediction":
            return self._train_links(*batch)
        seeds, sample_seed = batch
        fanouts = parse_fanout(self.hp("fanout"), int(self.hp("num-layer")))
        nodes, edge_index, edge_type = self.sampler.sample(
            seeds, fanouts, torch.Generator().manual_seed(sample_seed))
        graph = self.graph
        nodes = nodes.to(self.device)
        self.optimizer.zero_grad()
        output = self.model(graph["node_type"][nodes], graph["local_index"][nodes],
                            graph["features"], edge_index.to(self.device),
                            edge_type.to(self.device))
        loss = self._loss(output[:seeds.numel()], graph["target"][nodes[:seeds.numel()]])
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def _train_links(self, positions: Any, sample_seed: int) -> float:
        import torch
        import torch.nn.functional as F

        generator = torch.Generator().manual_seed(sample_seed)
        positives = self.links.train[:, positions]
        candidates = self.links.candidates
        negatives = candidates[torch.randint(0, candidates.numel(),
                                             (int(self.hp("num-negs")),), generator=generator)]
        seeds, inverse = torch.unique(torch.cat([positives[0], positives[1], negatives]),
                                      return_inverse=True)
        fanouts = parse_fanout(self.hp("fanout"), int(self.hp("num-layer")))
        exclude = self.links.batch_edges_mask(positives, self.data.num_nodes)
        nodes, edge_index, edge_type = self.sampler.sample(seeds, fanouts, generator, exclude)
        graph, device, count = self.graph, self.device, positions.numel()
        nodes = nodes.to(device)
        self.optimizer.zero_grad()
        z = self.model(graph["node_type"][nodes], graph["local_index"][nodes], graph["features"],
                       edge_index.to(device), edge_type.to(device))
        inverse = inverse.to(device)
        source, destination = z[inverse[:count]], z[inverse[count:2 * count]]
        negative = z[inverse[2 * count:]]
        positive_score = self.model.decoder(source, destination)
        negative_score = self.model.decoder(source.unsqueeze(1), negative.unsqueeze(0))
        loss = (F.binary_cross_entropy_with_logits(positive_score, torch.ones_like(positive_score))
                + F.binary_cross_entropy_with_logits(negative_score,
                                                     torch.zeros_like(negative_score)))
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def _evaluate_links(self, z: Any) -> dict[str, float]:
        import torch

        from hpotk.metrics import mrr, rank_of_true

        links, n = self.links, self.data.num_nodes
        candidates = links.candidates.to(self.device)
        known = links.known.to(self.device)
        metrics: dict[str, float] = {}
        for split in ("val", "test"):
            edges = getattr(links, split).to(self.device)
            scores = self.model.decoder(z[edges[0]].unsqueeze(1), z[candidates].unsqueeze(0))
            truth = edges[1] - candidates[0]  # a node type's global ids are contiguous
            exclude = torch.isin(edges[0].unsqueeze(1) * n + candidates.unsqueeze(0), known)
            ranks = rank_of_true(scores, truth, exclude)
            metrics[f"{split}_mrr"] = mrr(ranks)
            metrics[f"{split}_hits10"] = float((ranks <= 10).double().mean())
        return metrics

    def evaluate(self) -> dict[str, float]:
        from hpotk.metrics import METRICS

        graph = self.graph
        output = self.model(graph["node_type"], graph["local_index"], graph["features"],
                            graph["edge_index"], graph["edge_type"])
        if self.task_type == "link_prediction":
            return self._evaluate_links(output)
        metrics: dict[str, float] = {}
        for split in ("val", "test"):
            ids = getattr(self.data, split).to(self.device)
            if ids.numel() == 0:
                continue
            out, target = output[ids], graph["target"][ids]
            metrics[f"{split}_loss"] = float(self._loss(out, target))
            if self.task_type == "node_class":
                metrics[f"{split}_acc"] = METRICS["acc"](target, out)
                value = METRICS[self.metric](target, out, **self.metric_options)
            else:
                mean, std = self.scale
                value = METRICS[self.metric](target, out.view(-1) * std + mean)
            metrics[f"{split}_{self.metric}"] = value
        return metrics

