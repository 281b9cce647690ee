"""The fleet file: which nodes the local cluster has and how the process node
maps images to local environments."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

GPU_RESOURCE = "nvidia.com/gpu"
LOCAL_NODE_TAINT = {"key": "modelplane.io/local", "value": "true", "effect": "NoSchedule"}
LOCAL_NODE_LABEL = ("modelplane.io/node-kind", "local")
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# The default StorageClass: KWOK's volume stages provision and bind its claims.
STORAGE_CLASS = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {
        "name": "kwok-volume",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
    },
    "provisioner": "kwok.x-k8s.io/volume",
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "Immediate",
}


@dataclass(frozen=True)
class NodePool:
    name: str
    count: int
    cpu: str
    memory: str
    gpus: int = 0
    gpu_product: str = ""
    gpu_memory_mib: int = 0
    pods: int = 110

    def node_names(self) -> list[str]:
        return [f"kwok-{self.name}-{i}" for i in range(self.count)]


@dataclass(frozen=True)
class Fleet:
    service_cidr: str
    kwok_pod_cidr: str
    local_pod_cidr: str
    pools: tuple[NodePool, ...]
    local_node: dict[str, Any]

    @property
    def local_node_name(self) -> str:
        return str(self.local_node.get("name", "local-0"))

    @property
    def gateway_ip(self) -> str:
        """The host's address on the process node's bridge (first host of the CIDR)."""
        return str(next(ipaddress.ip_network(self.local_pod_cidr).hosts()))

    @property
    def api_service_ip(self) -> str:
        """The `kubernetes` Service's ClusterIP: the first host of the service CIDR."""
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    def all_node_names(self) -> list[str]:
        names = [n for pool in self.pools for n in pool.node_names()]
        return [*names, self.local_node_name]

    def fake_ranges(self) -> list[str]:
        """Ranges nothing on this machine serves: routed `unreachable`."""
        return [self.service_cidr, self.kwok_pod_cidr]


def load(path: Path) -> Fleet:
    data = yaml.safe_load(path.read_text())
    net = data["network"]
    pools = tuple(
        NodePool(
            name=p["name"],
            count=int(p["count"]),
            cpu=str(p["cpu"]),
            memory=str(p["memory"]),
            gpus=int(p.get("gpus", 0)),
            gpu_product=str(p.get("gpuProduct", "")),
            gpu_memory_mib=int(p.get("gpuMemoryMiB", 0)),
            pods=int(p.get("pods", 110)),
        )
        for p in data.get("nodePools", [])
    )
    for cidr in (net["serviceCIDR"], net["kwokPodCIDR"], net["localPodCIDR"]):
        network = ipaddress.ip_network(cidr)
        if network.is_loopback or network.overlaps(ipaddress.ip_network("192.0.2.0/24")):
            raise ValueError(f"{path}: {cidr} overlaps loopback or the machine's own link")
    return Fleet(
        service_cidr=net["serviceCIDR"],
        kwok_pod_cidr=net["kwokPodCIDR"],
        local_pod_cidr=net["localPodCIDR"],
        pools=pools,
        local_node=data.get("localNode", {}),
    )


def kwok_node(pool: NodePool, name: str) -> dict[str, Any]:
    """A Node object KWOK will manage (it owns nodes carrying its annotation)."""
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "modelplane.io/node-kind": "kwok",
        "modelplane.io/node-pool": pool.name,
    }
    capacity = {"cpu": pool.cpu, "memory": pool.memory, "pods": str(pool.pods)}
    taints = []
    if pool.gpus:
        # What GPU Feature Discovery labels a real GPU node with.
        labels |= {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": pool.gpu_product,
            "nvidia.com/gpu.count": str(pool.gpus),
            "nvidia.com/gpu.memory": str(pool.gpu_memory_mib),
        }
        capacity[GPU_RESOURCE] = str(pool.gpus)
        taints.append({"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1]},
        },
        "spec": {"taints": taints},
        "status": {"capacity": capacity, "allocatable": capacity},
    }
