"""Read pods and Deployments the way a human operator would: why is it not ready?"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelplane.reconcile.observed import Obj

# Container states that will not fix themselves: reported as Degraded.
FAILING_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str


def ready_replicas(deployment: Obj | None) -> int:
    if deployment is None:
        return 0
    return int(deployment.get("status", {}).get("readyReplicas") or 0)


def replicas(deployment: Obj | None) -> int:
    if deployment is None:
        return 0
    return int(deployment.get("status", {}).get("replicas") or 0)


def _statuses(pod: Obj) -> Iterable[dict[str, Any]]:
    status = pod.get("status", {})
    yield from status.get("initContainerStatuses") or []
    yield from status.get("containerStatuses") or []


def failing(pods: Iterable[Obj]) -> Problem | None:
    """The first pod whose container crash-loops or cannot pull, if any."""
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        for cs in _statuses(pod):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in FAILING_WAITING_REASONS:
                detail = waiting.get("message") or ""
                last = ((cs.get("lastState") or {}).get("terminated")) or {}
                if last:
                    exit_code, why = last.get("exitCode"), last.get("reason", "")
                    detail = f"{detail} (last exit code {exit_code}: {why})".strip()
                return Problem(
                    waiting["reason"],
                    f"pod {pod['metadata']['name']} container {cs.get('name')}: "
                    f"{waiting['reason']} "
                    f"after {cs.get('restartCount', 0)} restarts; {detail}".rstrip("; "),
                )
        if pod.get("status", {}).get("phase") == "Failed":
            return Problem(
                "PodFailed",
                f"pod {pod['metadata']['name']} failed: {pod['status'].get('message', '')}",
            )
    return None


def unschedulable(
    pods: Iterable[Obj], now: datetime | None = None, grace: float = 0.0
) -> Problem | None:
    """The scheduler's own message for a pod it cannot place (it names the missing GPU).

    With ``now`` and ``grace``, only a pod unschedulable for longer than ``grace``
    counts: a GPU freed by a pod that is still draining, or a node an autoscaler
    is adding, is not a reason to roll back.
    """
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        for cond in pod.get("status", {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                if now is not None and grace > 0 and _younger(cond, now, grace):
                    continue
                return Problem(
                    "Unschedulable", f"pod {pod['metadata']['name']}: {cond.get('message', '')}"
                )
    return None


def _younger(cond: Obj, now: datetime, grace: float) -> bool:
    since = cond.get("lastTransitionTime")
    if not since:
        return True  # unknown: give it the benefit of the doubt until it is known
    started = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
    return (now - started).total_seconds() < grace
