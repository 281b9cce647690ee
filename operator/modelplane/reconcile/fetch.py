"""Where the model download stands, read from the prefetch Job and its pods.

The launcher's last word is the pod's termination message: the resolved
identity as JSON on success, `ModelDownloadFailed: <cause>` on failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from modelplane.api.status import ModelStatus
from modelplane.reconcile.observed import Obj

FAILED_PREFIX = "ModelDownloadFailed:"


@dataclass(frozen=True)
class FetchState:
    phase: Literal["pending", "running", "retrying", "done", "failed"]
    model: ModelStatus
    message: str = ""


def _condition(job: Obj, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def _termination_message(pod: Obj) -> str:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = ((cs.get("state") or {}).get("terminated")) or {}
        if terminated.get("message"):
            return str(terminated["message"]).strip()
    return ""


def _cause(pods: Sequence[Obj]) -> str:
    """The most recent failed attempt's own explanation."""
    failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
    failed.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
    for pod in reversed(failed):
        message = _termination_message(pod)
        for line in reversed(message.splitlines()):
            if FAILED_PREFIX in line:
                return line[line.index(FAILED_PREFIX) + len(FAILED_PREFIX) :].strip()
        if message:
            return message.splitlines()[-1][:500]
    return "the download failed (no message from the downloader)"


def _identity(uri: str, pods: Sequence[Obj]) -> ModelStatus:
    for pod in pods:
        if (pod.get("status") or {}).get("phase") != "Succeeded":
            continue
        try:
            data = json.loads(_termination_message(pod).splitlines()[-1])
        except (ValueError, IndexError):
            continue
        return ModelStatus(
            uri=uri,
            resolved=str(data.get("resolved") or "")[:256] or None,
            bytes=data.get("bytes"),
            files=data.get("files"),
        )
    return ModelStatus(uri=uri)


def fetch_state(uri: str, job: Obj | None, pods: Sequence[Obj], progress: str | None) -> FetchState:
    """The download's phase, the model status to publish, and a message for conditions."""
    if job is None:
        return FetchState("pending", ModelStatus(uri=uri), "creating the download Job")
    status = job.get("status") or {}
    if _condition(job, "Complete"):
        model = _identity(uri, pods)
        size = f", {model.bytes} bytes" if model.bytes is not None else ""
        return FetchState("done", model, f"resolved {model.resolved or 'unknown'}{size}")
    if _condition(job, "Failed"):
        cause = _cause(pods)
        return FetchState(
            "failed",
            ModelStatus(uri=uri),
            f"gave up after {status.get('failed', 0)} attempts: {cause}",
        )
    if status.get("failed"):
        cause = _cause(pods)
        return FetchState(
            "retrying",
            ModelStatus(uri=uri, progress=progress),
            f"attempt {status['failed']} failed, retrying with back-off: {cause}",
        )
    return FetchState("running", ModelStatus(uri=uri, progress=progress), progress or "downloading")
