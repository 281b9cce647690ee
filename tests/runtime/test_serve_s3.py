"""The launcher downloads the tiny model from S3 (moto's real HTTP server) and serves it.

Run as in the runtime image: inside vLLM's interpreter with our package added,
so the exec goes to that same interpreter (the other serve tests run the
project's `modelplane-runtime`, which finds vLLM's python3 on PATH as the
local cluster's process node arranges).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .launcher import Served, image_env, image_launcher
from .openai_checks import check_openai, is_vllm_process
from .s3server import MotoS3


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, s3: MotoS3, vllm_bin: Path
) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve-s3")
    server = Served(
        "s3://models/tiny-llama", work / "cache", image_env(vllm_bin, s3.env()),
        work / "launcher.log", launcher=image_launcher(vllm_bin),
    )  # fmt: skip
    server.wait_ready()
    yield server
    assert server.stop() == 0, server.tail()


def test_downloads_then_serves(served: Served, s3: MotoS3) -> None:
    assert is_vllm_process(served.proc.pid)
    identity = served.identity()
    assert identity["source"] == "s3"
    assert str(identity["resolved"]).startswith("sha256:")
    assert served.models() == ["tiny-llama"]  # default served name: the prefix's last segment
    log = served.log.read_text(errors="replace")
    assert "downloaded " in log
    assert s3.secret_key not in log


def test_openai_client(served: Served) -> None:
    check_openai(served.base_url, "tiny-llama")
