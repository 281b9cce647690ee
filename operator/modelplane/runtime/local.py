"""pvc:// and file:// models: already mounted, so only located and identified.

The identity is a sha256 over every file's path, size and content, unless the
directory is a snapshot our own fetch completed (a cache volume mounted as a
PVC): then its recorded identity is reused instead of re-reading every byte.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from modelplane.api.uri import FileSource, PVCSource
from modelplane.runtime import cache
from modelplane.runtime.errors import ModelDownloadFailed
from modelplane.runtime.identity import Identity, SourceKind, manifest_digest

log = logging.getLogger("modelplane.runtime")

PVC_ROOT = "/models"
CHUNK = 1 << 20


def local_path(source: PVCSource | FileSource) -> tuple[Path, SourceKind]:
    """Where the model is in this container; MODELPLANE_PVC_ROOT overrides /models."""
    if isinstance(source, FileSource):
        return Path(source.path), "file"
    root = Path(os.environ.get("MODELPLANE_PVC_ROOT") or PVC_ROOT) / source.claim
    return (root / source.path if source.path else root), "pvc"


def model_files(path: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of every regular file, sorted; our marker excluded."""
    if path.is_file():
        return [(path.name, path)]
    found = []
    for root, dirs, names in os.walk(path, followlinks=True):
        dirs.sort()
        for name in names:
            full = Path(root) / name
            rel = full.relative_to(path).as_posix()
            if rel != cache.COMPLETE_MARKER and full.is_file():
                found.append((rel, full))
    return sorted(found)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def identify(uri: str, source: PVCSource | FileSource) -> tuple[Path, Identity]:
    path, kind = local_path(source)
    if not path.exists():
        raise ModelDownloadFailed(f"not found: {path} does not exist ({uri})")
    recorded = cache.read_complete(path) if path.is_dir() else None
    if recorded is not None:
        log.info("using the identity recorded in %s", path / cache.COMPLETE_MARKER)
        return path, Identity(uri, recorded.resolved, kind, recorded.files, recorded.bytes)
    try:
        files = model_files(path)
        entries = [(rel, full.stat().st_size, file_sha256(full)) for rel, full in files]
    except OSError as exc:
        raise ModelDownloadFailed(f"cannot read {path}: {exc.strerror or exc}") from None
    if not entries:
        raise ModelDownloadFailed(f"not found: {path} has no files ({uri})")
    total = sum(size for _, size, _ in entries)
    return path, Identity(uri, manifest_digest(entries), kind, len(entries), total)
