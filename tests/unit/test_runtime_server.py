"""The vLLM command line the launcher execs, and what it never logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.api.uri import parse_model_uri
from modelplane.runtime import server


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("hf://meta-llama/Llama-3.1-8B@main", "meta-llama/Llama-3.1-8B"),
        ("s3://models/llama/8b/", "8b"),
        ("s3://models", "models"),
        ("pvc://weights/llama", "llama"),
        ("pvc://weights", "weights"),
        ("file:///models/tiny/", "tiny"),
    ],
)
def test_default_served_name(uri: str, name: str) -> None:
    assert server.default_served_name(parse_model_uri(uri)) == name


def test_argv_adds_model_and_default_name() -> None:
    argv = server.vllm_argv("py", Path("/cache/m"), "org/m", ["--port", "8000"])
    assert argv == [
        "py", "-m", server.VLLM_MODULE, "--model", "/cache/m",
        "--served-model-name", "org/m", "--port", "8000",
    ]  # fmt: skip
    named = server.vllm_argv("py", Path("/m"), "x", ["--served-model-name=chat"])
    assert named.count("x") == 0 and "--served-model-name=chat" in named


def test_reserved_flags() -> None:
    assert server.reserved_flag(["--port", "1", "--model=x"]) == "--model"
    assert server.reserved_flag(["--revision", "main"]) == "--revision"
    assert server.reserved_flag(["--load-format", "auto"]) == "--load-format"
    assert server.reserved_flag(["--max-model-len", "512"]) is None


def test_redact_hides_secret_values() -> None:
    argv = ["--api-key", "sk-1", "--hf-token=abc", "--port", "8000", "--model", "m"]
    assert server.redact(argv) == [
        "--api-key", "***", "--hf-token=***", "--port", "8000", "--model", "m",
    ]  # fmt: skip


def test_exec_env_keeps_vllm_off_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert server.exec_env()["HF_HUB_OFFLINE"] == "1"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert server.exec_env()["HF_HUB_OFFLINE"] == "0"


def test_vllm_python_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPLANE_VLLM_PYTHON", "/opt/vllm/bin/python")
    assert server.vllm_python() == "/opt/vllm/bin/python"
