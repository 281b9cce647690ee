"""An in-memory copy of what the watches delivered: reconcile reads from here,
so a reconcile that changes nothing makes no API calls at all."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from modelplane.api.constants import LABEL_MODELSERVICE

Key = tuple[str, str]  # (namespace, ModelService name)
Obj = Mapping[str, Any]

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


_POD_META = ("name", "namespace", "labels", "creationTimestamp", "deletionTimestamp")
_CONDITION_KEYS = ("type", "status", "reason", "message", "lastTransitionTime")


def _pod_status(status: Obj) -> dict[str, Any]:
    """What reconcile reads of a pod's status, without the timestamps that churn."""
    return {
        "phase": status.get("phase"),
        "conditions": [
            {k: c.get(k) for k in _CONDITION_KEYS} for c in status.get("conditions") or []
        ],
        **{
            field: [
                {k: cs.get(k) for k in ("name", "ready", "restartCount", "state", "lastState")}
                for cs in status.get(field) or []
            ]
            for field in ("initContainerStatuses", "containerStatuses")
        },
    }


def slim(kind: str, obj: Obj) -> Obj:
    """Keep what reconcile reads; drop managedFields and resourceVersion everywhere, and
    all of a pod but its labels and status summary.

    At a thousand ModelServices these are most of the operator's memory, and
    comparing slim objects tells which watch events change nothing we read.
    """
    drop = ("managedFields", "resourceVersion")
    meta = {k: v for k, v in obj["metadata"].items() if k not in drop}
    if kind == "pods":
        meta = {k: v for k, v in meta.items() if k in _POD_META}
        return {"metadata": meta, "status": _pod_status(obj.get("status") or {})}
    return {**obj, "metadata": meta}


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def owner_key(obj: Obj) -> Key | None:
    """The ModelService a child belongs to, by our label."""
    meta = obj["metadata"]
    owner = (meta.get("labels") or {}).get(LABEL_MODELSERVICE)
    return (meta.get("namespace", ""), owner) if owner else None


class Cache:
    def __init__(self) -> None:
        self.modelservices: dict[Key, Obj] = {}
        # kind -> owner key -> child name -> object
        self.children: dict[str, dict[Key, dict[str, Obj]]] = defaultdict(lambda: defaultdict(dict))
        self.node_products: dict[str, str] = {}
        self.nodes_seen = False

    def put_modelservice(self, obj: Obj, deleted: bool) -> Key:
        key = key_of(obj)
        if deleted:
            self.modelservices.pop(key, None)
            for kind in self.children.values():
                kind.pop(key, None)
        else:
            self.modelservices[key] = slim("modelservices", obj)
        return key

    def put_child(self, kind: str, obj: Obj, deleted: bool, if_absent: bool = False) -> Key | None:
        """Record a child; return its owner's key if anything reconcile reads changed.

        ``if_absent`` is for a LIST snapshot that a newer watch event may beat.
        """
        owner = owner_key(obj)
        if owner is None:
            return None
        by_name = self.children[kind][owner]
        name = obj["metadata"]["name"]
        if if_absent and name in by_name:
            return owner
        if deleted:
            by_name.pop(name, None)
            if not by_name:
                self.children[kind].pop(owner, None)
        else:
            new = slim(kind, obj)
            if by_name.get(name) == new:
                return None  # e.g. a probe timestamp or a status field we never read
            by_name[name] = new
        return owner

    def children_of(self, kind: str, key: Key) -> list[Obj]:
        return list(self.children[kind].get(key, {}).values())

    def put_node(self, obj: Obj, deleted: bool, if_absent: bool = False) -> bool:
        """Track GPU products; True if the set of offered products changed."""
        self.nodes_seen = True
        before = self.gpu_products()
        name = obj["metadata"]["name"]
        if if_absent and name in self.node_products:
            return False
        product = (obj["metadata"].get("labels") or {}).get(GPU_PRODUCT_LABEL)
        if deleted or not product:
            self.node_products.pop(name, None)
        else:
            self.node_products[name] = product
        return self.gpu_products() != before

    def gpu_products(self) -> frozenset[str] | None:
        return frozenset(self.node_products.values()) if self.nodes_seen else None
