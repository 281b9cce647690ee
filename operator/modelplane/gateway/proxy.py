"""The request path: parse just enough, pick a replica, stream the answer back.

Per request: read the body (bounded), take `model` from its JSON, check the
API key, hold while the model has no ready replica, choose a revision by
weight and a replica by load, forward, and relay the response chunk by
chunk (a slow client slows the replica's stream through TCP back-pressure;
nothing piles up in memory). A connection a replica refused is retried on
another replica; once a request may have reached a replica, it is never
sent again.
"""

from __future__ import annotations

import asyncio
import email.message
import json
import logging
from collections.abc import Callable
from datetime import datetime
from email.parser import BytesHeaderParser
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from modelplane.api.config import GatewayConfig
from modelplane.gateway import keys
from modelplane.gateway.balance import Endpoint
from modelplane.gateway.errors import openai_error, unavailable
from modelplane.gateway.hold import Holds, QueueFull
from modelplane.gateway.metrics import GatewayMetrics, RevisionMetrics
from modelplane.gateway.routing import Route, RoutingTable

log = logging.getLogger(__name__)

# Not forwarded: they describe one hop, or are recomputed for the next one.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# A non-streamed answer up to this size is read whole and sent with a length.
BUFFERED_RESPONSE_LIMIT = 1024 * 1024
# After a replica refused a connection, others are preferred for this long.
EJECT_SECONDS = 5.0


