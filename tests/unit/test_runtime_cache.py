"""Cache layout, completion markers, resume offsets and the volume lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from modelplane.runtime import cache
from modelplane.runtime.deadline import Deadline
from modelplane.runtime.errors import ModelDownloadFailed
from modelplane.runtime.identity import Identity

IDENT = Identity("hf://org/name", "a" * 40, "hf", 2, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("org/name", "org--name"),
        ("bucket/models/llama/", "bucket--models--llama"),
        ("a b/../c", "a_b--c"),
        ("", "_"),
    ],
)
def test_safe_name(text: str, expected: str) -> None:
    assert cache.safe_name(text) == expected


def test_snapshot_dir_is_keyed_by_resolved_identity(tmp_path: Path) -> None:
    d = cache.snapshot_dir(tmp_path, "s3", "bucket/llama/", "sha256:abc")
    assert d == tmp_path / "s3" / "bucket--llama" / "sha256-abc"
    assert cache.partial_path(cache.blob_path(tmp_path, "sha256-x")).name == "sha256-x.partial"


def test_resume_offset(tmp_path: Path) -> None:
    partial = tmp_path / "f.partial"
    assert cache.resume_offset(partial, 100) == 0
    partial.write_bytes(b"x" * 40)
    assert cache.resume_offset(partial, 100) == 40
    assert cache.resume_offset(partial, 40) == 40  # complete but not yet verified
    assert cache.resume_offset(partial, 30) == 0  # longer than the file can be: start over


def test_marker_round_trip_and_damage(tmp_path: Path) -> None:
    assert cache.read_complete(tmp_path) is None
    cache.mark_complete(tmp_path, IDENT, ["b", "a"])
    assert cache.read_complete(tmp_path) == IDENT
    (tmp_path / cache.COMPLETE_MARKER).write_text("{not json")
    assert cache.read_complete(tmp_path) is None


def test_reset_snapshot_keeps_complete_ones(tmp_path: Path) -> None:
    done, broken = tmp_path / "done", tmp_path / "broken"
    for d in (done, broken):
        d.mkdir()
        (d / "config.json").write_text("{}")
    cache.mark_complete(done, IDENT, ["config.json"])
    cache.reset_snapshot(done)
    cache.reset_snapshot(broken)
    assert (done / "config.json").exists()
    assert not broken.exists()


def test_place_links_the_blob(tmp_path: Path) -> None:
    blob = tmp_path / "blobs" / "k"
    blob.parent.mkdir()
    blob.write_bytes(b"weights")
    target = tmp_path / "snap" / "sub" / "model.safetensors"
    cache.place(blob, target)
    cache.place(blob, target)  # idempotent
    assert target.read_bytes() == b"weights"
    assert target.stat().st_ino == blob.stat().st_ino


def test_lock_makes_the_second_holder_wait(tmp_path: Path) -> None:
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with cache.locked(tmp_path, "m", Deadline(10)):
            inside.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with cache.locked(tmp_path, "m", Deadline(10), poll=0.01):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]


def test_lock_wait_is_bounded_by_the_deadline(tmp_path: Path) -> None:
    with cache.locked(tmp_path, "m", Deadline(10)):
        done = threading.Event()
        errors: list[ModelDownloadFailed] = []

        def second() -> None:
            try:
                with cache.locked(tmp_path, "m", Deadline(0.2, what="hf://o/n"), poll=0.01):
                    pass
            except ModelDownloadFailed as exc:
                errors.append(exc)
            done.set()

        threading.Thread(target=second).start()
        assert done.wait(5)
    assert [e.line() for e in errors] == [
        "ModelDownloadFailed: timed out after 0.2 s fetching hf://o/n"
    ]
