"""What a trial costs, reported by every built-in trainable with every result, and whether a
trial died of running out of memory.

`hpotk.trainables.base.TorchTrainable.step` adds three metrics (``COST_METRICS``) to each
result, so accuracy-versus-cost studies (several objectives, constraints) need no user code:

- ``epoch_s`` (float, seconds): the wall-clock time this result's training took: from the start
  of its training loop (after the lr schedule is applied) to the end of its last optimiser step (on a GPU, after
  ``torch.cuda.synchronize``, so queued kernels are counted), batching and data movement
  included. It leaves out the evaluation that produced the result's other metrics and
  everything Tune does between results (reporting, checkpoints). Despite the name, it covers
  one evaluation unit (``eval_frequency``), which is one epoch by default, N epochs, N batches
  or a fraction of an epoch otherwise. Ray's own ``time_this_iter_s`` includes the evaluation.
- ``params`` (int): the model's trainable parameters (``requires_grad``), summed ``numel``.
- ``peak_mem_mb`` (float, MiB), measured after the evaluation, so it covers training and
  evaluation:

  - on a GPU, ``torch.cuda.max_memory_allocated`` of the trial's device: the peak of tensors
    allocated by PyTorch since the trial began (each new trial resets the peak, to what is then
    allocated: its model, and data kept on the device). It leaves out the CUDA context (a few
    hundred MiB) and memory PyTorch's caching allocator reserved but did not hand out, so
    ``nvidia-smi`` shows more.
  - on a CPU, the process's peak resident set size, ``getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on
    Linux, bytes on macOS; NaN where the ``resource`` module is missing, on Windows). It
    cannot be reset, so it is the peak *of the worker process so far*: with
    ``reuse_actors``, an actor's later trials report at least the peak of its earlier trials,
    and the process's Ray and Python runtime and loaded data are counted too. Compare such
    values between trials with care; a fresh actor per trial (``reuse_actors: false``) makes
    them per trial.

  Why ``ru_maxrss`` and not psutil: psutil gives the *current* RSS on Linux (a peak only on
  Windows), so a peak from it would mean sampling in a thread, which costs a thread per actor
  and misses short spikes; the kernel's high-water mark is exact, free (one system call, about
  a microsecond) and in the standard library.

Measuring them costs 8-28 µs per result on a CPU (measured on the test-sized built-ins: 1 µs
for the clock, 2 µs for ``getrusage``, the rest counting parameters, about 1.3 µs per parameter
tensor), 0.02-0.15 % of even those models' 8-50 ms steps.

`is_out_of_memory` tells from a trial's error text whether it died of an out-of-memory error
(PyTorch's on a GPU or CPU, Python's ``MemoryError``, or Ray's OOM killer), so a summary can
count it as infeasible under a memory constraint. Nothing here imports torch at import time.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any

COST_METRICS = ("epoch_s", "params", "peak_mem_mb")

_MIB = 1024 * 1024


def count_parameters(model: Any) -> int:
    """The number of trainable parameters (``requires_grad``) of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def _is_cuda(device: Any) -> bool:
    return getattr(device, "type", str(device).split(":")[0]) == "cuda"


def reset_peak_memory(device: Any) -> None:
    """Start a new trial's GPU peak at what is allocated now (a CPU's peak cannot be reset)."""
    if _is_cuda(device):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: Any) -> float:
    """Peak memory in MiB: PyTorch's peak allocation on a GPU ``device`` since the last
    `reset_peak_memory`, else the process's peak resident set size (see the module docstring)."""
    if _is_cuda(device):
        import torch

        return torch.cuda.max_memory_allocated(device) / _MIB
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (NaN without the ``resource`` module)."""
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MIB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else KiB


class TrainingClock:
    """Times the training part of one result: `start` before the first batch, `stop` after the
    last optimiser step (synchronising a GPU first, so its queued work is counted)."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self._started = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> float:
        """Seconds since `start`."""
        if _is_cuda(self.device):
            import torch

            torch.cuda.synchronize(self.device)
        return time.perf_counter() - self._started


# Each names an out-of-memory failure and nothing else; matched case-insensitively anywhere in
# the text (a trial's error.txt holds the whole traceback, the cause on its last lines).
_OUT_OF_MEMORY = re.compile("|".join([
    r"\w*MemoryError\b",  # torch(.cuda).OutOfMemoryError, ray.exceptions.OutOfMemoryError,
    #                       Python's MemoryError, numpy's _ArrayMemoryError
    r"\bout of memory\b",  # "CUDA out of memory", "CUDA error: out of memory", "HIP ...",
    #                        "MPS backend out of memory", and Ray's "address the out of memory issue"
    r"\brunning low on memory\b",  # Ray's memory monitor killed the worker
    r"\b(CUBLAS|CUDNN|CUSPARSE|CUFFT|CUSOLVER)_STATUS_ALLOC_FAILED\b",
    r"\bcudaErrorMemoryAllocation\b",
    r"DefaultCPUAllocator: (can't allocate memory|not enough memory)",
    r"\bCannot allocate memory\b",  # ENOMEM (errno 12), e.g. a fork or mmap that failed
    r"\bstd::bad_alloc\b",
]), re.IGNORECASE)


def is_out_of_memory(error_text: str) -> bool:
    """Whether a trial's error text (its ``error.txt``, an exception's message or traceback, a
    command's stderr) says it ran out of memory: ``torch.OutOfMemoryError`` /
    ``torch.cuda.OutOfMemoryError`` ("CUDA out of memory"), other allocation failures of CUDA
    and its libraries, PyTorch's CPU allocator, Python's ``MemoryError``, or Ray's
    ``OutOfMemoryError`` (its memory monitor killed the worker).

    A worker that died without saying why (SIGKILL, Ray's "worker unexpectedly exits", whose
    text lists the OOM killer among *possible* causes) is not counted: the kernel's OOM killer
    leaves no trace in the trial's own error text.
    """
    return bool(error_text) and _OUT_OF_MEMORY.search(error_text) is not None
