"""Parsing, defaults and SpecError paths of the ModelService models."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.api import ModelService, SpecError
from modelplane.api.constants import API_VERSION, GROUP, VERSION


def _obj(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelplane.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": "chat", "namespace": "team-a", **metadata},
        "spec": spec,
    }


MINIMAL = {"model": {"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"}}


def test_defaults() -> None:
    ms = ModelService.parse(_obj(MINIMAL))
    assert ms.spec.replicas == 1
    assert ms.spec.model.served_name is None
    rt = ms.spec.runtime
    assert (rt.image, rt.tensor_parallel_size, rt.max_model_len) == (None, 1, None)
    assert (rt.dtype, rt.quantization, rt.gpu_memory_utilization) == ("auto", None, 0.9)
    assert rt.extra_args == [] and rt.env == []
    res = ms.spec.resources
    assert (res.gpus, res.gpu_product, res.cpu, res.memory, res.shm_size) == (
        1,
        None,
        None,
        None,
        None,
    )
    assert res.node_selector == {} and res.tolerations == []
    assert ms.status.conditions == []


def test_full_spec_round_trips_in_camel_case() -> None:
    spec = {
        "model": {"uri": "s3://models/llama", "servedName": "llama"},
        "runtime": {
            "image": "vllm/vllm-openai:v0.11.0",
            "tensorParallelSize": 2,
            "maxModelLen": 8192,
            "dtype": "bfloat16",
            "quantization": "fp8",
            "gpuMemoryUtilization": 0.85,
            "extraArgs": ["--enable-prefix-caching"],
            "env": [
                {"name": "A", "value": "1"},
                {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "t"}}},
            ],
        },
        "resources": {
            "gpus": 2,
            "gpuProduct": "NVIDIA-L4",
            "cpu": "4",
            "memory": "32Gi",
            "shmSize": "8Gi",
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
        },
        "podMetadata": {"labels": {"team": "a"}, "annotations": {"prometheus.io/scrape": "true"}},
        "replicas": 3,
        "routing": {
            "loadBalancing": "PrefixHash",
            "prefixHash": {"prefixLength": 100, "meanLoadFactor": 150, "replication": 64},
            "apiKeySecret": "llama-keys",
        },
        "rollout": {
            "strategy": "Canary",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            "canary": {
                "steps": [
                    {"weight": 10, "manual": False, "analysis": True},
                    {
                        "weight": 50,
                        "replicas": 2,
                        "pauseSeconds": 60,
                        "manual": False,
                        "analysis": False,
                    },
                ]
            },
            "blueGreen": {"promotion": "Manual", "scaleDownDelaySeconds": 30},
            "analysis": {
                "intervalSeconds": 10,
                "count": 3,
                "failureLimit": 0,
                "initialDelaySeconds": 0,
                "minRequests": 10,
                "inconclusive": "Hold",
                "maxErrorRate": 0.05,
                "maxTtftP95Ratio": 1.5,
            },
            "progressDeadlineSeconds": 600,
        },
        "revisionHistoryLimit": 5,
    }
    ms = ModelService.parse(_obj(spec))
    assert ms.spec.wire() == spec


def test_ignores_unknown_metadata_and_status_fields() -> None:
    obj = _obj(MINIMAL, uid="u", managedFields=[{"manager": "kubectl"}], finalizers=["x"])
    obj["status"] = {"readyReplicas": 1, "fromANewerOperator": {"x": 1}}
    ms = ModelService.parse(obj)
    assert ms.metadata.uid == "u"
    assert ms.status.ready_replicas == 1


def test_integer_quantities_become_strings() -> None:
    ms = ModelService.parse(
        _obj({**MINIMAL, "resources": {"cpu": 4, "memory": "1e3", "shmSize": "1.5Gi"}})
    )
    assert ms.spec.resources.cpu == "4"
    assert ms.spec.resources.memory == "1e3"
    assert ms.spec.resources.shm_size == "1536Mi"


def test_accepts_snake_case_in_python() -> None:
    ms = ModelService.parse(
        _obj({"model": {"uri": "file:///m", "served_name": "m"}, "replicas": 0})
    )
    assert ms.spec.model.served_name == "m"


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ({}, "spec.model", "Field required"),
        ({"model": {"uri": "gs://bucket/x"}}, "spec.model.uri", "must start with hf://"),
        ({"model": {"uri": "hf://only-org"}}, "spec.model.uri", "hf://<org>/<name>"),
        ({"model": {"uri": "s3://A_B/x"}}, "spec.model.uri", "s3://<bucket>"),
        ({"model": {"uri": "pvc://claim/../etc"}}, "spec.model.uri", "'..'"),
        ({"model": {"uri": "file://relative"}}, "spec.model.uri", "file:///"),
        (
            {**MINIMAL, "runtime": {"tensorParallelSize": 0}},
            "spec.runtime.tensorParallelSize",
            "greater than or equal to 1",
        ),
        ({**MINIMAL, "runtime": {"dtype": "int4"}}, "spec.runtime.dtype", "auto"),
        (
            {**MINIMAL, "runtime": {"gpuMemoryUtilization": 0}},
            "spec.runtime.gpuMemoryUtilization",
            "greater than 0",
        ),
        (
            {**MINIMAL, "runtime": {"gpuMemoryUtilization": 1.5}},
            "spec.runtime.gpuMemoryUtilization",
            "less than or equal to 1",
        ),
        (
            {**MINIMAL, "runtime": {"quantization": "AWQ"}},
            "spec.runtime.quantization",
            "pattern",
        ),
        (
            {**MINIMAL, "runtime": {"env": [{"name": "A", "valueFrom": {"bogus": {}}}]}},
            "spec.runtime.env[0].valueFrom.bogus",
            "Extra inputs",
        ),
        ({**MINIMAL, "resources": {"gpus": -1}}, "spec.resources.gpus", "greater than or equal"),
        ({**MINIMAL, "resources": {"memory": "-1Gi"}}, "spec.resources.memory", "quantity"),
        ({**MINIMAL, "resources": {"cpu": "four"}}, "spec.resources.cpu", "quantity"),
        (
            {**MINIMAL, "resources": {"tolerations": [{"effect": "Never"}]}},
            "spec.resources.tolerations[0].effect",
            "NoSchedule",
        ),
        ({**MINIMAL, "replicas": -1}, "spec.replicas", "greater than or equal to 0"),
        ({**MINIMAL, "replica": 1}, "spec.replica", "Extra inputs"),
    ],
)
def test_spec_error_names_the_camel_case_field(
    spec: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(SpecError) as info:
        ModelService.parse(_obj(spec))
    assert info.value.field == field
    assert fragment in str(info.value)
    assert str(info.value).startswith(field)


def test_spec_error_lists_every_problem() -> None:
    with pytest.raises(SpecError) as info:
        ModelService.parse(_obj({**MINIMAL, "replicas": -1, "resources": {"gpus": -1}}))
    assert {p for p, _ in info.value.problems} == {"spec.replicas", "spec.resources.gpus"}


def test_missing_metadata_name() -> None:
    with pytest.raises(SpecError) as info:
        ModelService.parse({"metadata": {}, "spec": MINIMAL})
    assert info.value.field == "metadata.name"


def test_parsed_objects_are_frozen() -> None:
    ms = ModelService.parse(_obj(MINIMAL))
    with pytest.raises(ValueError, match="frozen"):
        ms.spec.replicas = 2  # type: ignore[misc]


def test_api_version_literal_matches_group_and_version() -> None:
    assert f"{GROUP}/{VERSION}" == API_VERSION
