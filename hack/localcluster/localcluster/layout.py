"""Where the local cluster keeps its state and which ports it listens on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HACK_DIR = Path(__file__).resolve().parent.parent  # hack/localcluster
CHECKOUT = HACK_DIR.parent.parent


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"LOCALCLUSTER_{name}_PORT", default))


@dataclass(frozen=True)
class Ports:
    etcd_client: int = _port("ETCD", 12379)
    etcd_peer: int = _port("ETCD_PEER", 12380)
    apiserver: int = _port("APISERVER", 6443)
    controller_manager: int = _port("CONTROLLER_MANAGER", 10257)
    scheduler: int = _port("SCHEDULER", 10259)
    kwok: int = _port("KWOK", 10247)
    local_node: int = _port("LOCAL_NODE", 10250)


@dataclass(frozen=True)
class Layout:
    """The `.localcluster/` directory of one checkout."""

    root: Path

    @classmethod
    def default(cls) -> Layout:
        return cls(Path(os.environ.get("LOCALCLUSTER_DIR", CHECKOUT / ".localcluster")).resolve())

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def audit_log(self) -> Path:
        """Every write by a non-system client (see hack/localcluster/audit-policy.yaml)."""
        return self.logs / "audit.log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfigs"

    @property
    def nodes(self) -> Path:
        return self.root / "nodes"

    @property
    def bin_link(self) -> Path:
        """A symlink farm of the cached binaries, for PATH (kubectl, helm, …)."""
        return self.root / "bin"

    @property
    def fleet_file(self) -> Path:
        return Path(os.environ.get("LOCALCLUSTER_FLEET", HACK_DIR / "fleet.yaml"))
