"""s3://bucket/prefix: list the objects, identify them by ETags, stream byte ranges.

Endpoint, region and credentials come from the environment (AWS_ENDPOINT_URL,
AWS_REGION, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or anything else boto3
finds); with no credentials at all the bucket is read anonymously. A
single-part ETag is the object's MD5, so those are verified; multipart ETags
and KMS-encrypted objects are checked by size only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
from botocore import UNSIGNED
from botocore.config import Config

from modelplane.api.uri import S3Source
from modelplane.runtime.deadline import Deadline, with_retries
from modelplane.runtime.errors import ModelDownloadFailed, Retryable
from modelplane.runtime.transfer import WORKERS, RemoteFile

CHUNK = 1 << 20
_MD5_ETAG = re.compile(r"[0-9a-f]{32}")
_AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
_NOT_FOUND_CODES = frozenset({"NoSuchBucket", "NoSuchKey", "404"})


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/a/b -> ('bucket', 'a/b/'); the prefix is a directory, '' for the bucket."""
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def classify(exc: Exception, what: str) -> ModelDownloadFailed:
    """botocore's exceptions as one-line causes (retryable when transient)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _AUTH_CODES or status in (401, 403):
            label = "unauthorized" if status == 401 else "forbidden"
            return ModelDownloadFailed(f"{label} (HTTP {status or 403} {code}) for {what}")
        if code in _NOT_FOUND_CODES or status == 404:
            return ModelDownloadFailed(f"not found: {what} (HTTP {status or 404} {code})")
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling"):
            return Retryable(f"HTTP {status} {code} for {what}")
        return ModelDownloadFailed(f"HTTP {status} {code} for {what}")
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.ParamValidationError
    ):
        return ModelDownloadFailed(f"{what}: {exc}")
    if isinstance(
        exc, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectTimeoutError
    ):
        return Retryable(f"no response from the S3 endpoint for {what}")
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return Retryable(f"cannot reach the S3 endpoint for {what}")
    return Retryable(f"{type(exc).__name__} for {what}")


class Bucket:
    """A prefix in a bucket; one client shared by the download threads (boto3 clients are)."""

    def __init__(self, source: S3Source, deadline: Deadline) -> None:
        self.uri = source.uri.rstrip("/")
        self.bucket, self.prefix = split_uri(source.uri)
        session = boto3.session.Session(
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        )
        anonymous = session.get_credentials() is None
        config = Config(
            connect_timeout=min(10.0, deadline.request_timeout()),
            read_timeout=deadline.request_timeout(),
            retries={"total_max_attempts": 1},  # our own retries, under the deadline
            max_pool_connections=WORKERS * 2,
            signature_version=UNSIGNED if anonymous else None,
        )
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self.client: Any = session.client("s3", endpoint_url=endpoint or None, config=config)
        self.unverifiable: set[str] = set()  # keys whose ETag is not an MD5 (SSE-KMS/C)
        self.etags: dict[str, str] = {}

    def list_files(self, deadline: Deadline) -> list[RemoteFile]:
        """Every object under the prefix (directory markers skipped)."""

        def once() -> list[RemoteFile]:
            files: list[RemoteFile] = []
            try:
                pages = self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self.prefix
                )
                for page in pages:
                    for obj in page.get("Contents", []):
                        key = str(obj["Key"])
                        if key.endswith("/"):
                            continue
                        files.append(self._remote_file(key, int(obj["Size"]), str(obj["ETag"])))
            except Exception as exc:
                raise classify(exc, self.uri) from None
            return files

        files = with_retries(f"listing {self.uri}", once, deadline)
        if not files:
            raise ModelDownloadFailed(f"not found: {self.uri} has no objects")
        return files

    def _remote_file(self, key: str, size: int, etag: str) -> RemoteFile:
        etag = etag.strip('"')
        self.etags[key] = etag
        digest = ("md5", etag) if _MD5_ETAG.fullmatch(etag) else None
        return RemoteFile(key[len(self.prefix) :], size, f"s3etag-{etag}-{size}", digest)

    def describe(self, file: RemoteFile) -> str:
        return f"s3://{self.bucket}/{self.prefix}{file.path}"

    def stream(self, file: RemoteFile, offset: int, deadline: Deadline) -> Iterator[bytes]:
        what = self.describe(file)
        key = self.prefix + file.path
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=key, IfMatch=self.etags[key], **extra
            )
            if response.get("ServerSideEncryption") == "aws:kms" or response.get(
                "SSECustomerAlgorithm"
            ):
                self.unverifiable.add(file.key)
            body = response["Body"]
            while chunk := body.read(CHUNK):
                yield chunk
        except ModelDownloadFailed:
            raise
        except Exception as exc:
            if _precondition_failed(exc):
                raise ModelDownloadFailed(f"{what} changed while downloading (ETag)") from None
            raise classify(exc, what) from None

    def digest_valid(self, file: RemoteFile) -> bool:
        return file.key not in self.unverifiable


def _precondition_failed(exc: Exception) -> bool:
    return isinstance(exc, botocore.exceptions.ClientError) and str(
        exc.response.get("Error", {}).get("Code")
    ) in ("PreconditionFailed", "412")
