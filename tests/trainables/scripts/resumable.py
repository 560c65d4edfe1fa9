"""Counts epochs and resumes from the count saved in CHECKPOINT_DIR/state (written atomically).

Usage: resumable.py CHECKPOINT_DIR EPOCHS
"""

import os
import sys
import time

directory, epochs = sys.argv[1], int(sys.argv[2])
state = os.path.join(directory, "state")
start = int(open(state).read()) if os.path.exists(state) else 0
print(f"resuming after epoch {start}", flush=True)
for epoch in range(start + 1, epochs + 1):
    with open(state + ".tmp", "w") as handle:
        handle.write(str(epoch))
    os.replace(state + ".tmp", state)
    print(f"epoch {epoch} loss: {1.0 / epoch:.4f}", flush=True)
    time.sleep(0.05)
