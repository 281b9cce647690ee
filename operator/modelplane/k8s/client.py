"""The operator's writes and the few reads that are not served from the watch cache.

Every call goes through one bounded semaphore, so a burst of reconciles
cannot flood the API server, and every write is counted for the tests and
benchmarks that assert on write calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import ControllerRevision, Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Node, PersistentVolumeClaim, Pod, Secret, Service
from lightkube.types import CascadeType, PatchType

from modelplane.api.constants import API_VERSION, FIELD_MANAGER, KIND, LABEL_MANAGED_BY, MANAGED_BY
from modelplane.k8s.resources import ModelServiceResource
from modelplane.reconcile import EventSpec

log = logging.getLogger(__name__)

Child = Deployment | Service | Job | PersistentVolumeClaim | ControllerRevision
OWNED_KINDS: dict[str, type[Child] | type[Pod]] = {
    "deployments": Deployment,
    "controllerrevisions": ControllerRevision,
    "services": Service,
    "jobs": Job,
    "persistentvolumeclaims": PersistentVolumeClaim,
    "pods": Pod,
}


def kind_of(obj: Child) -> str:
    """The cache's name for an object's kind (its plural)."""
    return next(k for k, cls in OWNED_KINDS.items() if isinstance(obj, cls))


class Kube:
    """Thin async facade over lightkube with bounded concurrency."""

    def __init__(self, client: AsyncClient, max_concurrency: int = 16) -> None:
        self.client = client
        self.limit = asyncio.Semaphore(max_concurrency)
        self.writes: Counter[str] = Counter()

    @classmethod
    def from_environment(cls, max_concurrency: int = 16) -> Kube:
        """KUBECONFIG, ~/.kube/config or the in-cluster service account, like kubectl."""
        return cls(AsyncClient(field_manager=FIELD_MANAGER), max_concurrency)

    async def apply(self, obj: Child) -> Child:
        async with self.limit:
            self.writes["apply"] += 1
            return await self.client.apply(obj, field_manager=FIELD_MANAGER, force=True)

    async def delete(self, kind: type[Child], name: str, namespace: str) -> None:
        async with self.limit:
            self.writes["delete"] += 1
            try:
                # Background: a Job's pods go with it (the API's default orphans them).
                await self.client.delete(
                    kind, name, namespace=namespace, cascade=CascadeType.BACKGROUND
                )
            except ApiError as err:
                if err.status.code != 404:
                    raise

    async def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        async with self.limit:
            self.writes["status"] += 1
            await self.client.patch(
                ModelServiceResource.Status,
                name,
                {"status": patch},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )

    async def post_event(
        self, namespace: str, name: str, uid: str | None, event: EventSpec
    ) -> None:
        """A core/v1 Event on the ModelService, so `kubectl describe ms` tells the story."""
        now = datetime.now(UTC).replace(microsecond=0)
        body = Event(
            metadata=ObjectMeta(generateName=f"{name}.", namespace=namespace),
            involvedObject=ObjectReference(
                apiVersion=API_VERSION, kind=KIND, name=name, namespace=namespace, uid=uid
            ),
            reason=event.reason,
            message=event.message[:1024],
            type=event.type,
            source=EventSource(component=FIELD_MANAGER),
            reportingComponent=FIELD_MANAGER,
            firstTimestamp=now,
            lastTimestamp=now,
            count=1,
        )
        async with self.limit:
            self.writes["event"] += 1
            try:
                await self.client.create(body)
            except ApiError as err:  # an event is worth a log line, never a failed reconcile
                log.warning(
                    "could not post event %s on %s/%s: %s", event.reason, namespace, name, err
                )

    async def list_owned(self, kind: str, namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every object of ``kind`` we manage, as JSON dicts (to prime the cache)."""
        resource = OWNED_KINDS[kind]
        found: list[dict[str, Any]] = []
        for namespace in namespaces or ("*",):
            async with self.limit:
                listing = self.client.list(
                    resource, namespace=namespace, labels={LABEL_MANAGED_BY: MANAGED_BY}
                )
                found.extend([obj.to_dict() async for obj in listing])
        return found

    async def log_tail(self, namespace: str, pod: str) -> str | None:
        """The last line a pod logged (a download's progress), or None."""
        async with self.limit:
            try:
                lines = [
                    line async for line in self.client.log(pod, namespace=namespace, tail_lines=1)
                ]
            except ApiError:
                return None
        return lines[-1].strip()[:500] if lines else None

    async def list_nodes(self) -> list[dict[str, Any]]:
        async with self.limit:
            return [node.to_dict() async for node in self.client.list(Node)]

    async def missing_secrets(self, namespace: str, names: frozenset[str]) -> frozenset[str]:
        missing = set()
        for name in sorted(names):
            async with self.limit:
                try:
                    await self.client.get(Secret, name, namespace=namespace)
                except ApiError as err:
                    if err.status.code != 404:
                        raise
                    missing.add(name)
        return frozenset(missing)

    async def close(self) -> None:
        await self.client.close()
