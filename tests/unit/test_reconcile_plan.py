"""The reconcile decision, table by table: desired + observed -> actions + status."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from tests.unit.rollout_sim import Sim

from modelplane.api.config import OperatorConfig
from modelplane.api.resource import ModelService
from modelplane.builders import (
    build_controller_revision,
    build_deployment,
    build_revision_service,
    build_service,
    revision_data,
    template_hash,
)
from modelplane.reconcile import Apply, Observed, plan
from modelplane.reconcile.plan import invalid_status

CONFIG = OperatorConfig()
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 29, 12, 5, 0, tzinfo=UTC)


def modelservice(
    replicas: int = 2, uri: str = "hf://org/model@main", **resources: Any
) -> ModelService:
    return ModelService.parse(
        {
            "apiVersion": "modelplane.io/v1alpha1",
            "kind": "ModelService",
            "metadata": {"name": "chat", "namespace": "team-a", "uid": "u-1", "generation": 3},
            "spec": {
                "model": {"uri": uri},
                "resources": {"gpus": 1, "gpuProduct": "NVIDIA-L4", **resources},
                "replicas": replicas,
            },
        }
    )


def as_observed(
    obj: Deployment | Service, ready: int | None = None, replicas: int | None = None
) -> dict[str, Any]:
    """What the API server hands back: our fields plus defaults and status."""
    body = copy.deepcopy(obj.to_dict())
    body["metadata"]["uid"] = "child"
    if isinstance(obj, Deployment):
        body["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"  # a server default
        want = body["spec"]["replicas"]
        body["status"] = {
            "replicas": want if replicas is None else replicas,
            "readyReplicas": want if ready is None else ready,
        }
    return body


def pod(revision: str, name: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"modelplane.io/modelservice": "chat", "modelplane.io/revision": revision},
        },
        "status": status,
    }


def settled(ms: ModelService, ready: int | None = None) -> Observed:
    rev = template_hash(ms, CONFIG)
    record = build_controller_revision(
        ms, rev, 1, revision_data(ms, CONFIG), "Stable", "serving"
    ).to_dict()
    record["metadata"]["creationTimestamp"] = "2026-11-29T11:00:00Z"
    return Observed(
        deployments=[as_observed(build_deployment(ms, CONFIG, rev, ms.spec.replicas), ready=ready)],
        services=[as_observed(build_service(ms)), as_observed(build_revision_service(ms, rev))],
        revisions=[record],
        gpu_products=frozenset({"NVIDIA-L4", "NVIDIA-H100-80GB-HBM3"}),
    )


def with_status(ms: ModelService, observed: Observed) -> ModelService:
    """The ModelService as it looks after the operator wrote the planned status."""
    decision = plan(ms, observed, CONFIG, NOW)
    body = ms.model_dump(by_alias=True, exclude_none=True, mode="json")
    body["status"] = {k: v for k, v in (decision.status_patch or {}).items() if v is not None}
    return ModelService.parse(body)


def cond(ms_status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in ms_status["conditions"] if c["type"] == kind)


def test_first_pass_creates_services_and_deployment() -> None:
    ms = modelservice()
    decision = plan(ms, Observed(gpu_products=frozenset({"NVIDIA-L4"})), CONFIG, NOW)
    applied = [
        (type(a.obj).__name__, a.obj.metadata.name)
        for a in decision.actions
        if isinstance(a, Apply)
    ]
    rev = template_hash(ms, CONFIG)
    assert applied == [
        ("Service", "chat"),
        ("Service", f"chat-{rev}"),
        ("Deployment", f"chat-{rev}"),
        ("ControllerRevision", f"chat-{rev}"),  # revision 1 of the history
    ]
    assert decision.status_patch is not None
    assert cond(dict(decision.status_patch), "Ready")["reason"] == "ReplicasNotReady"
    assert [e.reason for e in decision.events] == ["RevisionCreated"]  # starting is no news


def test_settled_state_needs_no_write_at_all() -> None:
    ms = modelservice()
    ms = with_status(ms, settled(ms))
    decision = plan(ms, settled(ms), CONFIG, LATER)
    assert decision.actions == ()
    assert decision.status_patch is None  # lastTransitionTime did not move either
    assert decision.events == ()


def test_scale_changes_only_the_deployment_replicas() -> None:
    ms = modelservice(replicas=2)
    observed = settled(ms)
    scaled = modelservice(replicas=3)
    decision = plan(with_status(scaled, observed), observed, CONFIG, LATER)
    (action,) = decision.actions
    assert isinstance(action, Apply) and isinstance(action.obj, Deployment)
    assert action.obj.spec.replicas == 3
    assert template_hash(scaled, CONFIG) == template_hash(ms, CONFIG)
    assert [e.reason for e in decision.events][:1] == ["Scaled"]


def test_model_change_rolls_replica_by_replica_and_never_below_ready() -> None:
    sim = Sim(modelservice(uri="hf://org/model@v1", replicas=2), NOW)
    sim.settle()
    old_rev = sim.status.stable_revision
    assert old_rev and sim.deployments() == {old_rev: 2}
    sim.change(model={"uri": "hf://org/model@v2"})
    new_rev = template_hash(sim.ms, CONFIG)
    sim.ready[new_rev] = 0
    sim.step()
    # maxSurge 1, maxUnavailable 0: one new pod first, the old ones stay.
    assert sim.deployments() == {old_rev: 2, new_rev: 1}
    assert sim.traffic() == {old_rev: 100}
    assert cond(_status(sim), "Progressing")["reason"] == "RollingOut"
    assert cond(_status(sim), "Ready")["status"] == "True"
    sim.ready[new_rev] = 1
    sim.step()
    sim.step()
    assert sim.deployments() == {old_rev: 1, new_rev: 2}
    assert sim.traffic() == {old_rev: 50, new_rev: 50}  # traffic follows ready capacity
    sim.ready[new_rev] = None
    sim.settle(seconds=2)
    assert sim.deployments() == {new_rev: 2}
    assert sim.status.stable_revision == new_rev and sim.traffic() == {new_rev: 100}
    outcomes = {r.revision: (r.number, r.outcome) for r in sim.status.revisions}
    assert outcomes == {old_rev: (1, "Retired"), new_rev: (2, "Stable")}


def _status(sim: Sim) -> dict[str, Any]:
    return sim.ms.status.model_dump(by_alias=True, mode="json")


STATUS_CASES = [
    (
        "unschedulable",
        [
            pod(
                "REV",
                "p1",
                phase="Pending",
                conditions=[
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/7 nodes are available: 2 Insufficient nvidia.com/gpu.",
                    }
                ],
            )
        ],
        ("Ready", "False", "Unschedulable", "Insufficient nvidia.com/gpu"),
    ),
    (
        "crash loop",
        [
            pod(
                "REV",
                "p1",
                phase="Running",
                containerStatuses=[
                    {
                        "name": "vllm",
                        "restartCount": 4,
                        "state": {
                            "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}
                        },
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                    }
                ],
            )
        ],
        ("Degraded", "True", "CrashLoopBackOff", "after 4 restarts"),
    ),
    (
        "image pull",
        [
            pod(
                "REV",
                "p1",
                phase="Pending",
                containerStatuses=[
                    {
                        "name": "vllm",
                        "restartCount": 0,
                        "state": {
                            "waiting": {"reason": "ImagePullBackOff", "message": "pull failed"}
                        },
                    }
                ],
            )
        ],
        ("Ready", "False", "ImagePullBackOff", "pull failed"),
    ),
    (
        "just starting",
        [pod("REV", "p1", phase="Running")],
        ("Ready", "False", "ReplicasNotReady", "0/2 replicas ready"),
    ),
]


@pytest.mark.parametrize(
    ("pods", "expected"), [c[1:] for c in STATUS_CASES], ids=[c[0] for c in STATUS_CASES]
)
def test_status_tells_why_not_ready(
    pods: list[dict[str, Any]], expected: tuple[str, str, str, str]
) -> None:
    ms = modelservice()
    rev = template_hash(ms, CONFIG)
    base = settled(ms, ready=0)
    observed = Observed(
        deployments=base.deployments,
        services=base.services,
        pods=[
            {
                **p,
                "metadata": {
                    **p["metadata"],
                    "labels": {**p["metadata"]["labels"], "modelplane.io/revision": rev},
                },
            }
            for p in pods
        ],
        gpu_products=base.gpu_products,
    )
    status = dict(plan(ms, observed, CONFIG, NOW).status_patch or {})
    kind, value, reason, fragment = expected
    found = cond(status, kind)
    assert (found["status"], found["reason"]) == (value, reason)
    assert fragment in found["message"]


def test_gpu_product_no_node_offers_is_invalid_spec_and_creates_nothing() -> None:
    ms = modelservice(gpuProduct="NVIDIA-B200")
    decision = plan(ms, Observed(gpu_products=frozenset({"NVIDIA-L4"})), CONFIG, NOW)
    assert decision.actions == ()
    ready = cond(dict(decision.status_patch or {}), "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "spec.resources.gpuProduct" in ready["message"] and "NVIDIA-L4" in ready["message"]


def test_missing_secret_is_invalid_spec_naming_the_env_entry() -> None:
    body = modelservice().model_dump(by_alias=True, exclude_none=True, mode="json")
    body["spec"]["runtime"] = {
        "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]
    }
    ms = ModelService.parse(body)
    decision = plan(ms, Observed(gpu_products=None, missing_secrets=frozenset({"hf"})), CONFIG, NOW)
    ready = cond(dict(decision.status_patch or {}), "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "spec.runtime.env[0].valueFrom.secretKeyRef.name" in ready["message"]


def test_transition_time_moves_only_on_a_transition() -> None:
    ms = modelservice()
    starting = with_status(ms, settled(ms, ready=0))
    t0 = starting.status.condition("Ready").last_transition_time
    assert t0 == NOW
    still = plan(starting, settled(ms, ready=1), CONFIG, LATER)
    ready = cond(dict(still.status_patch or {}), "Ready")
    assert ready["message"] == "1/2 replicas ready"
    assert ready["lastTransitionTime"] == "2026-11-29T12:00:00Z"
    flipped = plan(starting, settled(ms, ready=2), CONFIG, LATER)
    assert (
        cond(dict(flipped.status_patch or {}), "Ready")["lastTransitionTime"]
        == "2026-11-29T12:05:00Z"
    )


def test_unparseable_object_gets_invalid_spec_status_once() -> None:
    patch, events = invalid_status({}, 4, "spec.replicas: must be >= 0", NOW)
    assert patch is not None and cond(dict(patch), "Ready")["reason"] == "InvalidSpec"
    assert [e.reason for e in events] == ["InvalidSpec"]
    again, events = invalid_status(dict(patch), 4, "spec.replicas: must be >= 0", LATER)
    assert again is None and events == []


def cached_modelservice() -> ModelService:
    body = modelservice().model_dump(by_alias=True, exclude_none=True, mode="json")
    body["spec"]["model"] = {
        "uri": "hf://org/model@main",
        "credentialsSecret": "hf",
        "cache": {"size": "20Gi"},
    }
    return ModelService.parse(body)


def job(succeeded: bool = False, failed: int = 0, gave_up: bool = False) -> dict[str, Any]:
    conditions = []
    if succeeded:
        conditions.append({"type": "Complete", "status": "True"})
    if gave_up:
        conditions.append({"type": "Failed", "status": "True"})
    ms = cached_modelservice()
    from modelplane.builders import fetch_job_name

    return {
        "metadata": {"name": fetch_job_name(ms), "labels": {"modelplane.io/modelservice": "chat"}},
        "status": {"failed": failed, "conditions": conditions},
    }


def fetch_pod(phase: str, message: str = "") -> dict[str, Any]:
    from modelplane.builders.cache import model_key

    terminated = {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1, "message": message}}
    return {
        "metadata": {
            "name": f"fetch-{phase.lower()}",
            "creationTimestamp": "2026-11-29T12:00:00Z",
            "labels": {
                "modelplane.io/modelservice": "chat",
                "modelplane.io/fetch": model_key(cached_modelservice()),
            },
        },
        "status": {"phase": phase, "containerStatuses": [{"name": "fetch", "state": terminated}]},
    }


def test_cached_model_downloads_first_and_serves_after() -> None:
    ms = cached_modelservice()
    first = plan(ms, Observed(gpu_products=None), CONFIG, NOW)
    kinds = sorted(type(a.obj).__name__ for a in first.actions if isinstance(a, Apply))
    # No Deployment yet; the revision is recorded already.
    assert kinds == ["ControllerRevision", "Job", "PersistentVolumeClaim", "Service", "Service"]
    status = dict(first.status_patch or {})
    assert cond(status, "Ready")["reason"] == "ModelDownloading"
    assert cond(status, "ModelCached")["reason"] == "Downloading"
    assert first.requeue_after is not None

    running = Observed(jobs=[job()], fetch_progress="1.2 GiB / 15 GiB, 80 MiB/s, ETA 3m")
    status = dict(plan(ms, running, CONFIG, NOW).status_patch or {})
    assert status["model"]["progress"] == "1.2 GiB / 15 GiB, 80 MiB/s, ETA 3m"

    identity = '{"uri": "hf://org/model@main", "resolved": "0123abc", "bytes": 4096, "files": 3}'
    done = Observed(jobs=[job(succeeded=True)], pods=[fetch_pod("Succeeded", identity)])
    decision = plan(ms, done, CONFIG, NOW)
    deployments = [
        a.obj for a in decision.actions if isinstance(a, Apply) and isinstance(a.obj, Deployment)
    ]
    assert len(deployments) == 1
    volumes = {v.name: v for v in deployments[0].spec.template.spec.volumes}
    assert volumes["models-cache"].persistentVolumeClaim.claimName == "chat-model-cache"
    status = dict(decision.status_patch or {})
    assert status["model"] == {
        "uri": "hf://org/model@main",
        "resolved": "0123abc",
        "bytes": 4096,
        "files": 3,
    }
    assert cond(status, "ModelCached")["status"] == "True"
    assert decision.requeue_after is None


def test_download_failure_says_why_and_keeps_retrying() -> None:
    ms = cached_modelservice()
    cause = "ModelDownloadFailed: unauthorized (HTTP 401) for hf://org/model@main"
    observed = Observed(jobs=[job(failed=1)], pods=[fetch_pod("Failed", f"some log\n{cause}")])
    decision = plan(ms, observed, CONFIG, NOW)
    ready = cond(dict(decision.status_patch or {}), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ModelDownloadFailed")
    assert "unauthorized (HTTP 401)" in ready["message"] and "retrying" in ready["message"]
    assert not any(isinstance(a, Apply) and isinstance(a.obj, Deployment) for a in decision.actions)
    assert [e.reason for e in decision.events if e.type == "Warning"] == ["ModelDownloadFailed"]

    gave_up = Observed(jobs=[job(failed=7, gave_up=True)], pods=[fetch_pod("Failed", cause)])
    ready = cond(dict(plan(ms, gave_up, CONFIG, NOW).status_patch or {}), "Ready")
    assert "gave up after 7 attempts" in ready["message"]
