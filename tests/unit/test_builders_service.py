"""The stable Service, the per-revision Service and the endpoint URL."""

from __future__ import annotations

import pytest

from modelplane.api import ModelService
from modelplane.builders import build_revision_service, build_service, endpoint_url

MS = ModelService.parse(
    {
        "metadata": {"name": "chat", "namespace": "team-a", "uid": "u"},
        "spec": {"model": {"uri": "hf://o/n"}},
    }
)
PORTS = [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]


def test_stable_service_selects_every_revision() -> None:
    svc = build_service(MS).to_dict()
    assert svc["metadata"]["name"] == "chat"
    assert svc["spec"]["selector"] == {
        "app.kubernetes.io/managed-by": "modelplane",
        "modelplane.io/modelservice": "chat",
    }
    assert svc["spec"]["ports"] == PORTS
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["metadata"]["ownerReferences"][0]["controller"] is True


def test_revision_service_selects_one_revision() -> None:
    svc = build_revision_service(MS, "0123456789").to_dict()
    assert svc["metadata"]["name"] == "chat-0123456789"
    assert svc["spec"]["selector"]["modelplane.io/revision"] == "0123456789"
    assert svc["metadata"]["labels"] == svc["spec"]["selector"]
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["ports"] == PORTS


def test_endpoint_url() -> None:
    assert endpoint_url(MS) == "http://chat.team-a.svc:8000/v1"
    with pytest.raises(ValueError, match="namespace"):
        endpoint_url(
            ModelService.parse({"metadata": {"name": "x"}, "spec": {"model": {"uri": "hf://o/n"}}})
        )
