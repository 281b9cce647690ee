"""The routing table: served model name -> revisions (weights) -> ready endpoints.

Fed by the API watches (ModelServices, the per-revision Services'
EndpointSlices, API-key Secrets); read on every request without I/O. A
change rebuilds only the routes of the ModelService it touches. Endpoint
objects outlive rebuilds, so in-flight counts survive an unrelated change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from modelplane.api.constants import LABEL_MODELSERVICE, LABEL_REVISION, SERVING_PORT_NAME
from modelplane.api.spec import RoutingSpec
from modelplane.api.status import TrafficTarget
from modelplane.gateway import keys
from modelplane.gateway.balance import Endpoint, HashRing, SmoothWeighted, least_requests

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]
Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class ServiceInfo:
    """What the gateway reads of a ModelService."""

    model: str
    created: str
    traffic: tuple[tuple[str, int], ...]
    routing: RoutingSpec
    # BlueGreen: (model name, revision) that reaches the revision before promotion.
    preview: tuple[str, str] | None = None

    def names(self) -> tuple[str, ...]:
        return (self.model, self.preview[0]) if self.preview else (self.model,)

    def traffic_of(self, name: str) -> tuple[tuple[str, int], ...]:
        if self.preview is not None and name == self.preview[0] and name != self.model:
            return ((self.preview[1], 100),)
        return self.traffic


@dataclass(eq=False)
class RevisionRoute:
    name: str
    weight: int
    endpoints: list[Endpoint]
    ring: HashRing | None = None


@dataclass(eq=False)
class Route:
    """How to reach one served model."""

    model: str
    namespace: str
    service: str
    routing: RoutingSpec
    created: str = ""
    revisions: dict[str, RevisionRoute] = field(default_factory=dict)
    # A preview name: replicas serve the model under its real name, so the
    # request's `model` is rewritten to it.
    upstream_model: str | None = None
    picker: SmoothWeighted = field(default_factory=SmoothWeighted)

    def ready(self) -> bool:
        return any(r.weight > 0 and r.endpoints for r in self.revisions.values())

    def choose(
        self, prefix: str | None, exclude: Collection[Endpoint], now: float
    ) -> tuple[RevisionRoute, Endpoint] | None:
        """A revision by weight among those with an untried endpoint, then an endpoint."""
        weights = [
            (r.name, r.weight)
            for r in self.revisions.values()
            if any(e not in exclude for e in r.endpoints)
        ]
        name = self.picker.pick(weights)
        if name is None:
            return None
        revision = self.revisions[name]
        endpoint: Endpoint | None
        if revision.ring is not None and prefix is not None:
            endpoint = revision.ring.pick(prefix, self.load_factor, exclude=exclude, now=now)
        else:
            endpoint = least_requests(revision.endpoints, exclude, now)
        return (revision, endpoint) if endpoint is not None else None

    @property
    def load_factor(self) -> float:
        settings = self.routing.prefix_hash
        return (settings.mean_load_factor if settings else 125) / 100


def service_info(obj: Obj) -> ServiceInfo:
    """Lenient: a ModelService whose routing or status does not parse is served with defaults."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    model = ((spec.get("model") or {}).get("servedName")) or meta["name"]
    try:
        routing = RoutingSpec.model_validate(spec.get("routing") or {})
    except ValidationError:
        routing = RoutingSpec()
    traffic = []
    for target in status.get("traffic") or []:
        try:
            parsed = TrafficTarget.model_validate(target)
        except ValidationError:
            continue
        traffic.append((parsed.revision, parsed.weight))
    preview = status.get("preview") or {}
    shown = (
        (str(preview["model"]), str(preview["revision"]))
        if preview.get("model") and preview.get("revision")
        else None
    )
    return ServiceInfo(
        str(model), str(meta.get("creationTimestamp", "")), tuple(traffic), routing, shown
    )


def ready_endpoints(slice_: Obj) -> tuple[tuple[str, int], ...]:
    """Addresses of an EndpointSlice that take new requests: ready and not terminating."""
    ports = slice_.get("ports") or []
    port = next((p.get("port") for p in ports if p.get("name") == SERVING_PORT_NAME), None)
    if port is None and ports:
        port = ports[0].get("port")
    if port is None:
        return ()
    found = []
    for endpoint in slice_.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False or conditions.get("terminating") is True:
            continue
        found += [(address, int(port)) for address in endpoint.get("addresses") or []]
    return tuple(sorted(found))


