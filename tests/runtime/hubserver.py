"""A small HF-compatible hub over HTTP on loopback, for the launcher and huggingface_hub.

It implements the routes snapshot_download uses: model info with the commit
SHA and siblings, the recursive tree (paged with Link headers), and
resolve/<rev>/<file> with ETag, X-Repo-Commit, sizes and Range. Repos can
require a token, serve a corrupted file, miss a listed file, or stall, so the
launcher's failure paths meet a real HTTP server.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class HubFile:
    path: str
    source: Path
    size: int
    sha256: str
    oid: str
    lfs: bool


@dataclass
class Repo:
    refs: dict[str, str] = field(default_factory=dict)  # branch/tag -> commit
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    token: str | None = None  # required bearer token (401 without it, 403 if wrong)
    corrupt: set[str] = field(default_factory=set)  # served with one byte flipped
    missing: set[str] = field(default_factory=set)  # listed, but resolve answers 404
    stall: bool = False  # every request waits and never answers
    slow: float = 0.0  # seconds to wait before each 64 KiB of a file (to overlap downloads)
    page_size: int = 1000  # tree entries per page (Link: rel="next" beyond)
    cdn: bool = False  # resolve redirects to another host name, like the hub's LFS CDN

    def commit(self, rev: str) -> str | None:
        if rev in self.commits:
            return rev
        return self.refs.get(rev)


def scan(directory: Path) -> dict[str, HubFile]:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        data = path.read_bytes()
        files[rel] = HubFile(
            path=rel,
            source=path,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            oid=git_blob_sha1(data),
            lfs=rel.endswith(LFS_SUFFIXES),
        )
    return files


class HubServer:
    """ThreadingHTTPServer on 127.0.0.1; `requests` counts (method, path, range) it served."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: Counter[tuple[str, str]] = Counter()
        self.ranges: list[tuple[str, str]] = []
        self.released = threading.Event()  # set to end every stalled request
        self.cdn_auth: list[str | None] = []  # Authorization headers the "CDN" host received
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def add_commit(self, name: str, directory: Path, refs: tuple[str, ...] = ("main",)) -> str:
        """Publish a directory as a commit of repo `name`; returns the commit SHA."""
        repo = self.repos.setdefault(name, Repo())
        files = scan(directory)
        manifest = "".join(f"{f.path} {f.oid}\n" for f in files.values())
        sha = hashlib.sha1(f"{name}\n{manifest}".encode(), usedforsecurity=False).hexdigest()
        repo.commits[sha] = files
        for ref in refs:
            repo.refs[ref] = sha
        return sha

    def record(self, method: str, path: str, range_header: str | None) -> None:
        with self._lock:
            self.requests[(method, path)] += 1
            if range_header:
                self.ranges.append((path, range_header))


