"""Errors in OpenAI's shape, so SDKs raise their usual exceptions with our message."""

from __future__ import annotations

import json

from aiohttp import web

RETRY_AFTER_SECONDS = 5


def openai_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def unavailable(message: str, code: str) -> web.Response:
    """503 with Retry-After: the model exists but cannot take the request now."""
    return openai_error(
        503,
        message,
        type_="service_unavailable",
        code=code,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
