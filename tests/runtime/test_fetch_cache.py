"""The shared cache: keyed by resolved identity, deduplicated, resumable, locked.

Downloads come from the HF-compatible hub on loopback (hubserver.py), which
counts what it served, so "never downloaded twice" is measured, not assumed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from modelplane.runtime.cache import COMPLETE_MARKER, partial_path

from .hubserver import HubServer, Repo, scan
from .launcher import LAUNCHER, fetch
from .s3server import MotoS3

WEIGHTS = "model.safetensors"


@pytest.fixture
def repo(hub: HubServer, tiny_model: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    name = f"t/{request.node.name.replace('_', '-')[:60]}"
    hub.repos[name] = Repo(page_size=2)  # several pages: the launcher must follow Link
    sha = hub.add_commit(name, tiny_model, refs=("main", "v1"))
    yield name, sha
    hub.repos.pop(name, None)


def gets(hub: HubServer, name: str, sha: str, path: str) -> int:
    return hub.requests[("GET", f"/{name}/resolve/{sha}/{path}")]


def identity_of(result_stderr: str) -> dict[str, object]:
    line = next(x for x in result_stderr.splitlines() if "model identity: " in x)
    data: dict[str, object] = json.loads(line.split("model identity: ", 1)[1])
    return data


def test_revision_resolves_to_sha_and_second_fetch_downloads_nothing(
    tmp_path: Path, env: dict[str, str], hub: HubServer, repo: tuple[str, str], tiny_model: Path
) -> None:
    name, sha = repo
    env["HF_ENDPOINT"] = hub.url
    first = fetch(f"hf://{name}@v1", tmp_path, env)
    assert first.returncode == 0, first.stderr
    ident = identity_of(first.stderr)
    files = scan(tiny_model)
    assert ident == {
        "uri": f"hf://{name}@v1", "resolved": sha, "source": "hf",
        "files": len(files), "bytes": sum(f.size for f in files.values()),
    }  # fmt: skip
    snapshot = tmp_path / "hf" / name.replace("/", "--") / sha
    assert (snapshot / COMPLETE_MARKER).is_file()
    assert (snapshot / WEIGHTS).read_bytes() == (tiny_model / WEIGHTS).read_bytes()
    again = fetch(f"hf://{name}", tmp_path, env)  # main -> the same commit
    assert again.returncode == 0, again.stderr
    assert "cache hit" in again.stderr
    assert all(gets(hub, name, sha, p) == 1 for p in files)


def test_pinned_commit_needs_no_network_once_cached(
    tmp_path: Path, env: dict[str, str], hub: HubServer, repo: tuple[str, str]
) -> None:
    name, sha = repo
    env["HF_ENDPOINT"] = hub.url
    assert fetch(f"hf://{name}@{sha}", tmp_path, env).returncode == 0
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there
    offline = fetch(f"hf://{name}@{sha}", tmp_path, env)
    assert offline.returncode == 0, offline.stderr
    assert identity_of(offline.stderr)["resolved"] == sha


def test_new_revision_downloads_only_changed_files(
    tmp_path: Path, env: dict[str, str], hub: HubServer, repo: tuple[str, str], tiny_model: Path
) -> None:
    name, old = repo
    env["HF_ENDPOINT"] = hub.url
    cache = tmp_path / "cache"
    assert fetch(f"hf://{name}", cache, env).returncode == 0
    changed = tmp_path / "changed"
    subprocess.run(["cp", "-r", str(tiny_model), str(changed)], check=True)
    (changed / "README.md").write_text("# tiny llama, now with a README\n")
    new = hub.add_commit(name, changed)
    result = fetch(f"hf://{name}", cache, env)
    assert result.returncode == 0, result.stderr
    assert identity_of(result.stderr)["resolved"] == new != old
    assert gets(hub, name, new, WEIGHTS) == 0  # same weights: linked from the blob store
    assert gets(hub, name, new, "README.md") == 1


def test_partial_download_resumes_with_range(
    tmp_path: Path, env: dict[str, str], hub: HubServer, repo: tuple[str, str], tiny_model: Path
) -> None:
    name, sha = repo
    env["HF_ENDPOINT"] = hub.url
    weights = (tiny_model / WEIGHTS).read_bytes()
    digest = scan(tiny_model)[WEIGHTS].sha256
    blob = tmp_path / "blobs" / f"sha256-{digest}"
    blob.parent.mkdir(parents=True)
    half = len(weights) // 2
    partial_path(blob).write_bytes(weights[:half])  # a pod killed mid-download
    result = fetch(f"hf://{name}", tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert (f"/{name}/resolve/{sha}/{WEIGHTS}", f"bytes={half}-") in hub.ranges
    assert f"resuming {WEIGHTS} at {half}" in result.stderr
    assert blob.read_bytes() == weights


def test_two_pods_on_one_volume_download_once(
    tmp_path: Path, env: dict[str, str], hub: HubServer, repo: tuple[str, str], tiny_model: Path
) -> None:
    name, sha = repo
    hub.repos[name].slow = 0.1  # the weights take ~2.5 s: the second pod arrives mid-download
    env["HF_ENDPOINT"] = hub.url
    argv = [str(LAUNCHER), "fetch", "--model-uri", f"hf://{name}", "--cache-dir", str(tmp_path),
            "--progress-interval", "0.2"]  # fmt: skip
    pods = [subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[1] for p in pods]
    assert [p.returncode for p in pods] == [0, 0], outputs
    assert all(gets(hub, name, sha, p) == 1 for p in scan(tiny_model))
    assert any("waiting for another download" in out for out in outputs), outputs
    assert any("cache filled by another download" in out for out in outputs), outputs
    assert any("download progress: " in out and "/s, ETA" in out for out in outputs), outputs
    assert identity_of(outputs[0]) == identity_of(outputs[1])


def test_s3_fetch_verifies_and_reuses(tmp_path: Path, env: dict[str, str], s3: MotoS3) -> None:
    env.update(s3.env())
    first = fetch("s3://models/tiny-llama", tmp_path, env)
    assert first.returncode == 0, first.stderr
    ident = identity_of(first.stderr)
    assert ident["source"] == "s3"
    assert str(ident["resolved"]).startswith("sha256:")
    assert s3.secret_key not in first.stderr
    again = fetch("s3://models/tiny-llama/", tmp_path, env)
    assert "cache hit" in again.stderr
    assert identity_of(again.stderr)["resolved"] == ident["resolved"]


def test_hf_token_is_used_and_never_logged(
    tmp_path: Path, env: dict[str, str], hub: HubServer, repo: tuple[str, str]
) -> None:
    name, _ = repo
    hub.repos[name].token = "hf_secret_value_123"
    env.update(HF_ENDPOINT=hub.url, HF_TOKEN="hf_secret_value_123")
    result = fetch(f"hf://{name}", tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "hf_secret_value_123" not in result.stderr


def test_token_is_not_sent_to_the_cdn_host(
    tmp_path: Path, env: dict[str, str], hub: HubServer, repo: tuple[str, str]
) -> None:
    """The hub redirects file downloads to a CDN host: the token must stay with the hub."""
    name, _ = repo
    hub.repos[name].token = "hf_cdn_test_token"
    hub.repos[name].cdn = True
    env.update(HF_ENDPOINT=hub.url, HF_TOKEN="hf_cdn_test_token")
    before = len(hub.cdn_auth)
    result = fetch(f"hf://{name}", tmp_path, env)
    assert result.returncode == 0, result.stderr
    received = hub.cdn_auth[before:]
    assert received and all(auth is None for auth in received), received
