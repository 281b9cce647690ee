"""Integration tier: every test talks to the real local cluster.

The cluster starts once per run (or a running one from `make cluster-up` is
reused); each test gets its own namespace, deleted afterwards. If the cluster
cannot start, the whole tier fails: nothing here is skipped.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster.cluster import Cluster

from .gateway import GatewayProcess
from .kube import Kubectl
from .operator import AuditLog, OperatorProcess, install_crds, install_identity

LIFECYCLE = "lifecycle"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that take the cluster down run after everything that needs it up.
    items.sort(key=lambda item: item.get_closest_marker(LIFECYCLE) is not None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{LIFECYCLE}: stops/starts the shared cluster; runs last")


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    local = Cluster()
    local.up()  # harmless when already running
    return local


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster) -> Kubectl:
    return Kubectl(cluster.layout.bin_link / "kubectl", cluster.layout.kubeconfig)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[str]:
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{stem}-{secrets.token_hex(2)}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def helm(cluster: Cluster) -> Path:
    return cluster.layout.bin_link / "helm"


@pytest.fixture(scope="session")
def audit(cluster: Cluster) -> AuditLog:
    return AuditLog(cluster.layout.audit_log)


@pytest.fixture(scope="session")
def operator_kubeconfig(kubectl: Kubectl, helm: Path) -> Path:
    install_crds(kubectl)
    return install_identity(kubectl, helm)


@pytest.fixture(scope="session")
def operator(
    operator_kubeconfig: Path, cluster: Cluster, gateway: GatewayProcess
) -> Iterator[OperatorProcess]:
    """One operator for the session; a short resync so steady-state tests see several,
    and the session gateway's metrics for rollout analysis."""
    proc = OperatorProcess(
        operator_kubeconfig,
        cluster.layout.logs / "operator-tests.log",
        env={
            "MODELPLANE_RESYNC_SECONDS": "3",
            "MODELPLANE_GATEWAY_METRICS_URLS": f"http://127.0.0.1:{gateway.admin_port}/metrics",
        },
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def gateway(cluster: Cluster, kubectl: Kubectl) -> Iterator[GatewayProcess]:
    """One gateway for the session, over every namespace; a hold long enough for a
    fake replica to start from zero."""
    install_crds(kubectl)
    proc = GatewayProcess(
        cluster.layout.kubeconfig,
        cluster.layout.logs / "gateway-tests.log",
        env={"MODELPLANE_GATEWAY_HOLD_TIMEOUT_SECONDS": "90"},
    )
    proc.start()
    yield proc
    proc.stop()
