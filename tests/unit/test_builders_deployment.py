"""The serving Deployment: placement, resources, drain, probes, security."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.api import ModelService, OperatorConfig
from modelplane.builders import build_deployment, template_hash
from modelplane.builders import constants as c

CONFIG = OperatorConfig()


def _ms(resources: dict[str, Any] | None = None, **spec: Any) -> ModelService:
    return ModelService.parse(
        {
            "metadata": {"name": "chat", "namespace": "ns", "uid": "u", "labels": {"x": "y"}},
            "spec": {"model": {"uri": "hf://org/name"}, "resources": resources or {}, **spec},
        }
    )


def _deploy(ms: ModelService, replicas: int = 1, config: OperatorConfig = CONFIG) -> dict[str, Any]:
    return build_deployment(ms, config, template_hash(ms, config), replicas).to_dict()


def _pod(ms: ModelService) -> dict[str, Any]:
    spec: dict[str, Any] = _deploy(ms)["spec"]["template"]["spec"]
    return spec


def _container(ms: ModelService) -> dict[str, Any]:
    containers: list[dict[str, Any]] = _pod(ms)["containers"]
    assert len(containers) == 1
    return containers[0]


def test_identity_labels_and_owner() -> None:
    ms = _ms()
    h = template_hash(ms, CONFIG)
    d = _deploy(ms, replicas=3)
    labels = {
        "app.kubernetes.io/managed-by": "modelplane",
        "modelplane.io/modelservice": "chat",
        "modelplane.io/revision": h,
    }
    assert d["metadata"]["name"] == f"chat-{h}" and d["metadata"]["namespace"] == "ns"
    assert d["metadata"]["labels"] == labels  # the ModelService's own labels are not copied
    assert d["spec"]["selector"] == {"matchLabels": labels}
    assert d["spec"]["template"]["metadata"]["labels"] == labels
    assert d["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "modelplane.io/v1alpha1",
            "kind": "ModelService",
            "name": "chat",
            "uid": "u",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert d["spec"]["replicas"] == 3


def test_rollout_settings() -> None:
    spec = _deploy(_ms())["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert spec["revisionHistoryLimit"] == 0
    assert spec["progressDeadlineSeconds"] >= c.STARTUP_BUDGET_SECONDS


def test_replicas_come_from_the_caller_not_the_spec() -> None:
    assert _deploy(_ms(replicas=5), replicas=2)["spec"]["replicas"] == 2
    assert _deploy(_ms(), replicas=0)["spec"]["replicas"] == 0


def test_image_default_and_override() -> None:
    assert _container(_ms())["image"] == CONFIG.runtime_image
    other = OperatorConfig(runtime_image="registry.local/rt:1")
    container = _deploy(_ms(), config=other)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/rt:1"
    assert _container(_ms(runtime={"image": "mine:1"}))["image"] == "mine:1"


@pytest.mark.parametrize(
    ("resources", "requests", "limits"),
    [
        ({}, {"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"}),
        (
            {"gpus": 4, "cpu": "8", "memory": "64Gi"},
            {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "4"},
            {"memory": "64Gi", "nvidia.com/gpu": "4"},
        ),
        ({"gpus": 0, "cpu": "2"}, {"cpu": "2"}, None),
        ({"gpus": 0, "memory": "4Gi"}, {"memory": "4Gi"}, {"memory": "4Gi"}),
    ],
)
def test_resources(
    resources: dict[str, Any], requests: dict[str, str], limits: dict[str, str] | None
) -> None:
    got = _container(_ms(resources))["resources"]
    assert got.get("requests") == requests
    assert got.get("limits") == limits


def test_cpu_only_without_requests_sets_no_resources() -> None:
    assert "resources" not in _container(_ms({"gpus": 0}))


@pytest.mark.parametrize(
    ("resources", "selector", "gpu_toleration"),
    [
        ({}, None, True),
        ({"gpus": 0}, None, False),
        ({"gpuProduct": "NVIDIA-L4"}, {"nvidia.com/gpu.product": "NVIDIA-L4"}, True),
        (
            {
                "gpuProduct": "NVIDIA-L4",
                "nodeSelector": {"zone": "b", "nvidia.com/gpu.product": "X"},
            },
            {"nvidia.com/gpu.product": "NVIDIA-L4", "zone": "b"},
            True,
        ),
        ({"gpus": 0, "nodeSelector": {"zone": "b"}}, {"zone": "b"}, False),
    ],
)
def test_placement(
    resources: dict[str, Any], selector: dict[str, str] | None, gpu_toleration: bool
) -> None:
    pod = _pod(_ms(resources))
    assert pod.get("nodeSelector") == selector
    if selector:
        assert list(pod["nodeSelector"]) == sorted(pod["nodeSelector"])
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert (gpu in pod.get("tolerations", [])) == gpu_toleration


def test_user_tolerations_kept_first_and_gpu_one_not_duplicated() -> None:
    user = [
        {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]
    assert _pod(_ms({"tolerations": user}))["tolerations"] == user


def test_env_injected_sorted_then_user_order() -> None:
    env = [{"name": "Z", "value": "1"}, {"name": "A", "value": "$(Z)"}]
    names = [e["name"] for e in _container(_ms(runtime={"env": env}))["env"]]
    assert names == ["HF_HOME", "HOME", "VLLM_NO_USAGE_STATS", "Z", "A"]


def test_volumes_and_mounts() -> None:
    ms = _ms({"shmSize": "8Gi"}, model={"uri": "pvc://weights/llama"})
    pod = _pod(ms)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"] == {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}
    assert volumes["models-cache"] == {"name": "models-cache", "emptyDir": {}}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    assert volumes["model"]["persistentVolumeClaim"] == {"claimName": "weights", "readOnly": True}
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert set(mounts) == {"/dev/shm", "/models-cache", "/tmp", "/models/weights"}
    assert mounts["/models/weights"]["readOnly"] is True
    # Every mount has a volume and the other way round.
    assert {m["name"] for m in mounts.values()} == set(volumes)


@pytest.mark.parametrize("uri", ["hf://org/name", "s3://bucket/x", "file:///m"])
def test_no_model_volume_outside_pvc(uri: str) -> None:
    pod = _pod(_ms(model={"uri": uri}))
    assert "model" not in {v["name"] for v in pod["volumes"]}
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert "sizeLimit" not in next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"]


def test_probes() -> None:
    container = _container(_ms())
    startup, ready, live = (
        container["startupProbe"],
        container["readinessProbe"],
        container["livenessProbe"],
    )
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] == 1800  # 30 min loads
    assert ready["httpGet"] == {"path": "/v1/models", "port": "http"}
    assert (ready["periodSeconds"], ready["failureThreshold"]) == (5, 3)
    assert live["httpGet"] == {"path": "/health", "port": "http"}
    assert (live["periodSeconds"], live["failureThreshold"]) == (10, 6)
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_drain_timing_is_consistent() -> None:
    ms = _ms()
    pod, container = _pod(ms), _container(ms)
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    args = container["args"]
    shutdown = int(args[args.index("--shutdown-timeout") + 1])
    assert (sleep, shutdown) == (10, 30)
    assert pod["terminationGracePeriodSeconds"] == 45
    assert pod["terminationGracePeriodSeconds"] > sleep + shutdown


def test_restricted_security() -> None:
    ms = _ms()
    pod, container = _pod(ms), _container(ms)
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False


def test_command_is_the_launcher() -> None:
    container = _container(_ms())
    assert container["command"] == ["modelplane-runtime", "serve"]
    assert container["args"][:2] == ["--model-uri", "hf://org/name"]


def test_deterministic() -> None:
    assert _deploy(_ms({"nodeSelector": {"b": "1", "a": "2"}})) == _deploy(
        _ms({"nodeSelector": {"a": "2", "b": "1"}})
    )


def test_owner_reference_needs_a_uid() -> None:
    ms = ModelService.parse({"metadata": {"name": "chat"}, "spec": {"model": {"uri": "hf://o/n"}}})
    with pytest.raises(ValueError, match="uid"):
        build_deployment(ms, CONFIG, "h", 1)
