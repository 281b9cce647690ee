"""Every way a fetch can fail gives one `ModelDownloadFailed:` line, exit 1, nothing complete.

Real sources on loopback: the HF-compatible hub (hubserver.py), moto's S3 server
(with authentication on), and a TCP listener that never answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelplane.runtime.cache import COMPLETE_MARKER, PARTIAL_SUFFIX

from .hubserver import HubServer, Repo
from .launcher import Result, fetch
from .models import TINY_REPO
from .s3server import MotoS3, StalledServer


def assert_failed(result: Result, cause: str, cache: Path) -> None:
    assert result.returncode == 1, result.stderr
    assert result.last_line.startswith("ModelDownloadFailed: "), result.stderr
    assert cause in result.last_line, result.last_line
    assert len(result.last_line) < 400
    assert not list(cache.rglob(COMPLETE_MARKER)), "a failed fetch left a complete snapshot"
    snapshots = [p for p in cache.rglob("*") if p.is_file() and ".locks" not in p.parts]
    for path in snapshots:  # only resumable partials may stay, never a usable file
        assert path.name.endswith(PARTIAL_SUFFIX) or "blobs" in path.parts, path


Publish = Callable[..., str]


@pytest.fixture
def publish(hub: HubServer, tiny_model: Path) -> Iterator[Publish]:
    """A fresh repo with its own quirks for one test."""
    made: list[str] = []

    def make(name: str, **quirks: object) -> str:
        hub.repos[name] = Repo(**quirks)  # type: ignore[arg-type]
        made.append(name)
        return hub.add_commit(name, tiny_model)

    yield make
    for name in made:
        hub.repos.pop(name, None)


def test_bad_uri(tmp_path: Path, env: dict[str, str]) -> None:
    result = fetch("hf://only-one-part", tmp_path, env)
    assert_failed(result, "invalid URI: 'hf://only-one-part'", tmp_path)
    assert_failed(fetch("gs://bucket/model", tmp_path, env), "invalid URI", tmp_path)


def test_missing_local_path(tmp_path: Path, env: dict[str, str]) -> None:
    result = fetch("file:///nonexistent/model", tmp_path, env)
    assert_failed(result, "not found: /nonexistent/model does not exist", tmp_path)
    env["MODELPLANE_PVC_ROOT"] = str(tmp_path / "models")
    result = fetch("pvc://weights/llama", tmp_path, env)
    assert_failed(result, "not found:", tmp_path)


def test_missing_hub_file(
    tmp_path: Path, env: dict[str, str], hub: HubServer, publish: Publish
) -> None:
    publish("t/missing-file", missing={"tokenizer.json"})
    env["HF_ENDPOINT"] = hub.url
    result = fetch("hf://t/missing-file", tmp_path, env)
    assert_failed(result, "not found: tokenizer.json in hf://t/missing-file@", tmp_path)
    assert "EntryNotFound" in result.last_line


def test_missing_repo_and_revision(tmp_path: Path, env: dict[str, str], hub: HubServer) -> None:
    env["HF_ENDPOINT"] = hub.url
    assert_failed(fetch("hf://t/no-such-repo", tmp_path, env), "not found:", tmp_path)
    result = fetch(f"hf://{TINY_REPO}@no-such-branch", tmp_path, env)
    assert_failed(result, "not found: revision no-such-branch of hf://", tmp_path)


def test_missing_s3_prefix(tmp_path: Path, vllm_bin: Path, s3: MotoS3, env: dict[str, str]) -> None:
    env.update(s3.env())
    result = fetch("s3://models/no-such-model", tmp_path, env)
    assert_failed(result, "not found: s3://models/no-such-model has no objects", tmp_path)
    result = fetch("s3://no-such-bucket/x", tmp_path, env)
    assert_failed(result, "not found: s3://no-such-bucket/x (HTTP 404 NoSuchBucket)", tmp_path)


def test_wrong_checksum(
    tmp_path: Path, env: dict[str, str], hub: HubServer, publish: Publish
) -> None:
    publish("t/corrupt", corrupt={"model.safetensors"})
    env["HF_ENDPOINT"] = hub.url
    result = fetch("hf://t/corrupt", tmp_path, env)
    assert_failed(result, "checksum mismatch for model.safetensors (sha256 expected", tmp_path)
    # The corrupt bytes are not kept, not even as a partial to resume from.
    assert not [p for p in (tmp_path / "blobs").iterdir() if p.name.startswith("sha256-")]


def test_stalled_hub_times_out(
    tmp_path: Path, env: dict[str, str], hub: HubServer, publish: Publish
) -> None:
    publish("t/stalled", stall=True)
    env["HF_ENDPOINT"] = hub.url
    result = fetch("hf://t/stalled", tmp_path, env, "--download-timeout", "3")
    assert_failed(result, "timed out after 3 s fetching hf://t/stalled", tmp_path)


def test_stalled_s3_times_out(
    tmp_path: Path, env: dict[str, str], stalled: StalledServer, s3: MotoS3
) -> None:
    env.update({**s3.env(), "AWS_ENDPOINT_URL": stalled.url})
    result = fetch("s3://models/tiny-llama", tmp_path, env, "--download-timeout", "3")
    assert_failed(result, "timed out after 3 s fetching s3://models/tiny-llama", tmp_path)


def test_refused_hub_token(
    tmp_path: Path, env: dict[str, str], hub: HubServer, publish: Publish
) -> None:
    publish("t/gated", token="hf_right_token")
    env["HF_ENDPOINT"] = hub.url
    result = fetch("hf://t/gated", tmp_path, env)
    assert_failed(
        result, "unauthorized (HTTP 401 GatedRepo) for revision main of hf://t/gated", tmp_path
    )
    env["HF_TOKEN"] = "hf_wrong_token_value"
    result = fetch("hf://t/gated", tmp_path, env)
    assert_failed(result, "forbidden (HTTP 403 GatedRepo)", tmp_path)
    assert "hf_wrong_token_value" not in result.stderr


def test_refused_s3_secret(tmp_path: Path, env: dict[str, str], s3: MotoS3) -> None:
    env.update(s3.env(secret="not-the-secret-key"))
    result = fetch("s3://models/tiny-llama", tmp_path, env)
    assert_failed(
        result, "forbidden (HTTP 403 SignatureDoesNotMatch) for s3://models/tiny-llama", tmp_path
    )
    assert "not-the-secret-key" not in result.stderr


def test_identity_file_gets_the_failure(tmp_path: Path, env: dict[str, str]) -> None:
    report = tmp_path / "termination-log"
    result = fetch("file:///nonexistent", tmp_path / "cache", env, "--identity-file", str(report))
    assert result.returncode == 1
    assert report.read_text().startswith("ModelDownloadFailed: not found: /nonexistent")


def test_serve_failure_does_not_start_vllm(tmp_path: Path, env: dict[str, str]) -> None:
    import subprocess

    from .launcher import LAUNCHER

    proc = subprocess.run(
        [str(LAUNCHER), "serve", "--model-uri", "file:///nonexistent", "--cache-dir",
         str(tmp_path), "--", "--port", "1"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("ModelDownloadFailed: not found")
    assert "vllm.entrypoints" not in proc.stderr
