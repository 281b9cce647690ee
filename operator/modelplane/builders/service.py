"""Services: `<name>` over all live revisions, `<name>-<hash>` per revision."""

from __future__ import annotations

from lightkube.models import core_v1 as k
from lightkube.resources.core_v1 import Service

from modelplane.api.constants import SERVING_PORT, SERVING_PORT_NAME
from modelplane.api.resource import ModelService
from modelplane.builders.labels import revision_labels, selector_labels
from modelplane.builders.meta import child_meta
from modelplane.builders.naming import child_name


def _ports() -> list[k.ServicePort]:
    return [
        k.ServicePort(
            name=SERVING_PORT_NAME, port=SERVING_PORT, targetPort=SERVING_PORT_NAME, protocol="TCP"
        )
    ]


def build_service(ms: ModelService) -> Service:
    """The stable in-cluster endpoint, selecting every revision's pods."""
    labels = selector_labels(ms.metadata.name)
    return Service(
        metadata=child_meta(ms, ms.metadata.name, labels),
        spec=k.ServiceSpec(type="ClusterIP", selector=dict(sorted(labels.items())), ports=_ports()),
    )


def build_revision_service(ms: ModelService, template_hash: str) -> Service:
    """One revision's endpoints, for the gateway's weighted routing.

    Headless: the gateway picks endpoints from the EndpointSlices itself, so
    a virtual IP (and its kube-proxy rules, per revision) would go unused.
    """
    labels = revision_labels(ms.metadata.name, template_hash)
    return Service(
        metadata=child_meta(ms, child_name(ms, template_hash), labels),
        spec=k.ServiceSpec(clusterIP="None", selector=labels, ports=_ports()),
    )


def endpoint_url(ms: ModelService) -> str:
    """The in-cluster OpenAI base URL, for status.endpoint."""
    if not ms.metadata.namespace:
        raise ValueError(f"ModelService {ms.metadata.name} has no metadata.namespace")
    return f"http://{ms.metadata.name}.{ms.metadata.namespace}.svc:{SERVING_PORT}/v1"
