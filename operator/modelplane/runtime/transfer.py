"""Download verified files into the blob store: partial files, resume, hashes, link.

Sources (hf, s3) only say how to list files and how to stream a byte range;
everything about integrity and the cache lives here, once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from modelplane.runtime import cache
from modelplane.runtime.deadline import Deadline, with_retries
from modelplane.runtime.errors import ModelDownloadFailed, Retryable
from modelplane.runtime.progress import Progress

log = logging.getLogger("modelplane.runtime")

CHUNK = 1 << 20
WORKERS = 4
GIT_SHA1 = "git-sha1"  # git blob id: sha1(b"blob <size>\0" + content), HF non-LFS files


@dataclass(frozen=True)
class RemoteFile:
    """One file of a model as its source lists it; `digest` is (algorithm, hex) or None."""

    path: str
    size: int
    key: str  # content key in the blob store
    digest: tuple[str, str] | None = None


class Source(Protocol):
    """Streams bytes of one file from `offset`; raises ModelDownloadFailed (Retryable)."""

    def stream(self, file: RemoteFile, offset: int, deadline: Deadline) -> Iterator[bytes]: ...

    def describe(self, file: RemoteFile) -> str: ...

    def digest_valid(self, file: RemoteFile) -> bool:
        """False when the listed digest turned out not to describe the content."""
        ...


def new_hasher(file: RemoteFile) -> hashlib._Hash | None:
    if file.digest is None:
        return None
    algorithm = file.digest[0]
    if algorithm == GIT_SHA1:
        hasher = hashlib.sha1(usedforsecurity=False)
        hasher.update(f"blob {file.size}\0".encode())
        return hasher
    return hashlib.new(algorithm, usedforsecurity=False)  # integrity, not security


def _hash_prefix(hasher: hashlib._Hash | None, partial: Path, length: int) -> None:
    """Feed the bytes already on disk so a resumed download is verified whole."""
    if hasher is None or length == 0:
        return
    with partial.open("rb") as data:
        while chunk := data.read(min(CHUNK, length)):
            hasher.update(chunk)
            length -= len(chunk)
            if length <= 0:
                break


@dataclass
class Job:
    """What every file download of one fetch shares."""

    source: Source
    cache_dir: Path
    deadline: Deadline
    progress: Progress
    stop: threading.Event = field(default_factory=threading.Event)  # set on the first failure


def _download_once(job: Job, file: RemoteFile, blob: Path) -> None:
    """One attempt: append to the partial from where it stops, then verify and rename."""
    partial = cache.partial_path(blob)
    offset = cache.resume_offset(partial, file.size)
    if offset == 0 and partial.exists():
        partial.unlink()
    if offset:
        log.info("resuming %s at %d of %d bytes", file.path, offset, file.size)
    hasher = new_hasher(file)
    _hash_prefix(hasher, partial, offset)
    written = offset
    with partial.open("ab") as out:
        if offset < file.size:
            for chunk in job.source.stream(file, offset, job.deadline):
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                written += len(chunk)
                job.progress.add(len(chunk))
                if written > file.size:
                    break
                if job.deadline.expired():
                    raise job.deadline.failure()
                if job.stop.is_set():
                    raise ModelDownloadFailed("cancelled: another file failed")
        out.flush()
        os.fsync(out.fileno())
    if written > file.size:
        partial.unlink()
        raise ModelDownloadFailed(f"size mismatch for {file.path}: more than {file.size} bytes")
    if written < file.size:
        raise Retryable(f"{file.path}: connection closed at {written} of {file.size} bytes")
    if (
        hasher is not None
        and file.digest is not None
        and hasher.hexdigest() != file.digest[1]
        and job.source.digest_valid(file)
    ):
        partial.unlink()
        raise ModelDownloadFailed(
            f"checksum mismatch for {file.path} ({file.digest[0]} expected {file.digest[1]}, "
            f"got {hasher.hexdigest()}) from {job.source.describe(file)}"
        )
    os.replace(partial, blob)


def fetch_blob(job: Job, file: RemoteFile) -> Path:
    """The verified blob for `file`, downloading it (under its own lock) unless present."""
    blob = cache.blob_path(job.cache_dir, file.key)
    blob.parent.mkdir(parents=True, exist_ok=True)
    with cache.locked(job.cache_dir, "blob-" + file.key, job.deadline):
        if blob.is_file() and blob.stat().st_size == file.size:
            return blob
        job.progress.add(cache.resume_offset(cache.partial_path(blob), file.size), resumed=True)

        def attempt() -> None:
            try:
                _download_once(job, file, blob)
            except OSError as exc:  # the cache volume, not the source
                raise ModelDownloadFailed(
                    f"cannot write {file.path} to the cache: {exc.strerror or exc}"
                ) from exc

        with_retries(f"downloading {file.path}", attempt, job.deadline)
    return blob


def fetch_all(job: Job, files: list[RemoteFile]) -> dict[str, Path]:
    """Every file's verified blob, a few at a time; the first failure stops the rest."""
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="fetch") as pool:
        futures = {f.path: pool.submit(fetch_blob, job, f) for f in sorted(files, key=_largest)}
        done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
        failed = [f.exception() for f in done if f.exception() is not None]
        if failed:
            job.stop.set()
            for future in futures.values():
                future.cancel()
            raise failed[0]  # type: ignore[misc]
        return {path: future.result() for path, future in futures.items()}


def _largest(file: RemoteFile) -> int:
    return -file.size


def assemble(directory: Path, blobs: dict[str, Path]) -> None:
    """Link every blob into the snapshot directory (not yet marked complete)."""
    cache.reset_snapshot(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for path, blob in blobs.items():
        cache.place(blob, directory / path)


def already_present(files: list[RemoteFile], cache_dir: Path) -> int:
    """Bytes already in the blob store (for the progress line's starting point)."""
    total = 0
    for f in files:
        with contextlib.suppress(OSError):
            if cache.blob_path(cache_dir, f.key).stat().st_size == f.size:
                total += f.size
    return total