_API = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?/?$")
_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        def _route(self, head: bool) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            if "?signed=1" in self.path:
                path = unquote(self.path.split("?")[0])
            hub.record(self.command, path, self.headers.get("Range"))
            if m := _TREE.match(path):
                return self._with_repo(m.group(1), partial(self._tree, m=m, query=url.query))
            if m := _API.match(path):
                return self._with_repo(m.group(1), partial(self._info, m=m))
            if m := _RESOLVE.match(path):
                return self._with_repo(m.group(1), partial(self._resolve, m=m, head=head))
            self._error(404, "not a hub route")

        def _with_repo(self, name: str, action: Callable[[Repo], None]) -> None:
            repo = hub.repos.get(name)
            if repo is None:
                return self._error(404, "RepoNotFound")
            if repo.stall:
                hub.released.wait(120)
                return None
            if self._cdn_hop(repo):
                hub.cdn_auth.append(self.headers.get("Authorization"))
            elif repo.token is not None:
                auth = self.headers.get("Authorization", "")
                if not auth:
                    return self._error(401, "GatedRepo")
                if auth != f"Bearer {repo.token}":
                    return self._error(403, "GatedRepo")
            action(repo)
            return None

        def _info(self, repo: Repo, m: re.Match[str]) -> None:
            sha = repo.commit(m.group(2) or "main")
            if sha is None:
                return self._error(404, "RevisionNotFound")
            files = repo.commits[sha]
            body = {
                "id": m.group(1),
                "modelId": m.group(1),
                "sha": sha,
                "private": repo.token is not None,
                "siblings": [{"rfilename": p} for p in files],
            }
            self._json(body)
            return None

        def _tree(self, repo: Repo, m: re.Match[str], query: str) -> None:
            sha = repo.commit(m.group(2))
            if sha is None:
                return self._error(404, "RevisionNotFound")
            entries = []
            dirs: set[str] = set()
            for f in repo.commits[sha].values():
                parents = f.path.split("/")[:-1]
                dirs.update("/".join(parents[: i + 1]) for i in range(len(parents)))
                entry: dict[str, object] = {
                    "type": "file", "oid": f.oid, "size": f.size, "path": f.path,
                }  # fmt: skip
                if f.lfs:
                    entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
                entries.append(entry)
            entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in dirs]
            cursor = int(parse_qs(query).get("cursor", ["0"])[0])
            page = entries[cursor : cursor + repo.page_size]
            link = None
            if cursor + repo.page_size < len(entries):
                base = self.path.split("?")[0]
                link = (
                    f'<{hub.url}{base}?recursive=true&cursor={cursor + repo.page_size}>; rel="next"'
                )
            self._json(page, link)
            return None

        def _cdn_hop(self, repo: Repo) -> bool:
            return repo.cdn and "signed=1" in self.path

        def _resolve(self, repo: Repo, m: re.Match[str], head: bool) -> None:
            sha = repo.commit(m.group(2))
            if sha is None:
                return self._error(404, "RevisionNotFound")
            if repo.cdn and not self._cdn_hop(repo):  # a signed URL on another host name
                port = hub.url.rsplit(":", 1)[1]
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{port}{self.path}?signed=1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            f = repo.commits[sha].get(m.group(3))
            if f is None or f.path in repo.missing:
                return self._error(404, "EntryNotFound")
            start, end = 0, f.size - 1
            status = 200
            if rng := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")):
                start = int(rng.group(1))
                end = min(end, int(rng.group(2))) if rng.group(2) else end
                if start >= f.size:
                    return self._error(416, "RangeNotSatisfiable")
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{f.sha256 if f.lfs else f.oid}"')
            self.send_header("X-Repo-Commit", sha)
            if f.lfs:
                self.send_header("X-Linked-Size", str(f.size))
                self.send_header("X-Linked-Etag", f'"{f.sha256}"')
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
            self.end_headers()
            if not head:
                self._send_file(f, start, end + 1, repo)
            return None

        def _send_file(self, f: HubFile, start: int, stop: int, repo: Repo) -> None:
            with f.source.open("rb") as data:
                data.seek(start)
                if repo.slow:
                    while chunk := data.read(min(1 << 16, stop - data.tell())):
                        time.sleep(repo.slow)
                        self.wfile.write(chunk)
                    return
                if f.path not in repo.corrupt:
                    shutil.copyfileobj(_Limited(data, stop - start), self.wfile, 1 << 20)
                    return
                body = bytearray(data.read(stop - start))
                if body:
                    body[len(body) // 2] ^= 0xFF
                self.wfile.write(body)

        def _json(self, body: object, link: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if link:
                self.send_header("Link", link)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str) -> None:
            data = json.dumps({"error": code}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


class _Limited:
    """A file object that reads at most `left` bytes (for copyfileobj)."""

    def __init__(self, data: object, left: int) -> None:
        self._data = data
        self._left = left

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 else min(n, self._left)
        chunk: bytes = self._data.read(n)  # type: ignore[attr-defined]
        self._left -= len(chunk)
        return chunk
