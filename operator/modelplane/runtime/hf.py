"""hf://org/name[@revision]: resolve the revision to its commit SHA, list and stream files.

Speaks the hub's HTTP API (the routes huggingface_hub's snapshot_download uses):
  GET  /api/models/<repo>/revision/<rev>        -> {"sha": ...}
  GET  /api/models/<repo>/tree/<sha>?recursive  -> files with size, oid, lfs.oid (sha256)
  GET  /<repo>/resolve/<sha>/<path>             -> bytes, Range honoured
HF_ENDPOINT and HF_TOKEN come from the environment; the token only ever goes
into the Authorization header.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

from huggingface_hub import __version__ as hf_hub_version
from huggingface_hub import hf_hub_url

from modelplane.api.uri import HuggingFaceSource
from modelplane.runtime.deadline import Deadline, with_retries
from modelplane.runtime.errors import ModelDownloadFailed
from modelplane.runtime.transfer import GIT_SHA1, RemoteFile
from modelplane.runtime.web import iter_body, open_url

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_REVISION = "main"
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
CHUNK = 1 << 20
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
# Weights vLLM never reads when safetensors are present (vLLM's own download rule).
_OTHER_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf")


class HubRepo:
    """One repository on an HF-compatible hub, at a revision resolved to its commit SHA."""

    def __init__(self, source: HuggingFaceSource, uri: str) -> None:
        self.repo = source.repo
        self.revision = source.revision or DEFAULT_REVISION
        self.uri = uri
        self.endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        self.headers = {
            "User-Agent": f"modelplane-runtime; hf_hub/{hf_hub_version}",
            "Accept-Encoding": "identity",  # sizes must be the real sizes
        }
        if token := os.environ.get("HF_TOKEN"):
            self.headers["Authorization"] = f"Bearer {token}"
        self.sha = self.revision if COMMIT_SHA.fullmatch(self.revision) else ""

    def _get_json(self, url: str, what: str, deadline: Deadline) -> tuple[object, str | None]:
        def once() -> tuple[object, str | None]:
            timeout = deadline.request_timeout()
            with open_url(url, self.headers, timeout, what) as response:
                body = response.read()
                link = response.headers.get("Link")
            try:
                data = json.loads(body)
            except ValueError:
                raise ModelDownloadFailed(f"{what}: the hub answered with no JSON") from None
            match = _LINK_NEXT.search(link or "")
            return data, match.group(1) if match else None

        return with_retries(what, once, deadline)

    def resolve(self, deadline: Deadline) -> str:
        """The commit SHA the revision points at now."""
        what = f"revision {self.revision} of hf://{self.repo}"
        url = f"{self.endpoint}/api/models/{self.repo}/revision/{quote(self.revision, safe='')}"
        data, _ = self._get_json(url, what, deadline)
        sha = data.get("sha") if isinstance(data, dict) else None
        if not isinstance(sha, str) or not COMMIT_SHA.fullmatch(sha):
            raise ModelDownloadFailed(f"{what}: the hub gave no commit SHA")
        self.sha = sha
        return sha

    def list_files(self, deadline: Deadline) -> list[RemoteFile]:
        """Every file at the resolved commit, with sizes and the hashes the hub gives."""
        url: str | None = f"{self.endpoint}/api/models/{self.repo}/tree/{self.sha}?recursive=true"
        files: list[RemoteFile] = []
        while url is not None:
            page, url = self._get_json(url, f"file list of hf://{self.repo}@{self.sha}", deadline)
            if not isinstance(page, list):
                raise ModelDownloadFailed(f"hf://{self.repo}: unexpected file list from the hub")
            files += [self._remote_file(e) for e in page if e.get("type") == "file"]
        return select_files(files)

    def _remote_file(self, entry: dict[str, object]) -> RemoteFile:
        path, size, lfs = str(entry["path"]), int(str(entry["size"])), entry.get("lfs")
        if isinstance(lfs, dict) and lfs.get("oid"):
            sha256 = str(lfs["oid"])
            size = int(str(lfs.get("size", size)))
            return RemoteFile(path, size, f"sha256-{sha256}", ("sha256", sha256))
        if oid := str(entry.get("oid") or ""):
            return RemoteFile(path, size, f"gitsha1-{oid}", (GIT_SHA1, oid))
        return RemoteFile(path, size, f"hf-{self.repo}-{self.sha}-{path}")  # no hash given

    def describe(self, file: RemoteFile) -> str:
        return f"hf://{self.repo}@{self.sha}"

    def digest_valid(self, file: RemoteFile) -> bool:
        return True

    def stream(self, file: RemoteFile, offset: int, deadline: Deadline) -> Iterator[bytes]:
        url = hf_hub_url(self.repo, file.path, revision=self.sha, endpoint=self.endpoint)
        headers = dict(self.headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        timeout = deadline.request_timeout()
        what = f"{file.path} in hf://{self.repo}@{self.sha}"
        response = open_url(url, headers, timeout, what)
        skip = offset if response.status == 200 else 0  # a server that ignored Range
        for chunk in iter_body(response, CHUNK, urlsplit(url).netloc, timeout):
            if skip:
                dropped = min(skip, len(chunk))
                skip -= dropped
                chunk = chunk[dropped:]
            if chunk:
                yield chunk


def select_files(files: list[RemoteFile]) -> list[RemoteFile]:
    """What vLLM reads: no `original/` checkpoints, no other weight formats beside safetensors."""
    kept = [f for f in files if not f.path.startswith("original/") and f.path != ".gitattributes"]
    if any(f.path.endswith(".safetensors") for f in kept):
        kept = [f for f in kept if not f.path.endswith(_OTHER_WEIGHTS)]
    return kept
