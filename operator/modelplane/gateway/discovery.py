"""Feeding the routing table from the API: list-then-watch, never a lookup per request.

Three watches per namespace in scope: ModelServices (served names, routing,
status.traffic), the EndpointSlices of per-revision Services (ready
replicas; labels copied from the Service name the ModelService and
revision), and Secrets labelled as API keys. The gateway only reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from lightkube import AsyncClient, operators
from lightkube.resources.core_v1 import Secret
from lightkube.resources.discovery_v1 import EndpointSlice

from modelplane.api.constants import LABEL_API_KEYS, LABEL_MANAGED_BY, LABEL_REVISION, MANAGED_BY
from modelplane.gateway.routing import Obj, RoutingTable
from modelplane.k8s.resources import ModelServiceResource
from modelplane.k8s.watch import reflect


class Discovery:
    def __init__(self, client: AsyncClient, table: RoutingTable, namespaces: tuple[str, ...]):
        self.client = client
        self.table = table
        self.namespaces = namespaces or ("*",)
        self._synced: set[tuple[str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def synced(self) -> bool:
        """Every watch has delivered its first complete list (gates /readyz)."""
        return len(self._synced) == 3 * len(self.namespaces)

    def start(self) -> None:
        slice_labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_REVISION: operators.exists()}
        for ns in self.namespaces:
            self._watch(
                "modelservices",
                ModelServiceResource,
                ns,
                self.table.reset_services,
                self.table.put_service,
                None,
            )
            self._watch(
                "endpointslices",
                EndpointSlice,
                ns,
                self.table.reset_slices,
                self.table.put_slice,
                slice_labels,
            )
            self._watch(
                "secrets",
                Secret,
                ns,
                self.table.reset_secrets,
                self.table.put_secret,
                {LABEL_API_KEYS: "true"},
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _watch(
        self,
        kind: str,
        resource: Any,
        namespace: str,
        reset: Callable[[Sequence[Obj], str], None],
        put: Callable[[Obj, bool], None],
        labels: dict[str, Any] | None,
    ) -> None:
        def on_reset(objs: list[dict[str, Any]]) -> None:
            reset(objs, namespace)
            self._synced.add((kind, namespace))

        def on_event(event: str, obj: dict[str, Any]) -> None:
            put(obj, event == "DELETED")

        self._tasks.append(
            asyncio.create_task(
                reflect(self.client, resource, namespace, on_reset, on_event, labels)
            )
        )
