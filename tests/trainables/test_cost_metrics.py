"""Cost metrics (epoch_s, params, peak_mem_mb) in every built-in trainable's results, a command's
own cost metrics passed on, and the out-of-memory detector on the error texts trials leave.

The trainables are driven directly (no Ray), each a few small steps; no assertion is timed.
"""

from __future__ import annotations

import math
import resource
import sys
import textwrap
import traceback
from pathlib import Path

import pytest
import torch

from hpotk.trainables import TRAINABLES, cost
from hpotk.trainables.base import TrainContext
from hpotk.trainables.cost import COST_METRICS, is_out_of_memory
from tests.helpers import build_trainable

SCRIPTS = Path(__file__).parent / "scripts"
KG = {"name": "kg-synthetic", "entities": 200, "seed": 0}
KGE = {"num-hidden": 16, "lr": 0.05, "batch-size": 256, "gamma": 6.0, "num-negs": 8}
LINKS = {"task_type": "link_prediction", "eval_metric": {"metric": "mrr"}}
#: name -> (data, config, objective, task): one small case per registered built-in
CASES = {
    "mlp-digits": ({"seed": 0}, {"lr": 3e-3, "hidden_size": 32, "num_layers": 1,
                                 "batch_size": 128}, "val_acc", {}),
    "cgcnn": ({"name": "emt-adsorption", "size": 40, "seed": 5},
              {"lr": 0.005, "batch_size": 10, "atom_embedding_size": 8,
               "num_graph_conv_layers": 2, "fc_feat_size": 16, "num_fc_layers": 1},
              "val_mae", {}),
    "rgcn": ({"name": "hetero-synthetic", "nodes": 400, "seed": 0},
             {"num-hidden": 16, "batch-size": 64, "num-layer": 2, "fanout": [5, 5]},
             "val_acc", {"task_type": "node_class", "eval_metric": {"metric": "acc"}}),
    "transe": (KG, KGE, "val_mrr", LINKS),
    "distmult": (KG, KGE, "val_mrr", LINKS),
    "rotate": (KG, KGE, "val_mrr", LINKS),
}
DIGITS = CASES["mlp-digits"][1]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # graph kernels crawl when their threads compete for 2 cores
    yield
    torch.set_num_threads(threads)


def make(name: str, config: dict | None = None, **context):
    data, default, metric, task = CASES[name]
    ctx = TrainContext(data=data, metric=metric, mode="min" if metric.endswith("mae") else "max",
                       task=task, **context)
    return build_trainable(TRAINABLES.resolve(name), config or default, ctx)


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# -- every built-in reports them ----------------------------------------------------------------
def test_every_registered_builtin_has_a_case_here():
    assert sorted(CASES) == TRAINABLES.names()


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_carry_epoch_s_params_and_peak_mem_mb(name):
    trainable = make(name)
    try:
        results = [trainable.train() for _ in range(2)]
        expected = trainable_parameters(trainable.model)
    finally:
        trainable.stop()
    assert expected > 0
    for result in results:
        assert set(COST_METRICS) <= set(result)
        assert type(result["params"]) is int and result["params"] == expected
        # measured inside the step, so within Ray's time of the whole step (evaluation included)
        assert 0 < result["epoch_s"] <= result["time_this_iter_s"]
        assert math.isfinite(result["peak_mem_mb"]) and result["peak_mem_mb"] > 0


def test_epoch_s_counts_training_and_leaves_out_evaluation(monkeypatch):
    """On a fake clock that each training batch moves by 1 s and each evaluation by 100 s,
    ``epoch_s`` is exactly the batches of the step."""
    now = [0.0]
    monkeypatch.setattr(cost.time, "perf_counter", lambda: now[0])
    trainable = make("mlp-digits", eval_frequency={"type": "evaluate_every_batch", "value": 3})
    train_batch, evaluate = trainable.train_batch, trainable.evaluate

    def timed_batch(batch):
        now[0] += 1.0
        return train_batch(batch)

    def timed_evaluate():
        now[0] += 100.0
        return evaluate()

    trainable.train_batch, trainable.evaluate = timed_batch, timed_evaluate
    assert [trainable.train()["epoch_s"] for _ in range(2)] == [3.0, 3.0]
    trainable.stop()


