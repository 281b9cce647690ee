"""Workers that reconcile one ModelService at a time per key.

observe (from the cache; Secrets by GET) -> plan (pure) -> act (apply,
delete) -> status patch only when it changed -> events. A failure is logged
and retried with back-off for that key only: one bad ModelService never
delays the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lightkube.core.exceptions import ApiError

from modelplane.api.config import OperatorConfig
from modelplane.api.errors import SpecError
from modelplane.api.resource import ModelService
from modelplane.builders.cache import FETCH_LABEL
from modelplane.controller.analysis import GatewayMetrics
from modelplane.controller.cache import Cache, Key, Obj
from modelplane.controller.queue import WorkQueue
from modelplane.k8s.client import OWNED_KINDS, Kube, kind_of
from modelplane.reconcile import Apply, Delete, EventSpec, Observed, plan
from modelplane.reconcile.checks import referenced_secrets
from modelplane.reconcile.plan import invalid_status

log = logging.getLogger(__name__)

NO_METRICS_EVENT = EventSpec(
    "Warning",
    "AnalysisUnavailable",
    "the rollout waits for an analysis, but the operator reads no gateway metrics: set "
    "MODELPLANE_GATEWAY_METRICS_URLS (the chart does when the gateway is enabled), or promote "
    "with `modelplane rollout promote`",
)


class Controller:
    def __init__(self, kube: Kube, config: OperatorConfig) -> None:
        self.kube = kube
        self.config = config
        self.cache = Cache()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.workers = config.workers
        self.resync_seconds = config.resync_seconds
        self.reconciles = 0
        self.failures = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._events: set[asyncio.Task[None]] = set()
        self.gateway_metrics = GatewayMetrics(config.gateway_metrics_urls)
        self._warned_no_metrics: set[Key] = set()

    # ---- triggers (called by the kopf handlers) ------------------------------
    def modelservice_event(self, obj: dict[str, object], deleted: bool) -> None:
        key = self.cache.put_modelservice(obj, deleted)
        if deleted:
            self.queue.forget(key)
        else:
            self.queue.add(key)

    def child_event(self, kind: str, obj: dict[str, object], deleted: bool) -> None:
        owner = self.cache.put_child(kind, obj, deleted)
        if owner is not None and owner in self.cache.modelservices:
            self.queue.add(owner)

    def node_event(self, obj: dict[str, object], deleted: bool) -> None:
        if self.cache.put_node(obj, deleted):
            for key in self.cache.modelservices:
                self.queue.add(key)

    # ---- running -----------------------------------------------------------------
    async def start(self) -> None:
        """Prime the cache with one LIST per kind, then start the workers.

        Without this, the first reconciles after a restart would run before the
        watches delivered the children and re-apply everything.
        """
        for kind in OWNED_KINDS:
            for obj in await self.kube.list_owned(kind, self.config.namespaces):
                self.cache.put_child(kind, obj, deleted=False, if_absent=True)
        if self.config.watch_nodes:
            for node in await self.kube.list_nodes():
                self.cache.put_node(node, deleted=False, if_absent=True)
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._resync()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gateway_metrics.close()

    async def _resync(self) -> None:
        """Level-based safety net: revisit everything now and then."""
        while True:
            await asyncio.sleep(self.resync_seconds)
            for key in list(self.cache.modelservices):
                self.queue.add(key)

    async def _worker(self, index: int) -> None:
        while True:
            key = await self.queue.get()
            failed = False
            try:
                await self.reconcile(key)
            except ApiError as err:
                if _namespace_terminating(err):
                    continue  # its namespace is going away: nothing left to do
                failed = True
                self.failures += 1
                log.warning("reconcile %s/%s failed: %s", *key, err.status.message)
            except Exception:  # one object's failure must not stop the worker
                failed = True
                self.failures += 1
                log.exception("reconcile %s/%s failed", *key)
            finally:
                delay = self.queue.done(key, failed)
                if delay is not None:
                    log.info("retrying %s/%s in %.1f s", *key, delay)

    # ---- the one reconcile function ---------------------------------------------
    async def reconcile(self, key: Key) -> None:
        body = self.cache.modelservices.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return  # children go with it through owner references
        self.reconciles += 1
        namespace, name = key
        now = datetime.now(UTC).replace(microsecond=0)
        try:
            ms = ModelService.parse(body)
        except SpecError as err:
            patch, events = invalid_status(
                body.get("status") or {}, body["metadata"].get("generation"), str(err), now
            )
            if patch is not None:
                await self.kube.patch_status(namespace, name, patch)
                self._remember_status(key, body, patch)
            for event in events:
                self._post(namespace, name, body["metadata"].get("uid"), event)
            return

        pods = self.cache.children_of("pods", key)
        observed = Observed(
            deployments=self.cache.children_of("deployments", key),
            services=self.cache.children_of("services", key),
            pods=pods,
            jobs=self.cache.children_of("jobs", key),
            claims=self.cache.children_of("persistentvolumeclaims", key),
            revisions=self.cache.children_of("controllerrevisions", key),
            fetch_progress=await self._download_progress(namespace, pods),
            gpu_products=self.cache.gpu_products(),
            missing_secrets=await self.kube.missing_secrets(namespace, referenced_secrets(ms)),
            analysis_run=await self.gateway_metrics.measure(
                key,
                ms.spec.rollout.analysis,
                {
                    "namespace": namespace,
                    "name": name,
                    "model": ms.spec.model.served_name or name,
                    "revision": ms.status.rollout.revision if ms.status.rollout else "",
                    "stable": ms.status.stable_revision or "",
                },
            ),
        )
        decision = plan(ms, observed, self.config, now)
        await self.gateway_metrics.follow(key, decision.analyzing)
        if decision.analyzing and not self.gateway_metrics.urls:
            if key not in self._warned_no_metrics:
                self._warned_no_metrics.add(key)
                self._post(namespace, name, ms.metadata.uid, NO_METRICS_EVENT)
        else:
            self._warned_no_metrics.discard(key)
        # Children do not depend on each other: apply them side by side.
        await asyncio.gather(*(self._act(action, namespace) for action in decision.actions))
        requeue = decision.requeue_after
        analysis = ms.spec.rollout.analysis
        if decision.analyzing and analysis is not None:
            # The window opened after the plan: wake when it is a full interval long, or
            # the first run would wait a second interval.
            due = self.gateway_metrics.due_in(key, analysis.interval_seconds)
            requeue = requeue if due is None else due + 0.05
        if requeue is not None:
            self.queue.add_after(key, requeue)
        if decision.status_patch is not None:
            await self.kube.patch_status(namespace, name, dict(decision.status_patch))
            self._remember_status(key, body, decision.status_patch)
        for event in decision.events:
            self._post(namespace, name, ms.metadata.uid, event)
        if decision.actions or decision.status_patch:
            log.info(
                "reconciled %s/%s: %s%s",
                namespace,
                name,
                ", ".join(f"{type(a).__name__.lower()} {_name(a)}" for a in decision.actions)
                or "no child changes",
                "; status updated" if decision.status_patch else "",
            )

    def _post(self, namespace: str, name: str, uid: str | None, event: EventSpec) -> None:
        """Events are a record, not a step: post them without holding up the worker."""
        task = asyncio.create_task(self.kube.post_event(namespace, name, uid, event))
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    async def _download_progress(self, namespace: str, pods: list[Obj]) -> str | None:
        """The running download pod's last log line (one read, only while downloading)."""
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if FETCH_LABEL in labels and (pod.get("status") or {}).get("phase") == "Running":
                return await self.kube.log_tail(namespace, pod["metadata"]["name"])
        return None

    async def _act(self, action: Apply | Delete, namespace: str) -> None:
        if isinstance(action, Apply):
            applied = await self.kube.apply(action.obj)
            # Keep the cache ahead of the watch so the next pass sees our write.
            self.cache.put_child(kind_of(applied), applied.to_dict(), deleted=False)
        else:
            await self.kube.delete(action.kind, action.name, namespace)

    def _remember_status(self, key: Key, body: Mapping[str, Any], patch: Mapping[str, Any]) -> None:
        """Reflect our own status write in the cache before the watch echoes it,
        so a reconcile in between neither writes it again nor re-posts events."""
        status = {k: v for k, v in {**(body.get("status") or {}), **patch}.items() if v is not None}
        if self.cache.modelservices.get(key) is body:
            self.cache.modelservices[key] = {**body, "status": status}


def _namespace_terminating(err: ApiError) -> bool:
    return err.status.code == 403 and "being terminated" in (err.status.message or "")


def _name(action: Apply | Delete) -> str:
    if isinstance(action, Apply):
        meta = action.obj.metadata
        return f"{type(action.obj).__name__}/{meta.name if meta else '?'}"
    return f"{action.kind.__name__}/{action.name}"
