"""The protocol every built-in trainable follows: a `ray.tune.Trainable` over a torch model.

A subclass says how to load data, build a model and optimiser, train on one batch and evaluate;
this base turns that into Tune's class API:

- ``setup``: pick the device Ray assigned, load data (cached per process, so ``reuse_actors``
  and ``reset_config`` never reload it), build model and optimiser.
- ``step``: train one evaluation unit (``eval_frequency``: N epochs, N batches, or a fraction of
  an epoch, as in Neptune ML), evaluate, return metrics; stop early when the objective has not
  improved (``enable-early-stop``: the average of the latest ``window-for-early-stop`` scores is
  no better than the average one evaluation earlier, as Neptune ML defines it). A trainable that ends by itself
  (e.g. it reached its ``num-epochs``) returns ``done=True`` with ``finished=True``, so the
  summary tells it from a trial the scheduler stopped.
- ``save_checkpoint``/``load_checkpoint``: weights, optimiser, position in the data stream and
  RNG state, so a restored trial continues bit-identically. The optimiser's *settings* (lr,
  weight decay, ... of every parameter group) are those the current config built, not the
  checkpoint's: torch's ``optimizer.load_state_dict`` restores the saved ones (Ray issue #62173),
  which would silently undo PBT's explore step.
- ``lr_schedule`` (`hpotk.lr_schedule`): before each evaluation iteration, every parameter
  group's lr is set from the schedule (its base lr as built from the config, times the
  schedule's factor), and the result reports the ``lr`` that trained it.
- ``reset_config``: a new trial on the same actor. Rebuilds the model only when a
  ``MODEL_PARAMS`` key changed (otherwise re-initialises its weights in place), always a new
  optimiser, never the data.
- cost metrics: every result also carries ``epoch_s`` (seconds of training for this result,
  evaluation excluded), ``params`` (trainable parameters) and ``peak_mem_mb`` (peak GPU
  allocation of the trial, or the worker process's peak RSS on a CPU); `hpotk.trainables.cost`
  defines them precisely and says what they leave out.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune

from hpotk.trainables import cost

EVAL_FREQUENCY_TYPES = ("evaluate_every_epoch", "evaluate_every_batch", "evaluate_every_pct")


@dataclass(frozen=True)
class TrainContext:
    """What a trainable gets besides its hyperparameters (from the experiment file).

    Attributes:
        data: the experiment's ``data`` mapping (name, size, seed, path, ...).
        seed: the experiment seed; each trial's seed also depends on its config.
        metric, mode: the objective, for early stopping.
        eval_frequency: ``{"type": evaluate_every_epoch|_batch|_pct, "value": ...}``.
        early_stop: stop a trial whose moving average of the objective over ``window``
            evaluations stops improving (a config key ``enable-early-stop`` overrides it).
        window: ``window-for-early-stop`` (config key of the same name overrides it).
        task: trainable-specific settings (task_type, eval_metric options, ...).
        lr_schedule: a validated ``lr_schedule`` (`hpotk.lr_schedule`), or None.
    """

    data: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    metric: str = "val_loss"
    mode: str = "min"
    eval_frequency: dict[str, Any] = field(
        default_factory=lambda: {"type": "evaluate_every_epoch", "value": 1}
    )
    early_stop: bool = False
    window: int = 3
    task: dict[str, Any] = field(default_factory=dict)
    lr_schedule: dict[str, Any] | None = None


@functools.lru_cache(maxsize=8)
def _cached(loader: Any, key: str) -> Any:
    return loader(json.loads(key))


def load_cached(loader: Any, spec: dict[str, Any]) -> Any:
    """``loader(spec)``, computed once per process for equal specs (``reuse_actors`` keeps it)."""
    return _cached(loader, json.dumps(spec, sort_keys=True, default=str))


def config_seed(seed: int, config: dict[str, Any]) -> int:
    """A seed that depends on the experiment seed and the trial's config, stable across runs."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return (seed * 1_000_003 + zlib.crc32(blob)) % (2**31 - 1)