class TooLarge(Exception):
    pass


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        table: RoutingTable,
        holds: Holds,
        metrics: GatewayMetrics,
        session: aiohttp.ClientSession,
        global_keys: Callable[[], keys.Digests],
    ) -> None:
        self.config = config
        self.table = table
        self.holds = holds
        self.metrics = metrics
        self.session = session
        self.global_keys = global_keys

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            return self._models(request)
        if not path.startswith("/v1/"):
            return self._reject("not_found", 404, f"Unknown path {path}; the API is under /v1/")
        if request.method != "POST":
            return self._reject(
                "not_found", 405, f"{request.method} {path} is not served; use POST"
            )
        try:
            body = await _read_body(request, self.config.max_body_bytes)
        except TooLarge:
            return self._reject(
                "too_large",
                413,
                f"Request body is larger than {self.config.max_body_bytes} bytes",
                code="request_too_large",
            )
        try:
            data = parse_body(request.headers.get("Content-Type", ""), body)
        except (ValueError, UnicodeDecodeError):
            return self._reject(
                "bad_json",
                400,
                "We could not parse the JSON body of your request. Send a JSON object "
                "with Content-Type: application/json.",
            )
        model = data.get("model") if isinstance(data, dict) else None
        if not isinstance(model, str) or not model:
            return self._reject(
                "no_model",
                400,
                "You must provide a model parameter (a string naming the model).",
                param="model",
            )
        route = self.table.routes.get(model)
        presented = keys.bearer(request.headers.get("Authorization"))
        global_keys = self.global_keys()
        if route is None:
            if global_keys and not keys.accepted(presented, [global_keys]):
                return self._unauthorized()
            return self._reject(
                "unknown_model",
                404,
                f"The model `{model}` does not exist or is not served here; "
                "GET /v1/models lists the models",
                code="model_not_found",
                param="model",
            )
        own_keys = self.table.model_keys(route)
        checked = bool(global_keys) or own_keys is not None
        if checked and not keys.accepted(presented, [global_keys, own_keys or frozenset()]):
            return self._unauthorized()

        started = asyncio.get_running_loop().time()
        if not route.ready():
            route, refusal = await self._hold(model, started)
            if refusal is not None:
                return refusal
            assert route is not None
        return await self._forward(request, body, data, route, started, strip_auth=checked)

    # ---- holding -----------------------------------------------------------------
    async def _hold(self, model: str, started: float) -> tuple[Route | None, web.Response | None]:
        self.metrics.held.labels(model).inc()

        def settled() -> bool:
            route = self.table.routes.get(model)
            return route is None or route.ready()

        try:
            ready = await self.holds.wait(
                model, settled, started + self.config.hold_timeout_seconds
            )
        except QueueFull:
            self.metrics.errors.labels(model, "", "queue_full").inc()
            return None, unavailable(
                f"Too many requests are waiting for model `{model}` to start "
                f"({self.holds.max_queued}); retry later",
                "queue_full",
            )
        route = self.table.routes.get(model)
        if route is None:
            return None, self._reject(
                "unknown_model",
                404,
                f"The model `{model}` was removed while the request waited",
                code="model_not_found",
                param="model",
            )
        if not ready:
            self.metrics.errors.labels(model, "", "hold_timeout").inc()
            return None, unavailable(
                f"Model `{model}` has no ready replica after "
                f"{self.config.hold_timeout_seconds:g} s (starting or scaled to zero); "
                "retry later",
                "model_not_ready",
            )
        return route, None

    # ---- forwarding --------------------------------------------------------------
    async def _forward(
        self,
        request: web.BaseRequest,
        body: bytes,
        data: dict[str, Any],
        route: Route,
        started: float,
        strip_auth: bool,
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        prefix = None
        if route.routing.load_balancing == "PrefixHash":
            length = route.routing.prefix_hash.prefix_length if route.routing.prefix_hash else 256
            prefix = prompt_prefix(data, length)
        headers = CIMultiDict(
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP and not (strip_auth and k.lower() == "authorization")
        )
        if route.upstream_model is not None and isinstance(data.get("model"), str):
            body = with_model(
                request.headers.get("Content-Type", ""), body, data, route.upstream_model
            )
        tried: set[Endpoint] = set()
        revision_name = ""
        while True:
            now = loop.time()
            choice = route.choose(prefix, tried, now)
            if choice is None:
                self.metrics.errors.labels(route.model, revision_name, "connect").inc()
                return unavailable(
                    f"No replica of model `{route.model}` accepted the connection; retry later",
                    "no_replica_reachable",
                )
            revision, endpoint = choice
            revision_name = revision.name
            measured = self.metrics.of(route.model, revision.name)
            endpoint.in_flight += 1
            measured.in_flight.inc()
            try:
                try:
                    upstream = await self.session.request(
                        request.method,
                        URL(endpoint.url + request.raw_path, encoded=True),
                        data=body,
                        headers=headers,
                    )
                except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
                    # Nothing was sent: safe to try another replica.
                    endpoint.down_until = now + EJECT_SECONDS
                    tried.add(endpoint)
                    log.info("replica %s of %s refused: %s", endpoint.url, route.model, err)
                    continue
                except aiohttp.ClientError as err:
                    self.metrics.errors.labels(route.model, revision.name, "upstream_broken").inc()
                    log.warning("replica %s of %s failed: %s", endpoint.url, route.model, err)
                    return openai_error(
                        502,
                        f"The replica serving model `{route.model}` closed the connection "
                        "before answering",
                        type_="upstream_error",
                        code="upstream_closed",
                    )
                async with upstream:
                    return await self._relay(
                        request, upstream, route.model, revision.name, measured, started
                    )
            except asyncio.CancelledError:
                self.metrics.errors.labels(route.model, revision.name, "client_disconnect").inc()
                raise
            finally:
                endpoint.in_flight -= 1
                measured.in_flight.dec()

    async def _relay(
        self,
        request: web.BaseRequest,
        upstream: aiohttp.ClientResponse,
        model: str,
        revision: str,
        measured: RevisionMetrics,
        started: float,
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        self.metrics.count(model, revision, upstream.status)
        headers = CIMultiDict(
            (k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
        )
        length = upstream.content_length
        streamed = length is None or "text/event-stream" in upstream.headers.get("Content-Type", "")
        if not streamed and length is not None and length <= BUFFERED_RESPONSE_LIMIT:
            payload = await upstream.read()
            elapsed = loop.time() - started
            measured.ttft.observe(elapsed)
            measured.duration.observe(elapsed)
            return web.Response(status=upstream.status, body=payload, headers=headers)

        response = web.StreamResponse(status=upstream.status, headers=headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        first = True
        try:
            async for chunk in upstream.content.iter_any():
                if first:
                    measured.ttft.observe(loop.time() - started)
                    first = False
                await response.write(chunk)
        except aiohttp.ClientError as err:
            self.metrics.errors.labels(model, revision, "upstream_broken").inc()
            log.warning("replica stream of %s/%s broke: %s", model, revision, err)
            if request.transport is not None:
                request.transport.close()  # the client must see a truncated response
            return response
        except ConnectionResetError:
            self.metrics.errors.labels(model, revision, "client_disconnect").inc()
            return response
        await response.write_eof()
        measured.duration.observe(loop.time() - started)
        return response

    # ---- small answers -------------------------------------------------------------
    def _models(self, request: web.BaseRequest) -> web.Response:
        presented = keys.bearer(request.headers.get("Authorization"))
        global_keys = self.global_keys()
        is_admin = bool(global_keys) and keys.accepted(presented, [global_keys])
        if global_keys and not is_admin and presented is None:
            return self._unauthorized()
        listed = []
        for model, route in sorted(self.table.routes.items()):
            own = self.table.model_keys(route)
            visible = (
                is_admin
                or (not global_keys and own is None)
                or (own is not None and keys.accepted(presented, [own]))
            )
            if visible:
                listed.append(
                    {
                        "id": model,
                        "object": "model",
                        "created": _epoch(route.created),
                        "owned_by": route.namespace,
                    }
                )
        if request.path != "/v1/models":
            wanted = request.path.removeprefix("/v1/models/")
            found = next((m for m in listed if m["id"] == wanted), None)
            if found is None:
                return self._reject(
                    "unknown_model",
                    404,
                    f"The model `{wanted}` does not exist",
                    code="model_not_found",
                    param="model",
                )
            return web.json_response(found)
        return web.json_response({"object": "list", "data": listed})

    def _reject(
        self,
        reason: str,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
    ) -> web.Response:
        self.metrics.rejected.labels(reason).inc()
        return openai_error(status, message, code=code, param=param)

    def _unauthorized(self) -> web.Response:
        self.metrics.rejected.labels("unauthorized").inc()
        return openai_error(
            401,
            "Incorrect or missing API key. Send it as Authorization: Bearer <key>.",
            code="invalid_api_key",
        )


async def _read_body(request: web.BaseRequest, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise TooLarge
    chunks = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(content_type: str, body: bytes) -> Any:
    """The request's JSON, or for multipart uploads (audio transcription) its form
    fields: enough to read `model` and the prompt. ValueError when neither parses."""
    if _is_multipart(content_type):
        return {
            name: body[start:end].decode() for name, start, end in form_fields(content_type, body)
        }
    return json.loads(body)


def with_model(content_type: str, body: bytes, data: dict[str, Any], model: str) -> bytes:
    """The body with its `model` replaced: the JSON re-encoded, or in a multipart form
    the model field's value spliced in (the file parts stay as they are)."""
    if not _is_multipart(content_type):
        return json.dumps({**data, "model": model}).encode()
    for name, start, end in form_fields(content_type, body):
        if name == "model":
            return body[:start] + model.encode() + body[end:]
    return body


def _is_multipart(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/form-data")


def form_fields(content_type: str, body: bytes) -> list[tuple[str, int, int]]:
    """(name, start, end) of each plain field's value in a multipart form (files skipped).

    Parts are found by searching for the boundary (memchr speed); only each part's few
    header lines are parsed, so an 8 MiB upload holds the event loop for under 2 ms
    (the email parser over the whole body: 350 ms)."""
    boundary = _head(b"Content-Type: " + content_type.encode("latin-1")).get_boundary()
    if not boundary:
        raise ValueError("multipart body without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    at = body.find(delimiter)
    if at < 0:
        raise ValueError("not a multipart body")
    fields: list[tuple[str, int, int]] = []
    while True:
        start = at + len(delimiter)
        if body.startswith(b"--", start):
            return fields  # the closing delimiter
        head_end = body.find(b"\r\n\r\n", start)
        end = body.find(b"\r\n" + delimiter, head_end + 4) if head_end >= 0 else -1
        if end < 0:
            raise ValueError("truncated multipart body")
        part = _head(body[start:head_end].lstrip(b"\r\n"))
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str) and part.get_filename() is None:
            fields.append((name, head_end + 4, end))
        at = end + 2


def _head(lines: bytes) -> email.message.Message:
    """Header lines only, with the plain (compat32) policy: microseconds."""
    return BytesHeaderParser().parsebytes(lines + b"\r\n\r\n")


def prompt_prefix(data: dict[str, Any], length: int) -> str | None:
    """The start of the prompt, or of the chat messages' text, for prefix hashing."""
    parts: list[str] = []
    prompt, messages = data.get("prompt"), data.get("messages")
    if isinstance(prompt, str):
        parts.append(prompt)
    elif isinstance(prompt, list) and prompt:
        parts.append(prompt[0] if isinstance(prompt[0], str) else json.dumps(prompt[0]))
    elif isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [
                    p["text"]
                    for p in content
                    if isinstance(p, dict) and isinstance(p.get("text"), str)
                ]
            if sum(map(len, parts)) >= length:
                break
    text = "".join(parts)[:length]
    return text or None


def _epoch(timestamp: str) -> int:
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