class RoutingTable:
    """All routes of this gateway's scope, kept current by watch events."""

    def __init__(self, on_ready: Callable[[str], None] = lambda model: None) -> None:
        self.routes: dict[str, Route] = {}
        self.on_ready = on_ready
        self._services: dict[Key, ServiceInfo] = {}
        self._model_of: dict[Key, tuple[str, ...]] = {}
        self._claims: dict[str, set[Key]] = {}
        # (namespace, ModelService) -> slice name -> (revision, ready addresses)
        self._slices: dict[Key, dict[str, tuple[str, tuple[tuple[str, int], ...]]]] = {}
        self._endpoints: dict[tuple[str, int], Endpoint] = {}
        self._secrets: dict[Key, keys.Digests] = {}
        self.listeners: list[Callable[[Route | None, str], None]] = []
        self._contested: dict[str, set[Key]] = {}

    # ---- ModelServices --------------------------------------------------------
    def put_service(self, obj: Obj, deleted: bool = False) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        before = self._model_of.pop(key, ())
        for name in before:
            self._claims.get(name, set()).discard(key)
        if deleted:
            self._services.pop(key, None)
        else:
            info = service_info(obj)
            self._services[key] = info
            self._model_of[key] = info.names()
            for name in info.names():
                self._claims.setdefault(name, set()).add(key)
        for model in sorted({*before, *self._model_of.get(key, ())}):
            self._rebuild(model)

    def reset_services(self, objs: Sequence[Obj], namespace: str = "*") -> None:
        """A fresh LIST of ``namespace`` ("*": all): forget what it no longer has."""
        present = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs}
        for key in list(self._services):
            if key not in present and namespace in ("*", key[0]):
                self.put_service({"metadata": {"namespace": key[0], "name": key[1]}}, deleted=True)
        for obj in objs:
            self.put_service(obj)

    # ---- EndpointSlices ---------------------------------------------------------
    def put_slice(self, obj: Obj, deleted: bool = False) -> None:
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        owner, revision = labels.get(LABEL_MODELSERVICE), labels.get(LABEL_REVISION)
        if not owner or not revision:
            return
        key = (meta.get("namespace", ""), owner)
        by_name = self._slices.setdefault(key, {})
        if deleted:
            by_name.pop(meta["name"], None)
            if not by_name:
                del self._slices[key]
        else:
            by_name[meta["name"]] = (revision, ready_endpoints(obj))
        for model in self._model_of.get(key, ()):
            self._rebuild(model)

    def reset_slices(self, objs: Sequence[Obj], namespace: str = "*") -> None:
        stale = [key for key in self._slices if namespace in ("*", key[0])]
        for key in stale:
            del self._slices[key]
        for obj in objs:
            self.put_slice(obj)
        for key in stale:
            for model in self._model_of.get(key, ()):
                self._rebuild(model)

    # ---- API-key Secrets --------------------------------------------------------
    def put_secret(self, obj: Obj, deleted: bool = False) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if deleted:
            self._secrets.pop(key, None)
        else:
            self._secrets[key] = keys.from_secret_data(obj.get("data"))

    def reset_secrets(self, objs: Sequence[Obj], namespace: str = "*") -> None:
        for key in [k for k in self._secrets if namespace in ("*", k[0])]:
            del self._secrets[key]
        for obj in objs:
            self.put_secret(obj)

    def model_keys(self, route: Route) -> keys.Digests | None:
        """The keys of the route's own Secret: None if it names none, empty if it is missing."""
        name = route.routing.api_key_secret
        if name is None:
            return None
        return self._secrets.get((route.namespace, name), frozenset())

    # ---- building routes ----------------------------------------------------------
    def _rebuild(self, model: str) -> None:
        claimants = self._claims.get(model) or set()
        if not claimants:
            self._claims.pop(model, None)
            gone = self.routes.pop(model, None)
            if gone is not None:
                self._forget_endpoints(gone, keep=None)
                self._notify(None, model)
            return
        key = min(claimants, key=lambda k: (self._services[k].created, k))
        if len(claimants) > 1 and self._contested.get(model) != claimants:
            self._contested[model] = set(claimants)
            log.warning(
                "model %r is served by %s; routing to %s/%s (the oldest)",
                model,
                ", ".join(f"{ns}/{n}" for ns, n in sorted(claimants)),
                *key,
            )
        info = self._services[key]
        namespace, service = key
        previous = self.routes.get(model)
        route = Route(model, namespace, service, info.routing, info.created)
        if model != info.model:
            route.upstream_model = info.model
        if previous is not None and (previous.namespace, previous.service) == key:
            route.picker = previous.picker
        hashing = info.routing.load_balancing == "PrefixHash"
        replication = info.routing.prefix_hash.replication if info.routing.prefix_hash else 256
        slices = self._slices.get(key, {}).values()
        for revision, weight in info.traffic_of(model):
            addresses = sorted({a for rev, ready in slices if rev == revision for a in ready})
            endpoints = [self._endpoint(a) for a in addresses]
            ring = HashRing(endpoints, replication) if hashing and endpoints else None
            route.revisions[revision] = RevisionRoute(revision, weight, endpoints, ring)
        route.picker.forget(route.revisions)
        self.routes[model] = route
        if previous is not None:
            self._forget_endpoints(previous, keep=route)
        self._notify(route, model)
        if route.ready():
            self.on_ready(model)

    def _endpoint(self, address: tuple[str, int]) -> Endpoint:
        found = self._endpoints.get(address)
        if found is None:
            found = self._endpoints[address] = Endpoint(*address)
        return found

    def _forget_endpoints(self, previous: Route, keep: Route | None) -> None:
        """Drop endpoints the model no longer routes to (an address is one pod's)."""
        kept = {e for r in keep.revisions.values() for e in r.endpoints} if keep else set()
        for revision in previous.revisions.values():
            for e in revision.endpoints:
                if e not in kept:
                    self._endpoints.pop((e.host, e.port), None)

    def _notify(self, route: Route | None, model: str) -> None:
        for listener in self.listeners:
            listener(route, model)
