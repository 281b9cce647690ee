"""Plain HTTP(S) for the HF-compatible hub: timeouts, Range, and errors as one-line causes.

urllib (stdlib) rather than huggingface_hub's session: its client has no
timeout by default and its exception types differ between major versions.
Proxies from the environment are honoured; the Authorization header is never
sent to another host on a redirect (the hub redirects large files to a CDN).
"""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.client import HTTPMessage, HTTPResponse
from typing import IO
from urllib.parse import urlsplit

from modelplane.runtime.errors import ModelDownloadFailed, Retryable

AUTH_HEADERS = ("Authorization", "Cookie")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class _SameHostAuthRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, keeping credentials only while the host stays the same."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            for name in AUTH_HEADERS:
                new.remove_header(name)
        return new


_OPENER = urllib.request.build_opener(_SameHostAuthRedirect())


def status_failure(status: int, what: str, error_code: str = "") -> ModelDownloadFailed:
    """The one-line cause for an HTTP error status."""
    detail = f" {error_code}" if error_code else ""
    if status == 401:
        return ModelDownloadFailed(f"unauthorized (HTTP 401{detail}) for {what}")
    if status == 403:
        return ModelDownloadFailed(f"forbidden (HTTP 403{detail}) for {what}")
    if status in (404, 410):
        return ModelDownloadFailed(f"not found: {what} (HTTP {status}{detail})")
    if status in RETRYABLE_STATUS:
        return Retryable(f"HTTP {status}{detail} for {what}")
    return ModelDownloadFailed(f"HTTP {status}{detail} for {what}")


def open_url(
    url: str, headers: dict[str, str], timeout: float, what: str, method: str = "GET"
) -> HTTPResponse:
    """Open `url`; every failure becomes ModelDownloadFailed (Retryable when transient)."""
    request = urllib.request.Request(url, headers=headers, method=method)
    host = urlsplit(url).netloc
    try:
        response: HTTPResponse = _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        code = exc.headers.get("X-Error-Code", "") if exc.headers else ""
        exc.close()
        raise status_failure(exc.code, what, code) from None
    except urllib.error.URLError as exc:
        raise transport_failure(exc.reason, host, timeout) from None
    except (OSError, ssl.SSLError) as exc:
        raise transport_failure(exc, host, timeout) from None
    return response


def transport_failure(reason: object, host: str, timeout: float) -> ModelDownloadFailed:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return Retryable(f"no response from {host} within {timeout:.0f} s")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return ModelDownloadFailed(
            f"TLS certificate of {host} not trusted: {reason.verify_message}"
        )
    text = getattr(reason, "strerror", None) or str(reason)
    return Retryable(f"cannot reach {host}: {text}")


def iter_body(response: HTTPResponse, chunk: int, host: str, timeout: float) -> Iterator[bytes]:
    """The body in chunks as they arrive (read1: a slow server still shows progress)."""
    with response:
        while True:
            try:
                data = response.read1(chunk)
            except (OSError, ValueError) as exc:
                raise transport_failure(exc, host, timeout) from None
            if not data:
                return
            yield data
