"""The launcher serves the tiny model from file:// with real vLLM on CPU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .launcher import Served, base_env
from .openai_checks import check_openai, is_vllm_process


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, vllm_bin: Path
) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve-file")
    server = Served(
        f"file://{tiny_model}", work / "cache", base_env(vllm_bin), work / "launcher.log",
        "--served-model-name", "tiny-chat",
    )  # fmt: skip
    server.wait_ready()
    yield server
    assert server.stop() == 0, server.tail()


def test_same_pid_becomes_vllm_and_reports_identity(served: Served, tiny_model: Path) -> None:
    assert is_vllm_process(served.proc.pid)
    identity = served.identity()
    assert identity["uri"] == f"file://{tiny_model}"
    assert identity["source"] == "file"
    assert str(identity["resolved"]).startswith("sha256:")
    assert identity["files"] == len([p for p in tiny_model.iterdir() if p.is_file()])
    assert served.models() == ["tiny-chat"]  # the caller's name wins over the default


def test_openai_client(served: Served) -> None:
    check_openai(served.base_url, "tiny-chat")
