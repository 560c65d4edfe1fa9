"""Every built-in trainable follows lr_schedule per evaluation iteration, and after a restore
(PBT's exploit) trains at the current config's lr, not the checkpoint's. Direct, no Ray."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hpotk import lr_schedule as ls
from hpotk.trainables.base import TrainContext
from tests.helpers import build_trainable

SCHEDULES = [
    {"type": "multistep", "milestones": [1, 3], "gamma": 0.5},
    {"type": "step", "step_size": 2, "gamma": 0.3},
    {"type": "exponential", "gamma": 0.8},
    {"type": "cosine", "T_max": 4, "eta_min": 1e-4},
    {"type": "piecewise", "points": [[1, 0.02], [3, 0.005], [4, 0.01]]},
    {"type": "warmup", "warmup_iters": 2, "start_factor": 0.25,
     "then": {"type": "exponential", "gamma": 0.7}},
    {"type": "onecycle", "total_steps": 6, "pct_start": 0.5, "anneal_strategy": "linear"},
]  # the command script runs 6 epochs: torch's OneCycleLR raises on a step past total_steps
ITERATIONS = 5


def _digits():
    from hpotk.trainables.digits import DigitsMLP

    return (DigitsMLP, {"lr": 0.01, "hidden_size": 16, "num_layers": 1, "batch_size": 256,
                        "weight_decay": 1e-4},
            {"eval_frequency": {"type": "evaluate_every_batch", "value": 2}},
            {"lr": 0.002, "weight_decay": 3e-3})


def _cgcnn():
    from hpotk.trainables.cgcnn import CGCNNTrainable

    return (CGCNNTrainable, {"lr": 0.005, "batch_size": 10, "atom_embedding_size": 8,
                             "num_graph_conv_layers": 1, "fc_feat_size": 8, "num_fc_layers": 1},
            {"data": {"name": "emt-adsorption", "size": 30, "seed": 5}, "metric": "val_mae",
             "eval_frequency": {"type": "evaluate_every_batch", "value": 1}},
            {"lr": 0.0007})


def _rgcn():
    from hpotk.trainables.rgcn import RGCNTrainable

    return (RGCNTrainable, {"num-hidden": 8, "lr": 0.01, "sparse-lr": 0.05, "l2norm": 1e-4,
                            "batch-size": 64, "num-layer": 1, "fanout": [3], "num-epochs": 50},
            {"data": {"name": "hetero-synthetic", "nodes": 200, "seed": 0}, "metric": "val_acc",
             "mode": "max", "task": {"task_type": "node_class", "eval_metric": {"metric": "acc"}},
             "eval_frequency": {"type": "evaluate_every_batch", "value": 1}},
            {"lr": 0.002, "sparse-lr": 0.2, "l2norm": 1e-3})


def _kge():
    from hpotk.trainables.kge import TransETrainable

    return (TransETrainable, {"num-hidden": 8, "lr": 0.05, "batch-size": 128, "gamma": 6.0,
                              "num-negs": 4, "num-epochs": 50},
            {"data": {"name": "kg-synthetic", "entities": 100, "seed": 0}, "metric": "val_mrr",
             "mode": "max",
             "task": {"task_type": "link_prediction", "eval_metric": {"metric": "mrr"}},
             "eval_frequency": {"type": "evaluate_every_batch", "value": 1}},
            {"lr": 0.004})


BUILTINS = {"mlp-digits": _digits, "cgcnn": _cgcnn, "rgcn": _rgcn, "kge": _kge}


@pytest.fixture(scope="module", autouse=True)
def _cache_and_threads(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("pbt-cache")))
        yield
    torch.set_num_threads(threads)


def make(name, config=None, **context):
    cls, base, ctx, _ = BUILTINS[name]()
    return build_trainable(cls, {**base, **(config or {})}, TrainContext(**{**ctx, **context}))


def torch_lrs(spec, base_lrs, n):
    """What torch's own scheduler gives each group, epoch by epoch (scheduler.step() after
    each evaluation)."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in base_lrs]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs,
                                                                              strict=True)])
    scheduler = ls.torch_scheduler(optimizer, spec)
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return out


