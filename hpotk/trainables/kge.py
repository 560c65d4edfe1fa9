"""``transe``, ``distmult``, ``rotate``: knowledge-graph embedding link prediction (Neptune ML's models).

Data: `hpotk.data.kg` (``{name: kg-synthetic, entities: N, seed: S}`` or ``{path:
triples.tsv}``). Each evaluation ranks the true head and the true tail of every validation and
test triple against all entities, filtered (other known triples left out), and reports
``val_mrr``/``test_mrr``, ``val_hits10``/``test_hits10`` and ``val_loss``, with the cost metrics
every built-in reports (``epoch_s``, ``params``, ``peak_mem_mb``; see `hpotk.trainables.cost`).
``task_type`` must be ``link_prediction`` (default) and ``eval_metric`` ``mrr``.

Hyperparameters (Neptune ML's names, used as written; defaults in brackets):

- ``num-hidden`` [128]: embedding width (complex dimensions for RotatE).
- ``gamma`` [12.0]: the margin of the TransE/RotatE score; also scales the initial embeddings
  (all three models) and RotatE's phases.
- ``lr`` [0.01] (Adam), ``batch-size`` [1024] positive triples per step, ``num-epochs`` [100]:
  the trial ends (``done``) after this many epochs.
- ``num-negs`` [64]: negatives per positive, for the head and for the tail side each.
- ``neg-share`` [true]: one set of ``num-negs`` random entities is shared by every positive of
  a batch (cheaper); false: each positive draws its own.
- ``regularization-coef`` [0]: weight of the L3 penalty on the embeddings a batch uses.
- ``enable-early-stop``, ``window-for-early-stop``: see `hpotk.trainables.base`.
- ``rel-part`` is accepted without effect: relation partitioning splits relations across the
  GPUs of one DGL-KE job, and an hpotk trial trains on one device.

Loss: DGL-KE's logistic loss, ``-log σ(score⁺) - mean log σ(-score⁻)``, halved.
"""

from __future__ import annotations

import math
from typing import Any

from hpotk.errors import ConfigError
from hpotk.trainables.base import TorchTrainable

DEFAULTS: dict[str, Any] = {
    "num-hidden": 128, "gamma": 12.0, "lr": 0.01, "batch-size": 1024, "num-epochs": 100,
    "num-negs": 64, "neg-share": True, "regularization-coef": 0.0, "rel-part": False,
    "enable-early-stop": None, "window-for-early-stop": None,
}
EVAL_CHUNK = 256


