"""The driver's readiness wait names the nodes that never joined (no Slurm, no Ray cluster)."""

from __future__ import annotations

import socket

import pytest

from hpotk import slurm
from hpotk.errors import HpotkError


def unused_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_timeout_names_every_missing_node(tmp_path):
    expected = {"nid001": "10.0.0.1", "nid002": "10.0.0.2"}
    with pytest.raises(HpotkError) as err:
        slurm.wait_for_nodes(unused_address(), expected, timeout=0.5, job_dir=tmp_path,
                             poll_s=0.1)
    message = str(err.value)
    assert "2 of 2 node(s) did not join" in message
    assert "nid001 (10.0.0.1)" in message and "nid002 (10.0.0.2)" in message
    assert str(tmp_path) in message  # where the Ray logs are


def test_a_node_that_failed_ends_the_wait_with_its_reason(tmp_path):
    (tmp_path / "failed-nid002").write_text("port block 24000+400 is in use on nid002\n")
    with pytest.raises(HpotkError, match="nid002: port block 24000\\+400 is in use"):
        slurm.wait_for_nodes(unused_address(), {"nid001": "10.0.0.1", "nid002": "10.0.0.2"},
                             timeout=60, job_dir=tmp_path)


def test_results_dir_follows_set_overrides(tmp_path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text((slurm.slurm_dir().parent / "experiments" / "quickstart.yaml").read_text())
    assert slurm.results_root(str(experiment), ["--set", f"results={tmp_path}/r"]) == tmp_path / "r"
    assert slurm.results_root(str(experiment), [f"--set=results={tmp_path}/s", "--quiet"]) \
        == tmp_path / "s"


def ray_node(ip: str, name: str | None, alive: bool = True) -> dict:
    resources = {"CPU": 1.0, f"node:{ip}": 1.0}
    if name:
        resources[f"{slurm.NODE_RESOURCE}{name}"] = 1.0
    return {"Alive": alive, "NodeManagerAddress": ip, "Resources": resources}


def test_on_a_shared_host_nodes_are_counted_by_their_resource_not_their_ip():
    # two Slurm nodes on one host share the IP: the head alone must not look like both
    expected = {"n1": "10.0.0.1", "n2": "10.0.0.1"}
    head_only = [ray_node("10.0.0.1", "n1")]
    assert slurm.missing_nodes(head_only, expected, shared_host=True) == ["n2 (10.0.0.1)"]
    assert slurm.missing_nodes(head_only, expected, shared_host=False) == []  # what IPs said
    both = head_only + [ray_node("10.0.0.1", "n2")]
    assert slurm.missing_nodes(both, expected, shared_host=True) == []
    dead = head_only + [ray_node("10.0.0.1", "n2", alive=False)]
    assert slurm.missing_nodes(dead, expected, shared_host=True) == ["n2 (10.0.0.1)"]


def test_elsewhere_a_node_without_the_resource_still_counts_by_ip():
    expected = {"n1": "10.0.0.1", "n2": "10.0.0.2"}
    assert slurm.missing_nodes([ray_node("10.0.0.1", "n1"), ray_node("10.0.0.2", None)],
                               expected) == []
    assert slurm.missing_nodes([ray_node("10.0.0.1", "n1")], expected) == ["n2 (10.0.0.2)"]
