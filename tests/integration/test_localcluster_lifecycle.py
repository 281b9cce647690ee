"""cluster-up twice is harmless; cluster-down leaves nothing behind.

Marked `lifecycle`: these run after every other integration test, since they
take the shared cluster down (and bring it back up for whoever comes next).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcluster import network
from localcluster.cluster import Cluster
from localcluster.layout import HACK_DIR

from .kube import Kubectl, wait_for
from .test_localcluster_process_node import LOCAL

pytestmark = pytest.mark.lifecycle


def localcluster(command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(HACK_DIR)}
    return subprocess.run(
        [sys.executable, "-m", "localcluster", command],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def alive(pid: int) -> bool:
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    )


def test_cluster_up_twice_is_harmless(cluster: Cluster, kubectl: Kubectl) -> None:
    before = cluster.running_components()
    nodes_before = {n["metadata"]["uid"] for n in kubectl.json("get", "nodes")["items"]}
    result = localcluster("up")
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert cluster.running_components() == before
    assert {n["metadata"]["uid"] for n in kubectl.json("get", "nodes")["items"]} == nodes_before


def test_cluster_down_leaves_nothing_behind(cluster: Cluster, kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "lifecycle")
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper"},
            "spec": {
                **LOCAL,
                "terminationGracePeriodSeconds": 2,
                "containers": [
                    {"name": "c", "image": "python:3.11-slim", "command": ["sleep", "3600"]}
                ],
            },
        },
        "lifecycle",
    )

    def pod_pids() -> list[int]:
        return [
            int(pid)
            for ns in network.namespaces()
            for pid in subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True
            ).stdout.split()
        ]

    pids = wait_for("a process running in a pod's network namespace", pod_pids)
    component_pids = list(cluster.running_components().values())
    assert len(component_pids) == 6

    result = localcluster("down")
    assert result.returncode == 0, result.stderr

    assert [pid for pid in component_pids + pids if alive(pid)] == []
    assert network.namespaces() == []
    assert network.links() == []
    assert network.unreachable_routes(cluster.fleet.fake_ranges()) == []
    assert not cluster.layout.root.exists()

    # Leave the cluster as the other tests (and a developer) expect it.
    result = localcluster("up")
    assert result.returncode == 0, result.stderr + result.stdout
