"""The operator against the real cluster: ModelService in, Deployments,
Services and a truthful status out."""

from __future__ import annotations

import json
from typing import Any

from .kube import Kubectl, condition, wait_for
from .operator import AuditLog, OperatorProcess, settle

L4 = {"gpus": 1, "gpuProduct": "NVIDIA-L4"}
# 16 of them in the fleet: tests that do not care about the product use H100s,
# so a namespace still being deleted never starves the next test.
H100 = {"gpus": 1, "gpuProduct": "NVIDIA-H100-80GB-HBM3"}


def modelservice(
    name: str, uri: str = "hf://org/tiny@v1", replicas: int = 1, **resources: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "modelplane.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": {"model": {"uri": uri}, "resources": resources or dict(H100), "replicas": replicas},
    }


def get_ms(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return kubectl.json("-n", namespace, "get", "ms", name)


def ready(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    ms = get_ms(kubectl, namespace, name)
    cond = condition(ms, "Ready") or {}
    current = ms.get("status", {}).get("observedGeneration") == ms["metadata"]["generation"]
    return ms if current and cond.get("status") == "True" else None


def deployments(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    return kubectl.json(
        "-n", namespace, "get", "deploy", "-l", f"modelplane.io/modelservice={name}"
    )["items"]


def test_apply_creates_children_and_becomes_ready(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(modelservice("chat", replicas=2, **L4), namespace)
    kubectl("-n", namespace, "wait", "ms/chat", "--for=condition=Ready", "--timeout=90s")
    ms = get_ms(kubectl, namespace, "chat")
    rev = ms["status"]["revision"]
    assert ms["status"]["readyReplicas"] == 2 and ms["status"]["replicas"] == 2
    assert ms["status"]["endpoint"] == f"http://chat.{namespace}.svc:8000/v1"
    assert (
        ms["status"]["selector"]
        == "app.kubernetes.io/managed-by=modelplane,modelplane.io/modelservice=chat"
    )

    (deploy,) = deployments(kubectl, namespace, "chat")
    assert deploy["metadata"]["name"] == f"chat-{rev}"
    assert deploy["metadata"]["ownerReferences"][0]["kind"] == "ModelService"
    pod_spec = deploy["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod_spec["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert container["command"] == ["modelplane-runtime", "serve"]
    assert container["args"][:2] == ["--model-uri", "hf://org/tiny@v1"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models"

    services = {s["metadata"]["name"] for s in kubectl.json("-n", namespace, "get", "svc")["items"]}
    assert services == {"chat", f"chat-{rev}"}
    pods = kubectl.json("-n", namespace, "get", "pods", "-l", "modelplane.io/modelservice=chat")[
        "items"
    ]
    assert len(pods) == 2 and all(p["spec"]["nodeName"].startswith("kwok-l4-") for p in pods)
    printed = kubectl("-n", namespace, "get", "ms", "chat").stdout
    assert "ReplicasReady" in printed and "hf://org/tiny@v1" in printed


def test_kubectl_scale_moves_replicas(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        modelservice("scaled", replicas=1, gpus=1, gpuProduct="NVIDIA-H100-80GB-HBM3"), namespace
    )
    wait_for("Ready", lambda: ready(kubectl, namespace, "scaled"))
    kubectl("-n", namespace, "scale", "ms/scaled", "--replicas=3")
    ms = wait_for(
        "3 ready replicas",
        lambda: (
            (m := ready(kubectl, namespace, "scaled")) and m["status"]["readyReplicas"] == 3 and m
        ),
    )
    (deploy,) = deployments(kubectl, namespace, "scaled")
    assert deploy["spec"]["replicas"] == 3
    path = f"/apis/modelplane.io/v1alpha1/namespaces/{namespace}/modelservices/scaled/scale"
    scale = json.loads(kubectl("get", "--raw", path).stdout)
    assert scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == ms["status"]["selector"]


def test_model_change_rolls_to_a_new_revision_without_dropping_to_zero(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(modelservice("roll", uri="hf://org/tiny@v1", replicas=2), namespace)
    first = wait_for("Ready", lambda: ready(kubectl, namespace, "roll"))["status"]["revision"]

    # A new revision whose pods never become Ready: the old one must keep serving.
    stuck = modelservice("roll", uri="hf://org/tiny@v2", replicas=2)
    stuck["spec"]["podMetadata"] = {"annotations": {"modelplane.io/chaos": "never-ready"}}
    kubectl.apply(stuck, namespace)
    wait_for(
        "the second revision's Deployment",
        lambda: len(deployments(kubectl, namespace, "roll")) == 2,
    )
    for _ in range(5):  # several reconciles later, nothing was taken away
        ms = get_ms(kubectl, namespace, "roll")
        names = {d["metadata"]["name"] for d in deployments(kubectl, namespace, "roll")}
        assert f"roll-{first}" in names
        assert ms["status"]["readyReplicas"] >= 2
        assert condition(ms, "Ready")["status"] == "True"
        assert condition(ms, "Progressing")["reason"] == "RollingOut"
        settle(0.5)

    # A good third template: it replaces both; only it remains, Ready.
    kubectl.apply(modelservice("roll", uri="hf://org/tiny@v3", replicas=2), namespace)

    def rolled() -> dict[str, Any] | None:
        ms = ready(kubectl, namespace, "roll")
        if ms is None or ms["status"]["revision"] == first:
            return None
        names = {d["metadata"]["name"] for d in deployments(kubectl, namespace, "roll")}
        alone = names == {f"roll-{ms['status']['revision']}"}
        return ms if alone and condition(ms, "Progressing")["reason"] == "Complete" else None

    wait_for("only the newest revision, Ready, rollout complete", rolled)
    events = kubectl.json(
        "-n", namespace, "get", "events", "--field-selector", "involvedObject.name=roll"
    )
    reasons = [e["reason"] for e in events["items"]]
    assert reasons.count("RevisionCreated") == 3
    # v2 was replaced before it finished; v3 then retired v1.
    assert "RolloutSuperseded" in reasons and "RolloutSucceeded" in reasons


def test_more_gpus_than_any_node_is_unschedulable_naming_the_gpu(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(modelservice("huge", gpus=16, gpuProduct="NVIDIA-H100-80GB-HBM3"), namespace)

    def unschedulable() -> dict[str, Any] | None:
        cond = condition(get_ms(kubectl, namespace, "huge"), "Ready") or {}
        return cond if cond.get("reason") == "Unschedulable" else None

    cond = wait_for("Ready=False Unschedulable", unschedulable)
    assert cond["status"] == "False"
    assert "Insufficient nvidia.com/gpu" in cond["message"]


def test_gpu_product_no_node_offers_is_invalid_spec(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(modelservice("b200", gpus=1, gpuProduct="NVIDIA-B200"), namespace)
    cond = wait_for(
        "InvalidSpec",
        lambda: (
            (c := condition(get_ms(kubectl, namespace, "b200"), "Ready") or {}).get("reason")
            == "InvalidSpec"
            and c
        ),
    )
    assert "spec.resources.gpuProduct" in cond["message"] and "NVIDIA-L4" in cond["message"]
    assert deployments(kubectl, namespace, "b200") == []


def test_missing_secret_is_invalid_spec(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    ms = modelservice("secretive")
    ms["spec"]["runtime"] = {
        "env": [
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
            }
        ]
    }
    kubectl.apply(ms, namespace)
    cond = wait_for(
        "InvalidSpec",
        lambda: (
            (c := condition(get_ms(kubectl, namespace, "secretive"), "Ready") or {}).get("reason")
            == "InvalidSpec"
            and c
        ),
    )
    assert "spec.runtime.env[0].valueFrom.secretKeyRef.name" in cond["message"]
    # Creating the Secret fixes it: the next resync picks it up.
    kubectl(
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "hf-token",
        "--from-literal=token=not-logged",
    )
    wait_for("Ready once the Secret exists", lambda: ready(kubectl, namespace, "secretive"))


def test_crash_looping_pods_make_it_degraded(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    ms = modelservice("crashy")
    ms["spec"]["podMetadata"] = {"annotations": {"modelplane.io/chaos": "crashloop"}}
    kubectl.apply(ms, namespace)

    def degraded() -> dict[str, Any] | None:
        cond = condition(get_ms(kubectl, namespace, "crashy"), "Degraded") or {}
        return cond if cond.get("status") == "True" else None

    cond = wait_for("Degraded=True", degraded)
    assert cond["reason"] == "CrashLoopBackOff"
    assert condition(get_ms(kubectl, namespace, "crashy"), "Ready")["status"] == "False"
    warnings = kubectl.json(
        "-n",
        namespace,
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=crashy,type=Warning",
    )
    assert any(e["reason"] == "CrashLoopBackOff" for e in warnings["items"])


def test_delete_garbage_collects_children(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(modelservice("doomed"), namespace)
    wait_for("Ready", lambda: ready(kubectl, namespace, "doomed"))
    kubectl("-n", namespace, "delete", "ms", "doomed", "--wait=true")
    wait_for(
        "children gone",
        lambda: (
            not deployments(kubectl, namespace, "doomed")
            and not kubectl.json("-n", namespace, "get", "svc")["items"]
        ),
    )


def test_reapply_and_resync_make_zero_writes(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, audit: AuditLog
) -> None:
    manifest = modelservice("steady", replicas=2)
    kubectl.apply(manifest, namespace)
    wait_for("Ready", lambda: ready(kubectl, namespace, "steady"))
    settle(4)  # let the last status write and its echo pass
    mark = audit.mark()
    for _ in range(20):
        kubectl.apply(manifest, namespace)
    settle(7)  # at least two resyncs (MODELPLANE_RESYNC_SECONDS=3)
    writes = audit.writes_since(mark)
    mine = [w for w in writes if w.get("objectRef", {}).get("namespace") == namespace]
    assert mine == [], json.dumps(mine[:3], indent=1)


def test_operator_restart_converges_without_duplicates(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    import signal

    kubectl.apply(modelservice("survivor", uri="hf://org/tiny@v1", replicas=2), namespace)
    operator.stop(signal.SIGKILL)
    kubectl.apply(modelservice("survivor", uri="hf://org/tiny@v2", replicas=2), namespace)
    operator.start()
    ms = wait_for(
        "Ready on the new revision",
        lambda: (
            (m := ready(kubectl, namespace, "survivor"))
            and len(deployments(kubectl, namespace, "survivor")) == 1
            and m
        ),
    )
    (deploy,) = deployments(kubectl, namespace, "survivor")
    assert deploy["metadata"]["name"] == f"survivor-{ms['status']['revision']}"
    services = [s["metadata"]["name"] for s in kubectl.json("-n", namespace, "get", "svc")["items"]]
    assert sorted(services) == sorted(["survivor", f"survivor-{ms['status']['revision']}"])


def test_cached_model_is_fetched_once_before_serving(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    """On simulated nodes the Job's pod 'succeeds' without running: this checks the
    orchestration (claim bound, Job first, serving after); the launcher's real
    download is tested with real vLLM in the runtime tier."""
    ms = modelservice("cached", replicas=2)
    ms["spec"]["model"]["cache"] = {"size": "10Gi"}
    kubectl.apply(ms, namespace)
    ms_ready = wait_for("Ready", lambda: ready(kubectl, namespace, "cached"))
    assert condition(ms_ready, "ModelCached")["status"] == "True"
    assert ms_ready["status"]["model"]["uri"] == "hf://org/tiny@v1"
    claim = kubectl.json("-n", namespace, "get", "pvc", "cached-model-cache")
    assert claim["status"]["phase"] == "Bound"
    (job,) = kubectl.json("-n", namespace, "get", "jobs")["items"]
    assert job["metadata"]["name"].startswith("cached-fetch-")
    assert any(c["type"] == "Complete" for c in job["status"]["conditions"])
    (deploy,) = deployments(kubectl, namespace, "cached")
    volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models-cache"]["persistentVolumeClaim"]["claimName"] == "cached-model-cache"
    # The Job finished before the Deployment existed.
    finished = job["status"]["completionTime"]
    assert deploy["metadata"]["creationTimestamp"] >= finished
