"""The launcher serves a pinned revision from the HF-compatible hub; SIGTERM drains streams.

The hub is tests/runtime/hubserver.py on loopback: the repo needs a token, and
`main` has moved past the pinned tag, so serving the tag proves the revision
was resolved to its own commit SHA.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .hubserver import HubServer, Repo
from .launcher import Served, base_env
from .models import TINY_REPO
from .openai_checks import Stream, check_openai, is_vllm_process

TOKEN = "hf_tiny_llama_token"
STREAMS = 8
MAX_TOKENS = 480  # prompt + 480 fits --max-model-len 512


@pytest.fixture(scope="module")
def pinned(hub: HubServer, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    hub.repos[TINY_REPO] = Repo(token=TOKEN)
    v1 = hub.add_commit(TINY_REPO, tiny_model, refs=("main", "v1.0"))
    later = tmp_path_factory.mktemp("later")
    shutil.copytree(tiny_model, later, dirs_exist_ok=True)
    (later / "README.md").write_text("a later commit on main\n")
    assert hub.add_commit(TINY_REPO, later, refs=("main",)) != v1
    return v1


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, hub: HubServer, pinned: str, vllm_bin: Path
) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve-hf")
    env = base_env(vllm_bin, {"HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN})
    server = Served(f"hf://{TINY_REPO}@v1.0", work / "cache", env, work / "launcher.log")
    server.wait_ready()
    yield server
    server.stop()


def test_pinned_revision_resolved_to_its_sha(served: Served, pinned: str) -> None:
    assert is_vllm_process(served.proc.pid)
    identity = served.identity()
    assert identity == {
        "uri": f"hf://{TINY_REPO}@v1.0", "resolved": pinned, "source": "hf",
        "files": identity["files"], "bytes": identity["bytes"],
    }  # fmt: skip
    assert served.models() == [TINY_REPO]
    assert TOKEN not in served.log.read_text(errors="replace")


def test_openai_client(served: Served) -> None:
    check_openai(served.base_url, TINY_REPO)


def test_sigterm_drains_long_streams(served: Served) -> None:
    """Runs last in this module: it stops the server."""
    streams = [Stream(served.port, TINY_REPO, MAX_TOKENS) for _ in range(STREAMS)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in streams]
    for t in threads:
        t.start()
    for s in streams:
        assert s.started.wait(60), "a stream never started"
    in_flight = [len(s.payloads) for s in streams]
    served.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    for t in threads:
        t.join(90)
    assert all(0 < n < MAX_TOKENS for n in in_flight), in_flight  # truly mid-stream at SIGTERM
    assert [s.error for s in streams] == [""] * STREAMS
    assert [s.status for s in streams] == [200] * STREAMS
    assert [s.payloads[-1] for s in streams] == ["[DONE]"] * STREAMS
    assert [s.tokens for s in streams] == [MAX_TOKENS] * STREAMS
    assert served.proc.wait(60) == 0, served.tail()
    assert time.monotonic() - signalled < 45
