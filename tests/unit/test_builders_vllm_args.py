"""The vLLM command line per URI scheme and per runtime setting."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.api import ModelService
from modelplane.builders import launcher_args, vllm_args

COMMON_TAIL = ["--gpu-memory-utilization", "0.9", "--shutdown-timeout", "30"]


def _ms(uri: str = "hf://org/name", **runtime: Any) -> ModelService:
    return ModelService.parse(
        {
            "metadata": {"name": "chat", "namespace": "ns"},
            "spec": {"model": {"uri": uri}, "runtime": runtime, "resources": {"gpus": 4}},
        }
    )


def _value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize(
    "uri",
    ["hf://org/name@abc123", "s3://bucket/llama/8b", "pvc://weights/llama", "file:///opt/llama"],
)
def test_the_launcher_gets_the_uri_and_vllm_gets_no_model_flag(uri: str) -> None:
    args = launcher_args(_ms(uri))
    assert args[:5] == ["--model-uri", uri, "--cache-dir", "/models-cache", "--"]
    assert args[5:] == vllm_args(_ms(uri))
    assert not {"--model", "--revision", "--load-format"} & set(args)


def test_defaults() -> None:
    assert vllm_args(_ms()) == [
        "--served-model-name", "chat",
        "--host", "0.0.0.0",
        "--port", "8000",
        "--tensor-parallel-size", "1",
        "--dtype", "auto",
        *COMMON_TAIL,
    ]  # fmt: skip


def test_every_setting() -> None:
    args = vllm_args(
        _ms(
            tensorParallelSize=4,
            maxModelLen=8192,
            dtype="bfloat16",
            quantization="fp8",
            gpuMemoryUtilization=0.95,
            extraArgs=["--enable-prefix-caching", "--max-num-seqs", "128"],
        )
    )
    assert _value(args, "--tensor-parallel-size") == "4"
    assert _value(args, "--max-model-len") == "8192"
    assert _value(args, "--dtype") == "bfloat16"
    assert _value(args, "--quantization") == "fp8"
    assert _value(args, "--gpu-memory-utilization") == "0.95"
    assert args[-3:] == ["--enable-prefix-caching", "--max-num-seqs", "128"]  # extraArgs last


def test_served_name_override() -> None:
    ms = ModelService.parse(
        {
            "metadata": {"name": "chat"},
            "spec": {"model": {"uri": "hf://org/name", "servedName": "org/name"}},
        }
    )
    assert _value(vllm_args(ms), "--served-model-name") == "org/name"


def test_utilization_keeps_full_precision() -> None:
    assert _value(vllm_args(_ms(gpuMemoryUtilization=0.123456789)), "--gpu-memory-utilization") == (
        "0.123456789"
    )
    assert _value(vllm_args(_ms(gpuMemoryUtilization=1)), "--gpu-memory-utilization") == "1.0"
