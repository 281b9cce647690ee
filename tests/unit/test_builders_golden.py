"""Golden files of the generated objects: review a diff here as you would a manifest.

UPDATE_GOLDEN=1 rewrites them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.api import ModelService, OperatorConfig
from modelplane.builders import (
    build_cache_claim,
    build_deployment,
    build_fetch_job,
    build_revision_service,
    build_service,
    template_hash,
)

GOLDEN = Path(__file__).parent / "golden"
CONFIG = OperatorConfig()
META = {"name": "chat", "namespace": "team-a", "uid": "0b9e5d1c-uid", "labels": {"not": "copied"}}

CASES: dict[str, dict[str, Any]] = {
    "gpu-hf": {
        "model": {"uri": "hf://meta-llama/Llama-3.1-8B-Instruct@0e9e39f", "servedName": "llama-8b"},
        "runtime": {
            "maxModelLen": 8192,
            "extraArgs": ["--enable-prefix-caching"],
            "env": [
                {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
                {"name": "B", "value": "2"},
                {"name": "A", "value": "$(B)"},
            ],
        },
        "resources": {
            "gpus": 1,
            "gpuProduct": "NVIDIA-L4",
            "cpu": 4,
            "memory": "32Gi",
            "shmSize": "8Gi",
            "nodeSelector": {"pool": "inference"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "llm"}],
        },
        "replicas": 2,
    },
    "cpu-file": {
        "model": {"uri": "file:///opt/models/qwen-0.5b"},
        "runtime": {"image": "vllm/vllm-openai-cpu:v0.11.0", "dtype": "float32"},
        "resources": {"gpus": 0, "cpu": "2", "memory": "4Gi"},
    },
    "pvc-tp2": {
        "model": {"uri": "pvc://weights/llama/70b"},
        "runtime": {"tensorParallelSize": 2, "quantization": "fp8", "gpuMemoryUtilization": 0.95},
        "resources": {"gpus": 2, "gpuProduct": "NVIDIA-A100-SXM4-80GB", "shmSize": "16Gi"},
    },
    "hf-cached": {
        "model": {
            "uri": "hf://Qwen/Qwen2.5-7B-Instruct@a09a354",
            "credentialsSecret": "hf-token",
            "cache": {"size": "40Gi", "storageClassName": "fast"},
        },
        "resources": {"gpus": 1, "gpuProduct": "NVIDIA-H100-80GB-HBM3"},
    },
    "s3": {
        "model": {"uri": "s3://models/mistral-7b"},
        "runtime": {
            "env": [
                {
                    "name": "AWS_ACCESS_KEY_ID",
                    "valueFrom": {"configMapKeyRef": {"name": "s3", "key": "id", "optional": True}},
                }
            ]
        },
    },
}


def _ms(case: str) -> ModelService:
    return ModelService.parse({"metadata": META, "spec": CASES[case]})


def _check(name: str, obj: dict[str, Any]) -> None:
    text = yaml.safe_dump(obj, sort_keys=True, width=100)
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs: review, then UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_deployment(case: str) -> None:
    ms = _ms(case)
    replicas = ms.spec.replicas
    _check(
        f"deployment-{case}",
        build_deployment(ms, CONFIG, template_hash(ms, CONFIG), replicas).to_dict(),
    )


def test_services() -> None:
    ms = _ms("gpu-hf")
    _check("service", build_service(ms).to_dict())
    _check("service-revision", build_revision_service(ms, template_hash(ms, CONFIG)).to_dict())


def test_model_cache() -> None:
    ms = _ms("hf-cached")
    claim, job = build_cache_claim(ms), build_fetch_job(ms, CONFIG)
    assert claim is not None and job is not None
    _check("cache-claim", claim.to_dict())
    _check("fetch-job", job.to_dict())
    assert (
        build_cache_claim(_ms("gpu-hf")) is None and build_fetch_job(_ms("gpu-hf"), CONFIG) is None
    )