def test_params_follow_the_model_of_each_trial():
    trainable = make("mlp-digits")
    first = trainable.train()["params"]
    trainable.reset_config({**DIGITS, "hidden_size": 64})  # a new architecture on the same actor
    second = trainable.train()["params"]
    assert first == 64 * 32 + 32 + 32 * 10 + 10
    assert second == 64 * 64 + 64 + 64 * 10 + 10 == trainable_parameters(trainable.model)
    for p in trainable.model.net[0].parameters():  # frozen parameters are not trainable ones
        p.requires_grad_(False)
    assert cost.count_parameters(trainable.model) == 64 * 10 + 10
    trainable.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_on_a_cpu_peak_mem_mb_is_the_process_peak_rss():
    trainable = make("mlp-digits")
    reported = trainable.train()["peak_mem_mb"]
    trainable.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert 0 < reported <= after  # the process's high-water mark never goes down


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
@pytest.mark.parametrize("name", sorted(CASES))
def test_on_a_gpu_peak_mem_mb_is_torch_peak_allocation(name):
    trainable = make(name)
    assert trainable.device.type == "cuda"
    result = trainable.train()
    assert result["peak_mem_mb"] == torch.cuda.max_memory_allocated(trainable.device) / 2**20
    assert result["peak_mem_mb"] > 0 and result["epoch_s"] > 0
    assert result["params"] == trainable_parameters(trainable.model)
    trainable.stop()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_on_a_gpu_each_trial_starts_its_own_peak():
    trainable = make("mlp-digits")
    big = torch.empty(256 * 2**20, dtype=torch.uint8, device=trainable.device)
    del big  # trial 1 held 256 MiB for a moment
    assert trainable.train()["peak_mem_mb"] >= 256
    trainable.reset_config(DIGITS)  # trial 2 on the same actor: a tiny MLP on the digits
    assert trainable.train()["peak_mem_mb"] < 256
    trainable.stop()


# -- the command trainable passes on what the script prints --------------------------------------
@pytest.fixture
def command_trainables(tmp_path, monkeypatch):
    import ray.tune.trainable.trainable as trainable_module

    from hpotk.trainables.command import make_command_trainable

    monkeypatch.setattr(trainable_module, "DEFAULT_STORAGE_PATH", str(tmp_path / "trials"))
    made = []

    def make_command(script: str, *args: str, metrics: list[dict]):
        cls = make_command_trainable({"command": ["{python}", str(SCRIPTS / script), *args],
                                      "args": "none", "metrics": metrics, "grace_s": 2})
        made.append(cls(config={}))
        return made[-1]

    yield make_command
    for trainable in made:
        trainable.stop()


def test_command_passes_on_cost_metrics_matched_by_regex(command_trainables):
    names = ("loss", "epoch_s", "params", "peak_mem_mb", "gflops")
    metrics = [{"name": n, "regex": rf"\b{n}=([0-9.e+-]+)"} for n in names]
    trainable = command_trainables("costs.py", "2", metrics=metrics)
    first, second = trainable.train(), trainable.train()
    assert {k: first[k] for k in names} == {"loss": 1.0, "epoch_s": 0.25, "params": 1234.0,
                                            "peak_mem_mb": 512.5, "gflops": 0.035}
    assert (second["loss"], second["epoch_s"]) == (0.5, 0.5)


def test_command_passes_on_every_reported_metric_without_a_regex(command_trainables):
    trainable = command_trainables("costs.py", "2", "--report", metrics=[{"name": "loss"}])
    first = trainable.train()
    assert {k: first[k] for k in ("epoch_s", "params", "peak_mem_mb", "gflops")} == {
        "epoch_s": 0.25, "params": 1234, "peak_mem_mb": 512.5, "gflops": 0.035}
    assert type(first["params"]) is int
    assert trainable.train()["epoch_s"] == 0.5


def test_a_command_that_runs_out_of_gpu_memory_keeps_the_cause(command_trainables):
    from hpotk.trainables.command import CommandFailed

    trainable = command_trainables("oom.py", metrics=[{"name": "loss",
                                                       "regex": r"loss: ([0-9.]+)"}])
    assert trainable.train()["loss"] == 0.9
    with pytest.raises(CommandFailed) as info:
        trainable.train()
    assert "torch.OutOfMemoryError: CUDA out of memory" in str(info.value)
    assert is_out_of_memory(str(info.value))


