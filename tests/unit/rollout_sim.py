"""A small stand-in for the cluster in plan tests: it applies a plan's actions to an
Observed snapshot (what the API server and controllers would do), and lets a
test decide how many pods of each revision are ready. The plan itself is the
real one; only the cluster's reaction is simulated, so tests can walk a
rollout step by step without time passing."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from lightkube.resources.apps_v1 import ControllerRevision, Deployment

from modelplane.api.config import OperatorConfig
from modelplane.api.resource import ModelService
from modelplane.reconcile import Apply, Delete, Observed, Plan, plan

CONFIG = OperatorConfig()


def _rev(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("labels", {}).get("modelplane.io/revision", ""))


@dataclass
class Sim:
    ms: ModelService
    now: datetime
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ready: dict[str, int | None] = field(default_factory=dict)  # rev -> ready cap (None: all)
    pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    writes: int = 0
    last: Plan | None = None

    def observed(self, **extra: Any) -> Observed:
        deployments, services, revisions, jobs = [], [], [], []
        for (kind, _), body in sorted(self.objects.items()):
            body = copy.deepcopy(body)
            if kind == "Deployment":
                want = body["spec"]["replicas"]
                cap = self.ready.get(_rev(body))
                body["status"] = {
                    "replicas": want,
                    "readyReplicas": want if cap is None else min(cap, want),
                }
                deployments.append(body)
            elif kind == "Service":
                services.append(body)
            elif kind == "ControllerRevision":
                revisions.append(body)
            elif kind == "Job":
                jobs.append(body)
        return Observed(
            deployments=deployments,
            services=services,
            revisions=revisions,
            jobs=jobs,
            pods=self.pods,
            gpu_products=frozenset({"NVIDIA-L4"}),
            **extra,
        )

    def step(self, seconds: float = 0.0, **extra: Any) -> Plan:
        """One reconcile pass: plan, then the cluster applies it and status is written."""
        self.now += timedelta(seconds=seconds)
        decision = plan(self.ms, self.observed(**extra), CONFIG, self.now)
        self.last = decision
        for action in decision.actions:
            self.writes += 1
            if isinstance(action, Apply):
                body = action.obj.to_dict()
                body["metadata"].setdefault("creationTimestamp", self.now.isoformat())
                self.objects[(type(action.obj).__name__, body["metadata"]["name"])] = body
            elif isinstance(action, Delete):
                self.objects.pop((action.kind.__name__, action.name), None)
        if decision.status_patch is not None:
            self.writes += 1
            body = self.ms.model_dump(by_alias=True, exclude_none=True, mode="json")
            status = {**body.get("status", {}), **decision.status_patch}
            body["status"] = {k: v for k, v in status.items() if v is not None}
            self.ms = ModelService.parse(body)
        self.events += [f"{e.type}/{e.reason}" for e in decision.events]
        return decision

    def settle(self, passes: int = 12, seconds: float = 1.0, **extra: Any) -> Plan:
        """Reconcile until nothing changes and nothing is scheduled; time advances by
        ``seconds`` per pass, or to the plan's requeue when it asks for one."""
        decision = self.step(**extra)
        for _ in range(passes):
            idle = not decision.actions and decision.status_patch is None
            if idle and decision.requeue_after is None:
                break
            wait = seconds if not idle else max(seconds, decision.requeue_after or 0)
            decision = self.step(wait, **extra)
        return decision

    def change(self, **spec: Any) -> None:
        """The user applies a changed spec (status and metadata kept)."""
        body = self.ms.model_dump(by_alias=True, exclude_none=True, mode="json")
        body["spec"] = _merge(body["spec"], spec)
        body["metadata"]["generation"] = body["metadata"].get("generation", 1) + 1
        self.ms = ModelService.parse(body)

    def annotate(self, key: str, value: str) -> None:
        body = self.ms.model_dump(by_alias=True, exclude_none=True, mode="json")
        body["metadata"].setdefault("annotations", {})[key] = value
        self.ms = ModelService.parse(body)

    @property
    def status(self) -> Any:
        return self.ms.status

    def deployments(self) -> dict[str, int]:
        return {
            _rev(b): b["spec"]["replicas"]
            for (kind, _), b in self.objects.items()
            if kind == "Deployment"
        }

    def records(self) -> dict[str, dict[str, Any]]:
        return {_rev(b): b for (kind, _), b in self.objects.items() if kind == "ControllerRevision"}

    def traffic(self) -> dict[str, int]:
        return {t.revision: t.weight for t in self.status.traffic}


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in change.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


__all__ = ["CONFIG", "ControllerRevision", "Deployment", "Sim", "replace"]