@pytest.mark.parametrize("name", list(BUILTINS))
@pytest.mark.parametrize("spec", SCHEDULES, ids=[s["type"] for s in SCHEDULES])
def test_each_trainable_steps_the_schedule_once_per_iteration(name, spec):
    trainable = make(name, lr_schedule=ls.validate(spec))
    base = [g["lr"] for g in trainable.optimizer.param_groups]
    seen, reported = [], []
    for _ in range(ITERATIONS):
        result = trainable.train()
        seen.append([g["lr"] for g in trainable.optimizer.param_groups])
        reported.append(result["lr"])
    trainable.stop()
    expected = torch_lrs(spec, base, ITERATIONS)
    assert [lr for row in seen for lr in row] == pytest.approx(
        [lr for row in expected for lr in row], rel=1e-9)
    assert reported == pytest.approx([e[0] for e in expected], rel=1e-9)
    assert len({tuple(s) for s in seen}) > 1  # it really changed


@pytest.mark.parametrize("name", list(BUILTINS))
@pytest.mark.parametrize("reuse", [False, True], ids=["new-actor", "reset-config"])
def test_after_restore_the_optimiser_runs_at_the_new_config(name, reuse, tmp_path):
    """PBT exploit: the donor's checkpoint, the perturbed config. torch's load_state_dict would
    bring back the donor's lr (and weight decay): every group must have the new config's."""
    _, base, _, perturbed = BUILTINS[name]()
    donor = make(name)
    donor.train()
    donor.train()
    donor.save_checkpoint(str(tmp_path))
    fresh = make(name, {**base, **perturbed})
    expected = [{k: v for k, v in g.items() if k != "params"}
                for g in fresh.optimizer.param_groups]
    fresh.stop()
    if reuse:
        target = donor
        target.reset_config({**base, **perturbed})
    else:
        donor.stop()
        target = make(name, {**base, **perturbed})
    target.load_checkpoint(str(tmp_path))
    assert target.optimizer.state, "the optimiser state (moments) is the donor's"
    for group, want in zip(target.optimizer.param_groups, expected, strict=True):
        for key in ("lr", "weight_decay"):
            assert group[key] == want[key], (key, group[key], want[key])
    assert target.optimizer.param_groups[0]["lr"] == perturbed["lr"]
    if "sparse-lr" in perturbed:
        assert target.optimizer.param_groups[1]["lr"] == perturbed["sparse-lr"]
    target.train()
    assert target.optimizer.param_groups[0]["lr"] == perturbed["lr"]
    target.stop()


# --- the command trainable ----------------------------------------------------------------------

SCRIPT = Path(__file__).parent / "scripts" / "scheduled.py"
LR = {"name": "lr", "regex": r"lr=([0-9.e-]+)"}
LOSS = {"name": "loss", "regex": r"loss: ([0-9.]+)"}


@pytest.fixture
def command_trainable(tmp_path, monkeypatch):
    import ray.tune.trainable.trainable as trainable_module

    from hpotk.trainables.command import make_command_trainable

    monkeypatch.setattr(trainable_module, "DEFAULT_STORAGE_PATH", str(tmp_path / "trials"))
    made = []

    def build(config, spec=None):
        cls = make_command_trainable({
            "command": ["{python}", str(SCRIPT), "{checkpoint_dir}", "6", "{lr_schedule}"],
            "metrics": [LOSS, LR], "grace_s": 2})
        context = TrainContext(metric="loss", lr_schedule=ls.validate(spec))
        trainable = build_trainable(cls, config, context)
        made.append(trainable)
        return trainable

    yield build
    for trainable in made:
        trainable.stop()


@pytest.mark.parametrize("spec", SCHEDULES, ids=[s["type"] for s in SCHEDULES])
def test_a_command_gets_the_schedule_as_json_and_follows_it(command_trainable, spec):
    trainable = command_trainable({"lr": 0.01}, spec)
    got = [trainable.train()["lr"] for _ in range(ITERATIONS)]
    want = [ls.lr_at(ls.validate(spec), i, 0.01) for i in range(1, ITERATIONS + 1)]
    assert got == pytest.approx(want, rel=1e-9)


def test_a_restored_command_restarts_with_the_new_lr(command_trainable, tmp_path):
    first = command_trainable({"lr": 0.01})
    assert [first.train()["lr"] for _ in range(2)] == [0.01, 0.01]
    saved = tmp_path / "ckpt"
    saved.mkdir()
    first.save_checkpoint(str(saved))
    first.stop()
    second = command_trainable({"lr": 0.003})
    second.load_checkpoint(str(saved))
    result = second.train()
    assert result["lr"] == 0.003 and not math.isclose(result["loss"], 1.0)