# -- out of memory ------------------------------------------------------------------------------
CUDA_OOM = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
            "79.19 GiB of which 1.23 GiB is free. Including non-PyTorch memory, this process has "
            "77.95 GiB memory in use. Of the allocated memory 76.50 GiB is allocated by PyTorch, "
            "and 123.45 MiB is reserved by PyTorch but unallocated. If reserved but unallocated "
            "memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to "
            "avoid fragmentation.  See documentation for Memory Management  "
            "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")
TRACEBACK = textwrap.dedent("""\
    Failure # 1 (occurred at 2026-01-01_00-00-09)
    ray::CGCNNTrainable.train() (pid=4242, ip=10.0.0.7, actor_id=9f1c, repr=CGCNNTrainable)
      File "hpotk/trainables/base.py", line 214, in step
        losses.append(self.train_batch(batch))
      File "hpotk/trainables/cgcnn.py", line 128, in train_batch
        loss.backward()
    {}
    """)
RAY_OOM = ("ray.exceptions.OutOfMemoryError: 1 worker(s) were killed due to the node running low "
           "on memory. Memory on the node (IP: 10.0.0.7, ID: 1a2b) was 7.45GB used / 7.60GB "
           "limit (0.980000). Refer to the documentation on how to address the out of memory "
           "issue: https://docs.ray.io/en/latest/ray-observability/user-guides/debug-apps/"
           "debug-memory.html.")
OUT_OF_MEMORY = {
    "torch 2.5+": TRACEBACK.format(f"torch.OutOfMemoryError: {CUDA_OOM}"),
    "torch 2.0-2.4": TRACEBACK.format(f"torch.cuda.OutOfMemoryError: {CUDA_OOM}"),
    "torch 1.x": TRACEBACK.format(f"RuntimeError: {CUDA_OOM}"),
    "trials.csv's one line": f"torch.OutOfMemoryError: {CUDA_OOM}",
    "cuda runtime": "RuntimeError: CUDA error: out of memory\nCUDA kernel errors might be "
                    "asynchronously reported at some other API call",
    "rocm": "torch.OutOfMemoryError: HIP out of memory. Tried to allocate 1.00 GiB.",
    "cublas": "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling "
              "`cublasCreate(handle)`",
    "cpu allocator": "RuntimeError: [enforce fail at alloc_cpu.cpp:117] data. "
                     "DefaultCPUAllocator: not enough memory: you tried to allocate 85899345920 "
                     "bytes.",
    "cpu allocator (linux)": "RuntimeError: [enforce fail at alloc_cpu.cpp:83] err == 0. "
                             "DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                             "85899345920 bytes. Error code 12 (Cannot allocate memory)",
    "python": TRACEBACK.format("MemoryError"),
    "numpy": "numpy.core._exceptions._ArrayMemoryError: Unable to allocate 74.5 GiB for an "
             "array with shape (100000, 100000) and data type float64",
    "ray's oom killer (hpotk._ray_fixes)": f"Failure # 1 (occurred at 2026-01-01_00-00-09)\n"
                                           f"{RAY_OOM}\n",
    "ray's oom killer, older": "ray.exceptions.OutOfMemoryError: Task was killed due to the node "
                               "running low on memory.",
    "a command's stderr": "the command exited with code 1; its output is in /r/command.log; last "
                          f"lines of stderr:\ntorch.OutOfMemoryError: {CUDA_OOM}",
}
NOT_OUT_OF_MEMORY = {
    "empty": "",
    "a bug": TRACEBACK.format("ValueError: loss diverged"),
    "illegal access": "RuntimeError: CUDA error: an illegal memory access was encountered",
    "shared memory": "RuntimeError: DataLoader worker (pid 77) is killed by signal: Bus error. "
                     "It is possible that dataloader's workers are out of shared memory.",
    "a worker that died without a reason": (
        "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.\n"
        "\tclass_name: CGCNNTrainable\nWorker exit type: SYSTEM_ERROR Worker exit detail: "
        "Worker unexpectedly exits with a connection error code 2. End of file. Some common "
        "causes include: (1) the process was killed by the OOM killer due to high memory usage, "
        "(2) ray stop --force was called, or (3) the worker crashed unexpectedly due to SIGSEGV "
        "or another unexpected error."),
    "a killed command": "the command was killed by signal SIGKILL; its output is in /r/log",
    "a constraint": "ConfigError: constraints[0].name: 'peak_mem_mb' is not a reported metric",
}


