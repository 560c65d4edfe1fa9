"""A script that follows hpotk's lr_schedule with torch's own scheduler, and resumes.

Usage: scheduled.py CHECKPOINT_DIR EPOCHS SCHEDULE_JSON --lr LR
Prints ``epoch E lr=LR loss: L`` per epoch; checks that the {lr_schedule} argument and
HPOTK_LR_SCHEDULE say the same.
"""

import json
import os
import sys

import torch

from hpotk.lr_schedule import torch_scheduler

directory, epochs, placeholder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lr = float(sys.argv[sys.argv.index("--lr") + 1])
spec = json.loads(os.environ.get("HPOTK_LR_SCHEDULE", "null"))
assert json.loads(placeholder) == spec, (placeholder, spec)
state = os.path.join(directory, "state")
start = int(open(state).read()) if os.path.exists(state) else 0
optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
scheduler = torch_scheduler(optimizer, spec)
for _ in range(start):
    optimizer.step()
    scheduler.step()
for epoch in range(start + 1, epochs + 1):
    optimizer.step()
    with open(state + ".tmp", "w") as handle:
        handle.write(str(epoch))
    os.replace(state + ".tmp", state)
    print(f"epoch {epoch} lr={optimizer.param_groups[0]['lr']!r} loss: {1.0 / epoch:.4f}",
          flush=True)
    scheduler.step()
