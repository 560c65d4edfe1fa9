"""Prints one metric line, then dies of a CUDA out-of-memory error as PyTorch raises it (the
class is named as torch names it, without importing torch)."""


class OutOfMemoryError(RuntimeError):
    pass


OutOfMemoryError.__module__ = "torch"

print("loss: 0.9", flush=True)
raise OutOfMemoryError(
    "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB "
    "of which 3.06 GiB is free. Including non-PyTorch memory, this process has 76.12 GiB memory "
    "in use. Of the allocated memory 74.50 GiB is allocated by PyTorch, and 1.10 GiB is "
    "reserved by PyTorch but unallocated.")
