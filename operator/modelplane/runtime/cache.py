"""The shared model cache on a volume: layout, completion markers and locks.

Layout under the cache dir (shared by a ModelService's replicas):
  blobs/<content key>                  verified files, named by content hash/ETag
  blobs/<content key>.partial          in-flight downloads (resumable, never used)
  <source>/<name key>/<resolved>/...   one snapshot per resolved identity, hard links
                                       into blobs/, `.modelplane-complete` written last
  .locks/<...>.lock                    flock files (never deleted: that would race)
A second pod, or a second revision with the same files, finds the blobs and
downloads nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from modelplane.runtime.deadline import Deadline
from modelplane.runtime.identity import Identity

log = logging.getLogger("modelplane.runtime")

COMPLETE_MARKER = ".modelplane-complete"
PARTIAL_SUFFIX = ".partial"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """One path segment from a repo/bucket/prefix: 'org/name' -> 'org--name'."""
    parts = [_UNSAFE.sub("_", p) for p in text.strip("/").split("/") if p]
    name = "--".join(p for p in parts if p not in (".", ".."))
    return name or "_"


def snapshot_dir(cache_dir: Path, source: str, name: str, resolved: str) -> Path:
    """DIR/<source>/<org--name | bucket--prefix>/<resolved>."""
    return cache_dir / source / safe_name(name) / safe_name(resolved.replace(":", "-"))


def blob_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "blobs" / safe_name(key)


def partial_path(blob: Path) -> Path:
    return blob.with_name(blob.name + PARTIAL_SUFFIX)


def resume_offset(partial: Path, expected_size: int) -> int:
    """Bytes of a partial file worth keeping: all of it unless longer than the file can be."""
    try:
        size = partial.stat().st_size
    except FileNotFoundError:
        return 0
    return size if size <= expected_size else 0


def read_complete(directory: Path) -> Identity | None:
    """The identity recorded by a finished fetch, or None if the snapshot is not complete."""
    try:
        data = json.loads((directory / COMPLETE_MARKER).read_text())
        return Identity.from_json(json.dumps(data["identity"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mark_complete(directory: Path, identity: Identity, files: list[str]) -> None:
    """Write the marker atomically, last: until it exists nothing here counts as complete."""
    tmp = directory / (COMPLETE_MARKER + ".tmp")
    payload = {"identity": json.loads(identity.to_json()), "files": sorted(files)}
    with tmp.open("w") as out:
        json.dump(payload, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, directory / COMPLETE_MARKER)


def place(blob: Path, target: Path) -> None:
    """Put a verified blob at target: a hard link, or a copy where links are refused."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(blob, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(blob, target)


def reset_snapshot(directory: Path) -> None:
    """Remove an incomplete snapshot left by a crash (its blobs stay for reuse)."""
    if directory.exists() and read_complete(directory) is None:
        shutil.rmtree(directory)


@contextlib.contextmanager
def locked(cache_dir: Path, name: str, deadline: Deadline, poll: float = 0.2) -> Iterator[None]:
    """Hold DIR/.locks/<name>.lock (flock) so one volume never downloads one thing twice.

    A second holder waits (bounded by the deadline) and then finds the work done.
    """
    lock_dir = cache_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / (safe_name(name) + ".lock")
    with path.open("a") as handle:
        waited_since: float | None = None
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if waited_since is None:
                    waited_since = now
                    log.info("waiting for another download holding %s", path)
                if deadline.expired():
                    raise deadline.failure() from None
                time.sleep(min(poll, max(0.01, deadline.remaining())))
        if waited_since is not None:
            log.info("got %s after %.1f s", path, time.monotonic() - waited_since)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
