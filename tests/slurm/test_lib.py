"""slurm/lib.sh's pieces, in bash, without Slurm: port blocks, temp dirs, GPUs, process matching."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "slurm" / "lib.sh"


def bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLURM", "HPOTK", "CUDA_VISIBLE"))}
    return subprocess.run(["bash", "-c", f'source "{LIB}"\n{script}'], capture_output=True,
                          text=True, env={**base, **env})


def test_port_block_follows_the_job_id_and_stays_in_range():
    out = bash("for t in 0 1 2; do hpotk_port_base_for 123 $t; done; hpotk_port_slots").stdout
    first, second, third, slots = (int(x) for x in out.split())
    assert first == 20000 + (123 % slots) * 400
    assert second == first + 400 or second == 20000  # the next block, wrapping around
    assert 20000 <= first and third + 400 - 1 <= 32767
    # several nodes on one host: the job spans a block per node, each node uses its own
    out = bash("hpotk_port_base_for 123 0; HPOTK_PORT_BASE=24000 HPOTK_NODE_INDEX=2 hpotk_node_port_base",
               HPOTK_PORT_BLOCKS="3").stdout.split()
    assert int(out[0]) == 20000 + (123 % (slots // 3)) * 1200
    assert out[1] == "24800"
    assert bash("HPOTK_PORT_BASE=24000 HPOTK_NODE_INDEX=2 hpotk_node_port_base").stdout.strip() \
        == "24000"
    args = bash("hpotk_ray_port_args 24000 head").stdout.split()
    ports = sorted(int(a.split("=")[1]) for a in args)
    assert ports[0] == 24000 and ports[-1] == 24399  # every port inside the block
    assert "--port=24000" in args and "--min-worker-port=24020" in args


def test_ports_free_sees_a_listening_socket():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        base = port - 5
        busy = bash(f"hpotk_ports_free {base}", HPOTK_PORT_BLOCK="10")
        assert busy.returncode == 1 and busy.stdout.strip() == str(port)
        assert bash(f"hpotk_ports_free {port + 1}", HPOTK_PORT_BLOCK="1").returncode == 0


def test_ray_temp_dir_is_per_job_and_node_and_short():
    out = bash("hpotk_ray_tmp", SLURM_JOB_ID="42", SLURMD_NODENAME="nid001")
    assert out.stdout.strip() == "/tmp/hpotk-42-nid001"
    long_root = "/scratch/" + "x" * 60
    out = bash("hpotk_ray_tmp", SLURM_JOB_ID="42", SLURMD_NODENAME="n", HPOTK_RAY_TMPROOT=long_root)
    assert out.returncode != 0 and "too long" in out.stderr


@pytest.mark.parametrize(("env", "gpus"), [
    ({}, "0"),
    ({"CUDA_VISIBLE_DEVICES": "0,1,3"}, "3"),
    ({"SLURM_GPUS_ON_NODE": "4", "CUDA_VISIBLE_DEVICES": "0"}, "4"),
])
def test_gpus_come_from_the_allocation(env, gpus):
    assert bash("hpotk_gpus", **env).stdout.strip() == gpus


def test_ray_pids_match_only_this_jobs_temp_dir(tmp_path):
    mine, other = tmp_path / "hpotk-7-n1", tmp_path / "hpotk-7-n10"
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    procs = [subprocess.Popen([*sleeper, f"--temp-dir={d}"]) for d in (mine, other)]
    inside = subprocess.Popen([*sleeper, f"{mine}/session_x/sockets/raylet"])
    try:
        pids = set(bash(f'hpotk_ray_pids "{mine}"').stdout.split())
        assert pids == {str(procs[0].pid), str(inside.pid)}
        bash(f'hpotk_stop_local "{mine}"')
        assert procs[0].wait(timeout=10) is not None and inside.wait(timeout=10) is not None
        assert procs[1].poll() is None  # the other job's process is untouched
    finally:
        for p in (*procs, inside):
            p.kill()
