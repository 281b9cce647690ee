"""The simulated GPU fleet: the real scheduler places pods on KWOK nodes."""

from __future__ import annotations

from typing import Any

from .kube import Kubectl, condition, wait_for

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def gpu_pod(
    name: str, gpus: int, product: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": product},
            "tolerations": [GPU_TOLERATION],
            "containers": [
                {
                    "name": "main",
                    "image": "vllm/vllm-openai:v0.11.0",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
        },
    }


def test_all_fleet_nodes_are_ready_with_gpu_labels(kubectl: Kubectl) -> None:
    nodes = {n["metadata"]["name"]: n for n in kubectl.json("get", "nodes")["items"]}
    h100 = [
        n
        for n in nodes.values()
        if n["metadata"]["labels"].get("nvidia.com/gpu.product") == "NVIDIA-H100-80GB-HBM3"
    ]
    l4 = [
        n
        for n in nodes.values()
        if n["metadata"]["labels"].get("nvidia.com/gpu.product") == "NVIDIA-L4"
    ]
    assert len(h100) == 2 and len(l4) == 2
    assert all(n["status"]["allocatable"]["nvidia.com/gpu"] == "8" for n in h100)
    assert all(n["metadata"]["labels"]["nvidia.com/gpu.count"] == "1" for n in l4)
    assert all(
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in n["spec"]["taints"]
        for n in h100
    )
    local = nodes["local-0"]
    assert local["metadata"]["labels"]["modelplane.io/node-kind"] == "local"
    assert any(
        t["key"] == "modelplane.io/local" and t["effect"] == "NoSchedule"
        for t in local["spec"]["taints"]
    )
    for node in nodes.values():
        assert condition(node, "Ready")["status"] == "True", node["metadata"]["name"]


def test_version_is_reported_as_the_pinned_release(kubectl: Kubectl) -> None:
    version = kubectl.json("version")
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"
    assert version["clientVersion"]["gitVersion"] == "v1.36.3"


def test_eight_gpu_pod_lands_on_an_h100_node(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(gpu_pod("big", 8, "NVIDIA-H100-80GB-HBM3"), namespace)
    pod = wait_for(
        "pod big Ready",
        lambda: (
            (p := kubectl.json("-n", namespace, "get", "pod", "big"))
            and (condition(p, "Ready") or {}).get("status") == "True"
            and p
        ),
    )
    assert pod["spec"]["nodeName"].startswith("kwok-h100-")
    assert pod["status"]["podIP"].startswith("10.245.")


def test_unknown_gpu_product_stays_pending_with_the_schedulers_reason(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(gpu_pod("nowhere", 1, "NVIDIA-B200"), namespace)

    def failed_scheduling() -> str:
        events = kubectl.json(
            "-n", namespace, "get", "events", "--field-selector", "involvedObject.name=nowhere"
        )
        return next(
            (e["message"] for e in events["items"] if e["reason"] == "FailedScheduling"), ""
        )

    message = wait_for("FailedScheduling event", failed_scheduling)
    assert "didn't match Pod's node affinity/selector" in message
    pod = kubectl.json("-n", namespace, "get", "pod", "nowhere")
    assert pod["status"]["phase"] == "Pending"
    assert condition(pod, "PodScheduled")["reason"] == "Unschedulable"


def test_more_gpus_than_any_node_has_names_the_gpu(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(gpu_pod("huge", 16, "NVIDIA-H100-80GB-HBM3"), namespace)
    message = wait_for(
        "FailedScheduling naming nvidia.com/gpu",
        lambda: next(
            (
                e["message"]
                for e in kubectl.json("-n", namespace, "get", "events")["items"]
                if e["reason"] == "FailedScheduling"
            ),
            "",
        ),
    )
    assert "Insufficient nvidia.com/gpu" in message


def test_chaos_annotation_makes_a_kwok_pod_crash_loop(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        gpu_pod("crashy", 1, "NVIDIA-H100-80GB-HBM3", {"modelplane.io/chaos": "crashloop"}),
        namespace,
    )

    def restarts() -> int:
        pod = kubectl.json("-n", namespace, "get", "pod", "crashy")
        statuses = pod["status"].get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount", 0))

    first = wait_for("a first restart", restarts)
    wait_for("restartCount rising", lambda: restarts() > first)
    pod = kubectl.json("-n", namespace, "get", "pod", "crashy")
    status = pod["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert condition(pod, "Ready")["status"] == "False"


def test_never_ready_chaos_pod_runs_but_is_not_ready(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        gpu_pod("stuck", 1, "NVIDIA-H100-80GB-HBM3", {"modelplane.io/chaos": "never-ready"}),
        namespace,
    )
    pod = wait_for(
        "pod running",
        lambda: (
            (p := kubectl.json("-n", namespace, "get", "pod", "stuck"))["status"].get("phase")
            == "Running"
            and p
        ),
    )
    assert condition(pod, "Ready")["status"] == "False"
    assert pod["status"]["containerStatuses"][0]["state"]["running"]
