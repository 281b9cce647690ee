"""Runtime tier: the real launcher, real vLLM on CPU, real HTTP sources on loopback.

Needs `make vllm` (the cached vLLM-on-CPU venv); nothing here is skipped. The
tiny model is generated once and cached; the S3 endpoint is moto in server
mode (a separate HTTP process), the hub is tests/runtime/hubserver.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .hubserver import HubServer
from .launcher import base_env
from .models import ensure_tiny_model, vllmenv
from .s3server import MotoS3, StalledServer


@pytest.fixture(scope="session")
def vllm_bin() -> Path:
    if not vllmenv.is_installed():
        pytest.fail(f"no vLLM venv at {vllmenv.venv_dir()}: run `make vllm` first")
    return Path(vllmenv.venv_dir()) / "bin"


@pytest.fixture(scope="session")
def tiny_model(vllm_bin: Path) -> Path:
    return ensure_tiny_model(vllm_bin / "python")


@pytest.fixture(scope="session")
def hub(tiny_model: Path) -> Iterator[HubServer]:
    server = HubServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[MotoS3]:
    server = MotoS3(tmp_path_factory.mktemp("moto") / "moto.log")
    server.upload("models", "tiny-llama", tiny_model)
    yield server
    server.stop()


@pytest.fixture
def stalled() -> Iterator[StalledServer]:
    server = StalledServer()
    yield server
    server.stop()


@pytest.fixture
def env(vllm_bin: Path) -> dict[str, str]:
    return base_env(vllm_bin)
