#!/usr/bin/env bash
# Ray's head on the first node of the allocation: one `srun` step, started by submit.sbatch.
# Runs until SIGTERM (teardown), then stops every Ray process of this job on this node.
# Environment: see lib.sh (submit.sbatch sets it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hpotk_ray_node head