class TorchTrainable(tune.Trainable):
    """Base class of hpotk's built-in trainables. Subclasses implement the hooks below."""

    #: config keys whose change needs a new model (architecture); the rest are learning params.
    MODEL_PARAMS: frozenset[str] = frozenset()
    #: the hyperparameters this trainable knows, with their defaults; a config key outside them
    #: is a mistake in the space and is refused (None: any key is accepted).
    HYPERPARAMETERS: dict[str, Any] | None = None
    #: config keys the protocol itself reads (Neptune ML's early stopping), accepted everywhere.
    PROTOCOL_KEYS = frozenset({"enable-early-stop", "window-for-early-stop"})
    #: the name users know the trainable by, for messages.
    NAME = ""
    #: a hyperparameter that caps training epochs (e.g. Neptune's ``num-epochs``): the trial
    #: ends by itself (``finished``) when it is reached. None: Tune's max_t alone ends it.
    EPOCHS_PARAM: str | None = None

    def hp(self, name: str, config: dict[str, Any] | None = None) -> Any:
        """Hyperparameter ``name`` of ``config`` (the current one by default), else its default."""
        config = self.config if config is None else config
        value = config.get(name)
        return self.HYPERPARAMETERS[name] if value is None else value

    def check_hyperparameters(self, config: dict[str, Any]) -> None:
        """Refuse config keys this trainable does not have (for every new config)."""
        if self.HYPERPARAMETERS is None:
            return
        unknown = sorted(set(config) - set(self.HYPERPARAMETERS) - self.PROTOCOL_KEYS)
        if unknown:
            from hpotk.errors import ConfigError

            name = self.NAME or type(self).__name__
            raise ConfigError(f"space.{unknown[0]}", f"the {name} trainable has no hyperparameter "
                              f"{unknown[0]!r}; its hyperparameters are "
                              f"{sorted(self.HYPERPARAMETERS)}")

    # -- hooks ------------------------------------------------------------------------------
    @staticmethod
    def load_data(spec: dict[str, Any]) -> Any:
        """Load (or generate) the dataset described by ``spec``. Called once per process."""
        raise NotImplementedError

    def build_model(self, config: dict[str, Any]) -> Any:
        """A fresh ``torch.nn.Module`` for ``config`` (not yet on the device)."""
        raise NotImplementedError

    def build_optimizer(self, model: Any, config: dict[str, Any]) -> Any:
        import torch

        return torch.optim.Adam(model.parameters(), lr=float(config.get("lr", 1e-3)))

    def num_batches(self) -> int:
        """Training batches in one epoch for the current config."""
        raise NotImplementedError

    def batches(self, epoch: int, generator: Any) -> Any:
        """Iterator over the training batches of ``epoch``, shuffled with ``generator``."""
        raise NotImplementedError

    def train_batch(self, batch: Any) -> float:
        """One optimiser step on ``batch``; returns the training loss."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Validation (and test) metrics of the current model."""
        raise NotImplementedError

    # -- Tune's class API ---------------------------------------------------------------------
    def setup(self, config: dict[str, Any], context: TrainContext | None = None) -> None:
        self.context = context or TrainContext()
        self.device = _assigned_device()
        if str(self.device) != "cpu":  # which GPU a trial got; on CPUs a line per actor is noise
            print(f"[hpotk] {type(self).__name__} trial {self.trial_id} runs on {self.device}",
                  flush=True)
        self.data = load_cached(type(self).load_data, self.context.data)
        self.model = None
        self._configure(dict(config))

    def _configure(self, config: dict[str, Any]) -> None:
        import torch

        # Ray's Trainable.reset() sets self.config to the new config before calling
        # reset_config, so compare with the config the model was built from.
        self.check_hyperparameters(config)
        old = getattr(self, "_built_config", None) or {}
        self.config = config
        self.seed = config_seed(self.context.seed, config)
        torch.manual_seed(self.seed)
        rebuild = self.model is None or any(old.get(k) != config.get(k) for k in self.MODEL_PARAMS)
        if rebuild:
            self.model = self.build_model(config).to(self.device)
            self._built_config = config
        else:
            _reinitialise(self.model)
            _set_dropout(self.model, config)
        self._set_optimizer(self.build_optimizer(self.model, config))
        self.position = (0, 0)  # (epoch, batches done in that epoch)
        self.batches_seen = 0
        self.scores: list[float] = []  # the objective at each evaluation, for early stopping
        cost.reset_peak_memory(self.device)  # a new trial's GPU peak starts at its model + data

    def _set_optimizer(self, optimizer: Any) -> None:
        """Use ``optimizer``, remembering the settings the config gave each parameter group."""
        self.optimizer = optimizer
        self._group_settings = [{k: v for k, v in group.items() if k != "params"}
                                for group in optimizer.param_groups]

    def _apply_lr_schedule(self) -> float | None:
        """Set each group's lr for the iteration about to be trained; the first group's lr."""
        schedule = self.context.lr_schedule
        if not schedule:
            return None
        from hpotk.lr_schedule import lr_at

        lr0 = float(self._group_settings[0]["lr"])
        for group, built in zip(self.optimizer.param_groups, self._group_settings, strict=True):
            group["lr"] = lr_at(schedule, self.iteration + 1, lr0, float(built["lr"]))
        return float(self.optimizer.param_groups[0]["lr"])

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._configure(dict(new_config))
        return True

    def _batches_per_step(self) -> int:
        kind = self.context.eval_frequency.get("type", "evaluate_every_epoch")
        value = self.context.eval_frequency.get("value", 1)
        per_epoch = self.num_batches()
        if kind == "evaluate_every_batch":
            return max(1, int(value))
        if kind == "evaluate_every_pct":
            return max(1, int(math.ceil(float(value) * per_epoch)))
        return max(1, int(value)) * per_epoch

    def step(self) -> dict[str, Any]:
        import torch

        scheduled_lr = self._apply_lr_schedule()
        clock = cost.TrainingClock(self.device)
        clock.start()
        self.model.train()
        todo = self._batches_per_step()
        losses = []
        epoch, done_in_epoch = self.position
        while todo > 0:
            generator = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            for i, batch in enumerate(self.batches(epoch, generator)):
                if i < done_in_epoch:
                    continue
                losses.append(self.train_batch(batch))
                done_in_epoch += 1
                todo -= 1
                self.batches_seen += 1
                if todo == 0:
                    break
            if done_in_epoch >= self.num_batches():
                epoch, done_in_epoch = epoch + 1, 0
        self.position = (epoch, done_in_epoch)
        epoch_s = clock.stop()
        self.model.eval()
        with torch.no_grad():
            metrics = self.evaluate()
        metrics["epoch_s"] = epoch_s
        metrics["params"] = cost.count_parameters(self.model)
        metrics["peak_mem_mb"] = cost.peak_memory_mb(self.device)
        metrics["train_loss"] = float(sum(losses) / max(len(losses), 1))
        metrics["epoch"] = epoch + done_in_epoch / max(self.num_batches(), 1)
        if scheduled_lr is not None:
            metrics["lr"] = scheduled_lr
        if self.EPOCHS_PARAM and metrics["epoch"] >= int(self.hp(self.EPOCHS_PARAM)):
            metrics["done"] = metrics["finished"] = True
        early_stop = bool(self.config.get("enable-early-stop", self.context.early_stop))
        if early_stop and self._no_improvement(metrics):
            metrics["done"] = True
            metrics["early_stopped"] = True
        return metrics

    def _no_improvement(self, metrics: dict[str, Any]) -> bool:
        """Neptune ML's early stop: stop when the average of the latest ``window`` validation
        scores is no better than the average of the ``window`` scores one evaluation earlier."""
        value = metrics.get(self.context.metric)
        if value is None or not math.isfinite(value):
            return False
        self.scores.append(float(value))
        window = int(self.config.get("window-for-early-stop", self.context.window))
        if len(self.scores) <= window:
            return False
        latest = sum(self.scores[-window:]) / window
        before = sum(self.scores[-window - 1:-1]) / window
        return latest >= before if self.context.mode == "min" else latest <= before

    def save_checkpoint(self, checkpoint_dir: str) -> dict | None:
        import torch

        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "position": self.position,
            "batches_seen": self.batches_seen,
            "scores": self.scores,
            "torch_rng": torch.get_rng_state(),
            "config": self.config,
        }
        torch.save(state, Path(checkpoint_dir) / "state.pt")
        return None

    def load_checkpoint(self, checkpoint: str | dict | None) -> None:
        import torch

        path = Path(checkpoint) / "state.pt"
        state = torch.load(path, map_location=self.device, weights_only=False)
        if any(state["config"].get(k) != self.config.get(k) for k in self.MODEL_PARAMS):
            self.model = self.build_model(state["config"]).to(self.device)
            self._built_config = state["config"]
            self._set_optimizer(self.build_optimizer(self.model, self.config))
        self.model.load_state_dict(state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError:  # a different optimiser (PBT explored another one): keep the new one
            pass
        _restore_settings(self.optimizer, self._group_settings)
        self.position = tuple(state["position"])
        self.batches_seen = state["batches_seen"]
        self.scores = list(state["scores"])
        torch.set_rng_state(state["torch_rng"])


def _assigned_device() -> Any:
    """The GPU Ray assigned to this trial (Ray sets CUDA_VISIBLE_DEVICES), else the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _reinitialise(model: Any) -> None:
    for module in model.modules():
        if hasattr(module, "reset_parameters") and module is not model:
            module.reset_parameters()


def _set_dropout(model: Any, config: dict[str, Any]) -> None:
    import torch

    if "dropout" not in config:
        return
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = float(config["dropout"])


def _restore_settings(optimizer: Any, settings: list[dict[str, Any]]) -> None:
    """After ``load_state_dict``, put back the settings the *current* config built (lr, weight
    decay, betas, ... of each group): the checkpoint's are those of the config it was saved
    under, and PBT's explore step has changed the config since."""
    for group, built in zip(optimizer.param_groups, settings, strict=False):
        group.update(built)
