"""A fake training run: per epoch, noise on stderr, then one line with two metrics.

Usage: curve.py EPOCHS [SLEEP_S] [--report]  (--report: print with hpotk.report instead)
"""

import sys
import time

epochs = int(sys.argv[1])
sleep_s = float(sys.argv[2]) if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else 0.0
for epoch in range(1, epochs + 1):
    time.sleep(sleep_s)
    print(f"progress {epoch}/{epochs}", file=sys.stderr, flush=True)
    loss, acc = 1.0 / epoch, 1.0 - 1.0 / (epoch + 1)
    if "--report" in sys.argv:
        from hpotk import report

        report(loss=loss, acc=acc, epoch=epoch)
    else:
        print(f"epoch {epoch}: loss={loss:.4f} acc={acc:.4f}", flush=True)
    print(f"Epoch {epoch} done", flush=True)
