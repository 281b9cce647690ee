"""Downloads into the blob store: verification, resume, failure leaves nothing complete."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.runtime import cache, transfer
from modelplane.runtime.deadline import Deadline
from modelplane.runtime.errors import ModelDownloadFailed, Retryable
from modelplane.runtime.fetch import check_paths
from modelplane.runtime.hf import select_files
from modelplane.runtime.progress import Progress
from modelplane.runtime.s3 import split_uri
from modelplane.runtime.transfer import GIT_SHA1, RemoteFile

DATA = bytes(range(256)) * 100


class FakeSource:
    """Serves `content` in 1000-byte chunks from an offset; can cut the stream once."""

    def __init__(self, content: bytes, cut_at: int | None = None) -> None:
        self.content = content
        self.cut_at = cut_at
        self.offsets: list[int] = []

    def stream(self, file: RemoteFile, offset: int, deadline: Deadline) -> Iterator[bytes]:
        self.offsets.append(offset)
        for start in range(offset, len(self.content), 1000):
            if self.cut_at is not None and start >= self.cut_at:
                self.cut_at = None
                raise Retryable("connection reset")
            yield self.content[start : start + 1000]

    def describe(self, file: RemoteFile) -> str:
        return "fake://"

    def digest_valid(self, file: RemoteFile) -> bool:
        return True


def sha256_file(content: bytes = DATA) -> RemoteFile:
    digest = hashlib.sha256(content).hexdigest()
    return RemoteFile("model.safetensors", len(DATA), f"sha256-{digest}", ("sha256", digest))


def job(tmp_path: Path, source: FakeSource) -> transfer.Job:
    return transfer.Job(source, tmp_path, Deadline(30), Progress(len(DATA)))


def test_downloads_and_verifies(tmp_path: Path) -> None:
    file = sha256_file()
    blob = transfer.fetch_blob(job(tmp_path, FakeSource(DATA)), file)
    assert blob.read_bytes() == DATA
    assert not cache.partial_path(blob).exists()


def test_git_blob_ids_are_verified(tmp_path: Path) -> None:
    oid = hashlib.sha1(b"blob %d\0" % len(DATA) + DATA, usedforsecurity=False).hexdigest()
    file = RemoteFile("config.json", len(DATA), f"gitsha1-{oid}", (GIT_SHA1, oid))
    assert transfer.fetch_blob(job(tmp_path, FakeSource(DATA)), file).read_bytes() == DATA


def test_cut_stream_resumes_from_the_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("modelplane.runtime.deadline.backoff", lambda attempt: 0.0)
    source = FakeSource(DATA, cut_at=12_000)
    blob = transfer.fetch_blob(job(tmp_path, source), sha256_file())
    assert source.offsets == [0, 12_000]
    assert blob.read_bytes() == DATA


def test_existing_partial_is_hashed_and_continued(tmp_path: Path) -> None:
    file = sha256_file()
    blob = cache.blob_path(tmp_path, file.key)
    blob.parent.mkdir(parents=True)
    cache.partial_path(blob).write_bytes(DATA[:5000])
    source = FakeSource(DATA)
    assert transfer.fetch_blob(job(tmp_path, source), file).read_bytes() == DATA
    assert source.offsets == [5000]


def test_checksum_mismatch_keeps_nothing(tmp_path: Path) -> None:
    file = sha256_file(b"other content")
    with pytest.raises(ModelDownloadFailed, match=r"checksum mismatch for model\.safetensors"):
        transfer.fetch_blob(job(tmp_path, FakeSource(DATA)), file)
    assert list((tmp_path / "blobs").iterdir()) == []


def test_longer_than_listed_is_refused(tmp_path: Path) -> None:
    file = RemoteFile("f", 10, "k")
    with pytest.raises(ModelDownloadFailed, match="size mismatch for f"):
        transfer.fetch_blob(job(tmp_path, FakeSource(DATA)), file)
    assert list((tmp_path / "blobs").iterdir()) == []


def test_fetch_all_reports_the_first_failure(tmp_path: Path) -> None:
    good, bad = sha256_file(), RemoteFile("bad", len(DATA), "sha256-0", ("sha256", "0" * 64))
    with pytest.raises(ModelDownloadFailed, match="checksum mismatch for bad"):
        transfer.fetch_all(job(tmp_path, FakeSource(DATA)), [good, bad])


def test_select_files_keeps_what_vllm_reads() -> None:
    names = ["config.json", "model.safetensors", "pytorch_model.bin", "original/consolidated.pth",
             ".gitattributes", "tokenizer.json"]  # fmt: skip
    files = [RemoteFile(n, 1, n) for n in names]
    assert [f.path for f in select_files(files)] == [
        "config.json", "model.safetensors", "tokenizer.json",
    ]  # fmt: skip
    only_bin = [RemoteFile("pytorch_model.bin", 1, "b"), RemoteFile("config.json", 1, "c")]
    assert select_files(only_bin) == only_bin


def test_unsafe_listing_paths_are_refused() -> None:
    for bad in ("../etc/passwd", "/abs", "a/../../b", "", f"x/{cache.COMPLETE_MARKER}"):
        with pytest.raises(ModelDownloadFailed, match="unsafe file name"):
            check_paths([RemoteFile(bad, 1, "k")], "s3://b/p")
    check_paths([RemoteFile("sub/dir/file..json", 1, "k")], "s3://b/p")


def test_s3_prefix_is_a_directory() -> None:
    assert split_uri("s3://models") == ("models", "")
    assert split_uri("s3://models/llama/8b/") == ("models", "llama/8b/")
    assert split_uri("s3://models/llama") == ("models", "llama/")
