"""Model URIs: one set of patterns for the CRD's CEL rules and for Python.

The CEL rules refuse a bad URI at admission; `parse_model_uri` reads the same
patterns so the builders can rely on a well-formed source. The patterns use
only syntax RE2 (CEL) and Python's `re` read alike, and no backslashes, so
they embed in CEL string literals unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

URI_SCHEMES: Final = ("hf", "s3", "pvc", "file")
URI_MAX_LENGTH: Final = 1024

_PRINTABLE: Final = "[!-~]"  # printable ASCII, no space
_HF_ID: Final = "[A-Za-z0-9][A-Za-z0-9._-]*"
_DNS_SUBDOMAIN: Final = "[a-z0-9]([-a-z0-9.]*[a-z0-9])?"

HF_PATTERN: Final = f"^hf://{_HF_ID}/{_HF_ID}(@[A-Za-z0-9][A-Za-z0-9._/-]*)?$"
S3_PATTERN: Final = f"^s3://[a-z0-9][-a-z0-9.]{{1,61}}[a-z0-9](/{_PRINTABLE}*)?$"
PVC_PATTERN: Final = f"^pvc://{_DNS_SUBDOMAIN}(/{_PRINTABLE}*)?$"
FILE_PATTERN: Final = f"^file:///{_PRINTABLE}+$"
DOT_DOT_PATTERN: Final = "(^|/)[.][.](/|$)"

SCHEME_MESSAGE: Final = (
    "spec.model.uri must start with hf://, s3://, pvc:// or file://, "
    "e.g. hf://meta-llama/Llama-3.1-8B-Instruct"
)
HF_MESSAGE: Final = (
    "spec.model.uri: write a Hugging Face model as hf://<org>/<name>[@<revision>], "
    "e.g. hf://meta-llama/Llama-3.1-8B-Instruct@main"
)
S3_MESSAGE: Final = (
    "spec.model.uri: write an S3 model as s3://<bucket>[/<prefix>] with a valid bucket name, "
    "e.g. s3://models/llama-3.1-8b"
)
PVC_MESSAGE: Final = (
    "spec.model.uri: write a volume model as pvc://<claim>[/<path>] with the claim's name "
    "and a path inside it, without '..' segments, e.g. pvc://models/llama-3.1-8b"
)
FILE_MESSAGE: Final = (
    "spec.model.uri: write a local model as file:///<absolute path>, e.g. file:///models/llama"
)


@dataclass(frozen=True)
class HuggingFaceSource:
    """hf://org/name[@revision]."""

    repo: str
    revision: str | None


@dataclass(frozen=True)
class S3Source:
    """s3://bucket[/prefix], kept whole: vLLM's Run:ai streamer reads it directly."""

    uri: str


@dataclass(frozen=True)
class PVCSource:
    """pvc://claim[/path]: `path` is relative to the claim's root, '' for the root."""

    claim: str
    path: str


@dataclass(frozen=True)
class FileSource:
    """file:///path: a path the pod already sees."""

    path: str


ModelSource = HuggingFaceSource | S3Source | PVCSource | FileSource


def _check(pattern: str, uri: str, message: str) -> None:
    if re.fullmatch(pattern, uri) is None:
        raise ValueError(message)


def parse_model_uri(uri: str) -> ModelSource:
    """Split a model URI into its parts; ValueError carries the CEL rule's message."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in URI_SCHEMES:
        raise ValueError(SCHEME_MESSAGE)
    if scheme == "hf":
        _check(HF_PATTERN, uri, HF_MESSAGE)
        repo, _, revision = rest.partition("@")
        return HuggingFaceSource(repo=repo, revision=revision or None)
    if scheme == "s3":
        _check(S3_PATTERN, uri, S3_MESSAGE)
        return S3Source(uri=uri)
    if scheme == "pvc":
        _check(PVC_PATTERN, uri, PVC_MESSAGE)
        if re.search(DOT_DOT_PATTERN, uri):
            raise ValueError(PVC_MESSAGE)
        claim, _, path = rest.partition("/")
        return PVCSource(claim=claim, path=path.strip("/"))
    _check(FILE_PATTERN, uri, FILE_MESSAGE)
    return FileSource(path=rest)


def uri_rules() -> list[dict[str, str]]:
    """The CEL rules on spec.model.uri, one per scheme so each message can be specific."""

    def per_scheme(scheme: str, condition: str, message: str) -> dict[str, str]:
        return {"rule": f"!self.startsWith('{scheme}://') || ({condition})", "message": message}

    schemes = " || ".join(f"self.startsWith('{s}://')" for s in URI_SCHEMES)
    return [
        {"rule": schemes, "message": SCHEME_MESSAGE},
        per_scheme("hf", f"self.matches('{HF_PATTERN}')", HF_MESSAGE),
        per_scheme("s3", f"self.matches('{S3_PATTERN}')", S3_MESSAGE),
        per_scheme(
            "pvc",
            f"self.matches('{PVC_PATTERN}') && !self.matches('{DOT_DOT_PATTERN}')",
            PVC_MESSAGE,
        ),
        per_scheme("file", f"self.matches('{FILE_PATTERN}')", FILE_MESSAGE),
    ]