@pytest.mark.parametrize("text", OUT_OF_MEMORY.values(), ids=list(OUT_OF_MEMORY))
def test_out_of_memory_is_recognised(text):
    assert is_out_of_memory(text)


@pytest.mark.parametrize("text", NOT_OUT_OF_MEMORY.values(), ids=list(NOT_OUT_OF_MEMORY))
def test_other_failures_are_not_out_of_memory(text):
    assert not is_out_of_memory(text)


def test_an_out_of_memory_error_in_a_step_reaches_ray_with_its_cause():
    """A built-in's step raises the OOM as it is, and the RayTaskError Ray makes of it on the
    worker (whose str() Tune writes to the trial's error.txt) names it."""
    from ray.exceptions import RayTaskError

    trainable = make("mlp-digits")

    def out_of_memory(batch):
        raise torch.OutOfMemoryError(CUDA_OOM)

    trainable.train_batch = out_of_memory
    with pytest.raises(torch.OutOfMemoryError) as info:
        trainable.train()
    trainable.stop()
    error = RayTaskError("train", "".join(traceback.format_exception(info.value)), info.value,
                         proctitle="ray::DigitsMLP.train", pid=1, ip="127.0.0.1")
    text = str(error.as_instanceof_cause())
    assert "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" in text
    assert is_out_of_memory(text)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_a_real_cuda_out_of_memory_error_is_recognised():
    with pytest.raises(torch.OutOfMemoryError) as info:
        torch.empty(2**50, dtype=torch.uint8, device="cuda")  # a petabyte
    assert is_out_of_memory("".join(traceback.format_exception(info.value)))


OOM_TRAINABLE = textwrap.dedent('''
    import torch

    from hpotk.trainables.digits import DigitsMLP


    class OutOfMemoryDigits(DigitsMLP):
        """The quickstart MLP; with config oom: true, its first batch dies as a GPU's would."""

        def train_batch(self, batch):
            if self.config.get("oom"):
                raise torch.OutOfMemoryError({message!r})
            return super().train_batch(batch)
    ''')


@pytest.mark.e2e
def test_through_ray_results_carry_the_cost_and_an_out_of_memory_trial_its_cause(hpotk_cli,
                                                                                tmp_path):
    import pandas as pd

    (tmp_path / "oom_digits.py").write_text(OOM_TRAINABLE.format(message=CUDA_OOM))
    (tmp_path / "exp.yaml").write_text(textwrap.dedent("""\
        name: costs
        trainable: "oom_digits:OutOfMemoryDigits"
        data: {seed: 0}
        space:
          oom: {type: choice, values: [true, false]}
          hidden_size: 32
          batch_size: 128
        metric: {name: val_acc, mode: max}
        strategy: fifo/grid
        budget: {trials: 2, concurrent: 1, max_t: 2}
        results: out
        """))
    code, out, err = hpotk_cli("run", "exp.yaml", "--quiet")
    assert code == 0, out + err
    trials = pd.read_csv(tmp_path / "out" / "costs" / "trials.csv",
                         keep_default_na=False).set_index("config/oom")
    failed, ok = trials.loc[True], trials.loc[False]
    assert failed["status"] == "ERROR" and is_out_of_memory(failed["error"]), failed["error"]
    assert "CUDA out of memory" in failed["error"]
    (error_file,) = (tmp_path / "out" / "costs").glob(f"*{failed['trial_id']}*/error.txt")
    assert is_out_of_memory(error_file.read_text())
    assert ok["status"] == "COMPLETED"
    # a float in trials.csv: the column is empty for the failed trial
    assert float(ok["params"]) == 64 * 32 + 32 + 32 * 10 + 10
    assert float(ok["epoch_s"]) > 0 and float(ok["peak_mem_mb"]) > 0
