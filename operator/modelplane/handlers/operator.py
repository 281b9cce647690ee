"""Register the kopf handlers and run the operator."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from prometheus_client import CollectorRegistry, start_http_server

from modelplane.api.config import OperatorConfig
from modelplane.api.constants import GROUP, LABEL_MANAGED_BY, MANAGED_BY, PLURAL, VERSION
from modelplane.controller.loop import Controller
from modelplane.controller.metrics import ControllerCollector
from modelplane.k8s import credentials
from modelplane.k8s.client import Kube

log = logging.getLogger(__name__)
OWNED = {LABEL_MANAGED_BY: MANAGED_BY}


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf computes a diff base (a deep copy of every body) for change handlers;
    we register only raw event handlers, so the copy is pure cost at scale."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def _deleted(event_type: str | None, body: kopf.Body) -> bool:
    return event_type == "DELETED"


def build_registry(controller: Controller) -> kopf.OperatorRegistry:
    """Handlers that translate watch events into cache updates and queue keys.

    Raw event handlers keep no state on the objects (no finalizers, no
    annotations): the operator's only writes are its own children and status.
    """
    registry = kopf.OperatorRegistry()

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def modelservice(type: str | None, body: kopf.Body, **_: Any) -> None:
        controller.modelservice_event(dict(body), _deleted(type, body))

    for group, version, plural in (
        ("apps", "v1", "deployments"),
        ("apps", "v1", "controllerrevisions"),
        ("", "v1", "services"),
        ("batch", "v1", "jobs"),
        ("", "v1", "persistentvolumeclaims"),
        ("", "v1", "pods"),
    ):

        @kopf.on.event(group, version, plural, labels=OWNED, registry=registry)
        async def child(
            type: str | None, body: kopf.Body, resource: kopf.Resource, **_: Any
        ) -> None:
            controller.child_event(resource.plural, dict(body), _deleted(type, body))

    if controller.config.watch_nodes:

        @kopf.on.event("", "v1", "nodes", registry=registry)
        async def node(type: str | None, body: kopf.Body, **_: Any) -> None:
            controller.node_event(dict(body), _deleted(type, body))

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        creds = credentials.load()
        return kopf.ConnectionInfo(
            server=creds.server,
            ca_path=creds.ca_path,
            ca_data=creds.ca_data,
            insecure=creds.insecure,
            scheme="Bearer" if creds.token else None,
            token=creds.token,
            certificate_path=creds.certificate_path,
            certificate_data=creds.certificate_data,
            private_key_path=creds.private_key_path,
            private_key_data=creds.private_key_data,
            default_namespace=creds.namespace,
        )

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Watches can go silent for hours without these (kopf #585, #957).
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 30
        settings.networking.request_timeout = 60
        settings.networking.error_backoffs = [1, 2, 5, 10, 30, 60]
        # We post our own events; kopf's would duplicate them.
        settings.posting.enabled = False
        settings.peering.standalone = True
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.scanning.disabled = True
        # Handlers only update the cache and the queue: a worker per object is
        # cheap, and a cap would make events wait for idle workers to expire.
        # API concurrency is bounded by the controller instead.
        settings.batching.worker_limit = None
        settings.batching.idle_timeout = 1.0
        await controller.start()
        metrics = CollectorRegistry()
        metrics.register(ControllerCollector(controller))
        start_http_server(controller.config.metrics_port, registry=metrics)

    @kopf.on.cleanup(registry=registry)
    async def shutdown(**_: Any) -> None:
        await controller.stop()
        await controller.kube.close()

    return registry


async def run(config: OperatorConfig, stop: asyncio.Event | None = None) -> None:
    """Run until cancelled (or ``stop`` is set)."""
    kopf.configure(
        verbose=config.log_level.upper() == "DEBUG",
        log_format=kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(config.log_level.upper())
    if config.log_level.upper() != "DEBUG":
        # One line per HTTP request or per handled watch event drowns the decisions.
        for noisy in ("httpx", "httpx2", "kopf.objects"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    controller = Controller(Kube.from_environment(config.api_concurrency), config)
    registry = build_registry(controller)
    namespaces = list(config.namespaces)
    await kopf.operator(
        registry=registry,
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=f"http://0.0.0.0:{config.health_port}/healthz",
        stop_flag=stop,
    )
