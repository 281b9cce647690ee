"""Resolve a model URI to a complete local directory and its identity.

Remote sources are fetched into the cache once per resolved identity, under a
lock; the completion marker is the only thing that makes a snapshot usable.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from modelplane.api.uri import (
    FileSource,
    HuggingFaceSource,
    ModelSource,
    PVCSource,
    S3Source,
    parse_model_uri,
)
from modelplane.runtime import cache, local, transfer
from modelplane.runtime.deadline import Deadline
from modelplane.runtime.errors import ModelDownloadFailed
from modelplane.runtime.identity import Identity, SourceKind, manifest_digest
from modelplane.runtime.progress import Progress, format_bytes
from modelplane.runtime.transfer import RemoteFile

log = logging.getLogger("modelplane.runtime")

HF: SourceKind = "hf"


def parse(uri: str) -> ModelSource:
    try:
        return parse_model_uri(uri)
    except ValueError as exc:
        raise ModelDownloadFailed(f"invalid URI: {uri!r}: {exc}") from None


def check_paths(files: list[RemoteFile], uri: str) -> None:
    """Refuse listings that would write outside the snapshot directory."""
    for f in files:
        parts = PurePosixPath(f.path).parts
        if not f.path or f.path.startswith("/") or ".." in parts or cache.COMPLETE_MARKER in parts:
            raise ModelDownloadFailed(f"unsafe file name {f.path!r} in {uri}")


def resolve(
    uri: str, cache_dir: Path, deadline: Deadline, progress_interval: float = 5.0
) -> tuple[Path, Identity]:
    """The model's local directory (downloaded if remote) and what it resolved to."""
    source = parse(uri)
    if isinstance(source, PVCSource | FileSource):
        return local.identify(uri, source)
    cache_dir.mkdir(parents=True, exist_ok=True)  # fail early on an unusable volume
    if isinstance(source, HuggingFaceSource):
        from modelplane.runtime.hf import HubRepo

        repo = HubRepo(source, uri)
        name, kind = source.repo, HF
        if repo.sha:  # pinned to a commit: a complete snapshot needs no network at all
            directory = cache.snapshot_dir(cache_dir, kind, name, repo.sha)
            if (found := cache.read_complete(directory)) is not None:
                log.info("cache hit: %s (%s)", directory, format_bytes(found.bytes))
                return directory, Identity(uri, found.resolved, kind, found.files, found.bytes)
        resolved = repo.resolve(deadline)
        log.info("resolved %s to commit %s", uri, resolved)
        files = repo.list_files(deadline)
        return _fetch(
            uri, kind, name, resolved, files, repo, cache_dir, deadline, progress_interval
        )
    assert isinstance(source, S3Source)
    from modelplane.runtime.s3 import Bucket

    bucket = Bucket(source, deadline)
    files = bucket.list_files(deadline)
    resolved = manifest_digest((f.path, f.size, f.key) for f in files)
    name = bucket.bucket + "/" + bucket.prefix
    return _fetch(uri, "s3", name, resolved, files, bucket, cache_dir, deadline, progress_interval)


def _fetch(
    uri: str,
    kind: SourceKind,
    name: str,
    resolved: str,
    files: list[RemoteFile],
    source: transfer.Source,
    cache_dir: Path,
    deadline: Deadline,
    progress_interval: float,
) -> tuple[Path, Identity]:
    check_paths(files, uri)
    total = sum(f.size for f in files)
    identity = Identity(uri, resolved, kind, len(files), total)
    directory = cache.snapshot_dir(cache_dir, kind, name, resolved)
    if cache.read_complete(directory) is not None:
        log.info("cache hit: %s (%s)", directory, format_bytes(total))
        return directory, identity
    with cache.locked(cache_dir, f"{kind}-{name}", deadline):
        if cache.read_complete(directory) is not None:  # another pod finished it meanwhile
            log.info("cache filled by another download: %s", directory)
            return directory, identity
        present = transfer.already_present(files, cache_dir)
        log.info(
            "downloading %s: %d files, %s (%s already in the cache) -> %s",
            uri, len(files), format_bytes(total), format_bytes(present), directory,
        )  # fmt: skip
        progress = Progress(total, present, interval=progress_interval)
        job = transfer.Job(source, cache_dir, deadline, progress)
        blobs = transfer.fetch_all(job, files)
        transfer.assemble(directory, blobs)
        cache.mark_complete(directory, identity, [f.path for f in files])
        log.info("%s", progress.summary())
    return directory, identity