class KGETrainable(TorchTrainable):
    """Shared training loop; subclasses name their score model in ``MODEL``."""

    MODEL = ""
    MODEL_PARAMS = frozenset({"num-hidden", "gamma"})
    HYPERPARAMETERS = DEFAULTS
    EPOCHS_PARAM = "num-epochs"

    @staticmethod
    def load_data(spec: dict[str, Any]) -> Any:
        from hpotk.data.kg import load_kg_task

        return load_kg_task(spec)

    def _prepare(self, config: dict[str, Any]) -> None:
        if int(self.hp("num-negs", config)) < 1:
            raise ConfigError("num-negs", f"must be >= 1, got {config.get('num-negs')!r}")
        if getattr(self, "known", None) is not None:
            return
        task = self.context.task
        if (task.get("task_type") or "link_prediction") not in ("link_prediction", "link_predict"):
            raise ConfigError("task_type", f"{self.MODEL} does link_prediction, got "
                              f"{task.get('task_type')!r}")
        metric = (task.get("eval_metric") or {}).get("metric", "mrr")
        if metric != "mrr":
            raise ConfigError("eval_metric.metric", f"{self.MODEL} reports 'mrr', got {metric!r}")
        self.train_triples = self.data.train.to(self.device)
        self.known = self.data.known_keys().to(self.device)

    def build_model(self, config: dict[str, Any]) -> Any:
        from hpotk.models.kge import MODELS

        self._prepare(config)
        return MODELS[self.MODEL](self.data.num_entities, self.data.num_relations,
                                  num_hidden=int(self.hp("num-hidden", config)),
                                  gamma=float(self.hp("gamma", config)))

    def build_optimizer(self, model: Any, config: dict[str, Any]) -> Any:
        import torch

        self._prepare(config)
        return torch.optim.Adam(model.parameters(), lr=float(self.hp("lr", config)))

    def num_batches(self) -> int:
        return max(1, math.ceil(len(self.data.train) / int(self.hp("batch-size"))))

    def batches(self, epoch: int, generator: Any) -> Any:
        import torch

        order = torch.randperm(len(self.data.train), generator=generator)
        size = int(self.hp("batch-size"))
        seeds = torch.randint(0, 2**62, (self.num_batches(),), generator=generator)
        for index, start in enumerate(range(0, len(order), size)):
            yield order[start:start + size], int(seeds[index])  # negatives drawn in train_batch

    def _negatives(self, count: int, generator: Any) -> Any:
        import torch

        shape = (1, int(self.hp("num-negs"))) if self.hp("neg-share") else (
            count, int(self.hp("num-negs")))
        return torch.randint(0, self.data.num_entities, shape, generator=generator).to(
            self.device)

    def _loss(self, triples: Any, generator: Any) -> Any:
        import torch
        import torch.nn.functional as F

        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        model = self.model
        head, rel, tail = model.entity(h), model.relation(r), model.entity(t)
        positive = model.score(head, rel, tail)
        entities = model.entity.weight
        negative_tails = model.score(head.unsqueeze(1), rel.unsqueeze(1),
                                     entities[self._negatives(len(h), generator)])
        negative_heads = model.score(entities[self._negatives(len(h), generator)],
                                     rel.unsqueeze(1), tail.unsqueeze(1))
        negatives = torch.cat([negative_tails, negative_heads], dim=1)
        loss = 0.5 * (-F.logsigmoid(positive).mean() - F.logsigmoid(-negatives).mean())
        coef = float(self.hp("regularization-coef"))
        if coef > 0:
            penalty = sum(e.abs().pow(3).sum(dim=-1) for e in (head, rel, tail))
            loss = loss + coef * penalty.mean()
        return loss

    def train_batch(self, batch: Any) -> float:
        import torch

        index, seed = batch
        self.optimizer.zero_grad()
        loss = self._loss(self.train_triples[index.to(self.device)],
                          torch.Generator().manual_seed(seed))
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def ranks(self, triples: Any) -> Any:
        """Filtered ranks [2n] of the true tails, then the true heads, of ``triples`` [n, 3]."""
        import torch

        from hpotk.metrics import rank_of_true

        model, entities = self.model, self.model.entity.weight
        out = []
        for side in ("tail", "head"):
            for start in range(0, len(triples), EVAL_CHUNK):
                part = triples[start:start + EVAL_CHUNK]
                h, r, t = (model.entity(part[:, 0]), model.relation(part[:, 1]),
                           model.entity(part[:, 2]))
                if side == "tail":
                    scores = model.score(h.unsqueeze(1), r.unsqueeze(1), entities.unsqueeze(0))
                    truth = part[:, 2]
                else:
                    scores = model.score(entities.unsqueeze(0), r.unsqueeze(1), t.unsqueeze(1))
                    truth = part[:, 0]
                exclude = self.data.known_mask(part, side, self.known)
                out.append(rank_of_true(scores, truth, exclude))
        return torch.cat(out)

    def evaluate(self) -> dict[str, float]:
        import torch

        from hpotk.metrics import mrr

        metrics: dict[str, float] = {}
        val = self.data.val.to(self.device)
        loss_generator = torch.Generator().manual_seed(self.seed)
        metrics["val_loss"] = float(self._loss(val, loss_generator))
        for split, triples in (("val", val), ("test", self.data.test.to(self.device))):
            ranks = self.ranks(triples)
            metrics[f"{split}_mrr"] = mrr(ranks)
            metrics[f"{split}_hits10"] = float((ranks <= 10).double().mean())
        return metrics


class TransETrainable(KGETrainable):
    MODEL = NAME = "transe"


class DistMultTrainable(KGETrainable):
    MODEL = NAME = "distmult"


class RotatETrainable(KGETrainable):
    MODEL = NAME = "rotate"
