#!/usr/bin/env bash
# A Ray worker on one node of the allocation: one `srun` step per node, started by submit.sbatch.
# Waits for the head to be ready (no fixed sleep), joins it, runs until SIGTERM (teardown), then
# stops every Ray process of this job on this node. Environment: see lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hpotk_ray_node worker
