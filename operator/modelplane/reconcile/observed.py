"""What the operator saw in the cluster for one ModelService, gathered once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.reconcile.analysis import RunResult

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Observed:
    """A snapshot of one ModelService's children and the facts its checks need.

    Objects are the API server's JSON (dicts), as the watch delivered them.
    """

    deployments: Sequence[Obj] = ()
    services: Sequence[Obj] = ()
    pods: Sequence[Obj] = ()
    jobs: Sequence[Obj] = ()
    claims: Sequence[Obj] = ()
    # ControllerRevisions: the kept revisions.
    revisions: Sequence[Obj] = ()
    # The running download's last progress line (read from its log), if any.
    fetch_progress: str | None = None
    # GPU products some node offers (nvidia.com/gpu.product labels); None when
    # the operator cannot see nodes, in which case the check is skipped.
    gpu_products: frozenset[str] | None = None
    # Secrets referenced by the spec that do not exist in the namespace.
    missing_secrets: frozenset[str] = field(default_factory=frozenset)
    # One finished analysis interval of the revision under analysis, if any.
    analysis_run: RunResult | None = None

    def deployment(self, name: str) -> Obj | None:
        return next((d for d in self.deployments if d["metadata"]["name"] == name), None)

    def service(self, name: str) -> Obj | None:
        return next((s for s in self.services if s["metadata"]["name"] == name), None)

    def job(self, name: str) -> Obj | None:
        return next((j for j in self.jobs if j["metadata"]["name"] == name), None)

    def claim(self, name: str) -> Obj | None:
        return next((c for c in self.claims if c["metadata"]["name"] == name), None)

    def labelled(self, objs: Sequence[Obj], key: str, value: str) -> list[Obj]:
        return [o for o in objs if (o["metadata"].get("labels") or {}).get(key) == value]
