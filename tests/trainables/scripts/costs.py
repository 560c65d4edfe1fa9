"""Prints a loss and cost metrics each epoch, as a user's script measures them.

Usage: costs.py EPOCHS [--report]  (--report: print with hpotk.report instead of a text line)
"""

import sys

epochs = int(sys.argv[1])
for epoch in range(1, epochs + 1):
    values = {"loss": 1.0 / epoch, "epoch_s": 0.25 * epoch, "params": 1234,
              "peak_mem_mb": 512.5, "gflops": 3.5e-2}
    if "--report" in sys.argv:
        from hpotk import report

        report(values)
    else:
        print(" ".join(f"{k}={v}" for k, v in values.items()), flush=True)
