"""The vLLM OpenAI server's command line, built from the spec.

Until the runtime launcher fetches models itself, each URI scheme maps onto
what vLLM reads natively (see `model_args`).
"""

from __future__ import annotations

from modelplane.api.constants import PVC_MODELS_ROOT, SERVING_PORT
from modelplane.api.resource import ModelService
from modelplane.api.uri import FileSource, HuggingFaceSource, ModelSource, PVCSource, S3Source
from modelplane.builders.constants import VLLM_HOST, VLLM_SHUTDOWN_TIMEOUT_SECONDS
from modelplane.builders.naming import served_name


def pvc_mount_path(source: PVCSource) -> str:
    """Where a pvc:// model's claim is mounted: /models/<claim>."""
    return f"{PVC_MODELS_ROOT}/{source.claim}"


def model_args(source: ModelSource) -> list[str]:
    """--model (and --revision / --load-format) for one model source.

    hf://org/name@rev -> --model org/name --revision rev (vLLM downloads to HF_HOME);
    s3://bucket/prefix -> --model s3://bucket/prefix --load-format runai_streamer;
    pvc://claim/path  -> --model /models/<claim>/<path> (the claim mounted read-only);
    file:///path      -> --model /path (already visible in the pod).
    """
    match source:
        case HuggingFaceSource(repo=repo, revision=revision):
            return ["--model", repo, *(["--revision", revision] if revision else [])]
        case S3Source(uri=uri):
            return ["--model", uri, "--load-format", "runai_streamer"]
        case PVCSource(path=path):
            root = pvc_mount_path(source)
            return ["--model", f"{root}/{path}" if path else root]
        case FileSource(path=path):
            return ["--model", path]


def vllm_args(ms: ModelService) -> list[str]:
    """Every argument after the command: operator-owned flags first, extraArgs last."""
    runtime = ms.spec.runtime
    args = [
        *model_args(ms.spec.model.source()),
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
