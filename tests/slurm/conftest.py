"""A real Slurm for the Slurm tests: slurm/testing/cluster.sh starts it (two nodes on this machine).

The e2e tests skip, with cluster.sh's own reason, only where that script cannot start Slurm.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.slurm.jobs import CLUSTER_SH, REPO


@pytest.fixture(scope="session")
def slurm_nodes() -> dict[str, str]:
    """Start (or find) the test Slurm; its nodes, name -> address."""
    if os.geteuid() != 0:
        pytest.skip("the test Slurm needs root (slurm/testing/cluster.sh starts daemons)")
    proc = subprocess.run(["bash", str(CLUSTER_SH), "up"], capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0:
        pytest.skip(f"slurm/testing/cluster.sh cannot start Slurm here: "
                    f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %o"], capture_output=True, text=True,
                         check=True).stdout
    return dict(sorted(line.split() for line in set(out.splitlines())))


@pytest.fixture(scope="session")
def slurm_shared_host() -> bool:
    """True when the test Slurm's nodes share one network namespace (cluster.sh's fallback)."""
    out = subprocess.run(["bash", str(CLUSTER_SH), "status"], capture_output=True, text=True)
    return "mode: loopback" in out.stdout


@pytest.fixture
def job_env(monkeypatch: pytest.MonkeyPatch, slurm_nodes, slurm_shared_host) -> dict[str, str]:
    """Environment the jobs inherit (sbatch exports it): this checkout's hpotk and Ray first on
    PATH, a small object store (four Ray nodes share this machine)."""
    monkeypatch.setenv("PATH", f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    if slurm_shared_host:
        monkeypatch.setenv("HPOTK_SHARED_HOST", "1")  # one port block per node
    monkeypatch.setenv("HPOTK_OBJECT_STORE_BYTES", str(150 * 1024 * 1024))
    monkeypatch.delenv("HPOTK_SLURM_DIR", raising=False)
    return dict(os.environ)
