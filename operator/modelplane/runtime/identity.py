"""The resolved identity of a model: what exactly is being served, in one JSON line.

The operator reads it from the termination message (or the log) to show the
resolved revision in status; it never contains credentials.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger("modelplane.runtime")

SourceKind = Literal["hf", "s3", "pvc", "file"]
TERMINATION_LOG = Path("/dev/termination-log")


@dataclass(frozen=True)
class Identity:
    """uri as given; resolved = HF commit SHA, or sha256:<hex> of an S3 ETag / file manifest."""

    uri: str
    resolved: str
    source: SourceKind
    files: int
    bytes: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Identity:
        data = json.loads(text)
        return cls(
            uri=str(data["uri"]),
            resolved=str(data["resolved"]),
            source=data["source"],
            files=int(data["files"]),
            bytes=int(data["bytes"]),
        )


def manifest_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """sha256:<hex> over sorted (path, size, content id) lines: same files -> same digest."""
    digest = hashlib.sha256()
    for path, size, content in sorted(entries):
        digest.update(f"{path}\t{size}\t{content}\n".encode())
    return "sha256:" + digest.hexdigest()


def default_identity_file() -> Path | None:
    """/dev/termination-log when the kubelet mounted it (exists, writable); else nowhere."""
    if TERMINATION_LOG.is_file() and os.access(TERMINATION_LOG, os.W_OK):
        return TERMINATION_LOG
    return None


def write_report(path: Path | None, text: str) -> None:
    """Best effort: the identity (or failure line) where the operator can read it."""
    if path is None:
        return
    try:
        path.write_text(text + "\n")
    except OSError as exc:
        log.warning("could not write %s: %s", path, exc.strerror or exc)
