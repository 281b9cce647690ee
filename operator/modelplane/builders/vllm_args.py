"""The serving container's command line: the launcher's own flags, then the
vLLM OpenAI server's, built from the spec.

The launcher turns the model URI into a local directory and passes it to
vLLM as --model (and --served-model-name is ours), so every URI scheme is
served the same way and the weights can come from a shared cache.
"""

from __future__ import annotations

from modelplane.api.constants import MODELS_CACHE_PATH, PVC_MODELS_ROOT, SERVING_PORT
from modelplane.api.resource import ModelService
from modelplane.api.uri import PVCSource
from modelplane.builders.constants import VLLM_HOST, VLLM_SHUTDOWN_TIMEOUT_SECONDS
from modelplane.builders.naming import served_name


def pvc_mount_path(source: PVCSource) -> str:
    """Where a pvc:// model's claim is mounted: /models/<claim>."""
    return f"{PVC_MODELS_ROOT}/{source.claim}"


def vllm_args(ms: ModelService) -> list[str]:
    """vLLM's arguments: operator-owned flags first, extraArgs last."""
    runtime = ms.spec.runtime
    args = [
        "--served-model-name",
        served_name(ms),
        "--host",
        VLLM_HOST,
        "--port",
        str(SERVING_PORT),
        "--tensor-parallel-size",
        str(runtime.tensor_parallel_size),
    ]
    if runtime.max_model_len is not None:
        args += ["--max-model-len", str(runtime.max_model_len)]
    args += ["--dtype", runtime.dtype]
    if runtime.quantization is not None:
        args += ["--quantization", runtime.quantization]
    args += [
        "--gpu-memory-utilization",
        repr(runtime.gpu_memory_utilization),
        "--shutdown-timeout",
        str(VLLM_SHUTDOWN_TIMEOUT_SECONDS),
        *runtime.extra_args,
    ]
    return args


def launcher_args(ms: ModelService) -> list[str]:
    """Arguments of `modelplane-runtime serve`: the model, the cache, then vLLM's."""
    return [
        "--model-uri",
        ms.spec.model.uri,
        "--cache-dir",
        MODELS_CACHE_PATH,
        "--",
        *vllm_args(ms),
    ]
