"""One proxy process for bench/gateway.py: the gateway without Kubernetes, or a stack floor.

Default: GatewayServer(discover=False). Its routing table is fed over a small
control API on loopback, as the watches would feed it: POST /service and POST
/slice take a ModelService or an EndpointSlice object as JSON (`?deleted=1`
removes it). The control API shares the gateway's event loop; it is called a
few times a second at most.

    python bench/gateway_runner.py --port 8000 --admin-port 9090 --control-port 9091 \
        --loop uvloop

Two floors, for choosing the HTTP stack (one listen port per upstream, like the
nginx config; no routing, keys or metrics):

  --passthrough LISTEN:UPSTREAM ...  aiohttp server + one aiohttp client session
      configured as the gateway's: the least an aiohttp proxy does, the floor of
      the stack the gateway is built on;
  --raw LISTEN:UPSTREAM ...  asyncio Protocols on both sides, HTTP/1.1
      keep-alive, bytes relayed unchanged: heads are only scanned for their
      framing (Content-Length requests; Content-Length or chunked responses,
      relayed as they arrive). Not a product: what the event loop allows.

The gateway's garbage collector passes are recorded (gc.callbacks, observation
only): GET /gc on the control port answers their count, total and longest CPU
time per generation since the last GET.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiohttp
from aiohttp import web

HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "transfer-encoding", "host", "content-length", "upgrade")
)


class GcProbe:
    """Counts and times collector passes per generation (reset on read). Times are CPU
    time of the collecting thread: what a pass costs, whatever else the machine runs."""

    def __init__(self) -> None:
        self.started = 0.0
        self.reset()
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.count = [0, 0, 0]
        self.total = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.thread_time()
            return
        took = time.thread_time() - self.started
        gen = info["generation"]
        self.count[gen] += 1
        self.total[gen] += took
        self.longest[gen] = max(self.longest[gen], took)

    def read(self) -> dict[str, Any]:
        out = {
            "count": self.count,
            "total_ms": [t * 1000 for t in self.total],
            "max_ms": [t * 1000 for t in self.longest],
            "tracked_objects": len(gc.get_objects()),
        }
        self.reset()
        return out


async def serve(args: argparse.Namespace, probe: GcProbe) -> None:
    # Imported here: the floors' RSS is then their own, not the gateway's modules.
    from modelplane.api.config import GatewayConfig
    from modelplane.gateway.server import GatewayServer

    config = GatewayConfig(
        host="127.0.0.1",
        port=args.port,
        admin_port=args.admin_port,
        loop=args.loop,
        log_level="WARNING",
    )
    server = GatewayServer(config)
    await server.start(discover=False)

    async def service(request: web.Request) -> web.Response:
        server.table.put_service(await request.json(), deleted="deleted" in request.query)
        return web.Response(text="ok\n")

    async def slice_(request: web.Request) -> web.Response:
        server.table.put_slice(await request.json(), deleted="deleted" in request.query)
        return web.Response(text="ok\n")

    async def gc_stats(_: web.Request) -> web.Response:
        return web.Response(text=json.dumps(probe.read()), content_type="application/json")

    control = web.Application()
    control.router.add_post("/service", service)
    control.router.add_post("/slice", slice_)
    control.router.add_get("/gc", gc_stats)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.control_port).start()
    sys.stderr.write(f"gateway ({args.loop}) on 127.0.0.1:{args.port}\n")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await server.stop()


# ---- floor 1: aiohttp in, aiohttp out ------------------------------------------------------
async def passthrough(routes: list[tuple[int, int]]) -> None:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=3.0, use_dns_cache=False),
        timeout=aiohttp.ClientTimeout(total=None, connect=3.0, sock_connect=3.0),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
    )

    def handler(upstream: str) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            body = await request.read()
            headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
            async with session.request(
                request.method, upstream + request.raw_path, data=body, headers=headers
            ) as up:
                back = [(k, v) for k, v in up.headers.items() if k.lower() not in HOP_BY_HOP]
                if up.content_length is not None:
                    return web.Response(status=up.status, body=await up.read(), headers=back)
                response = web.StreamResponse(status=up.status, headers=back)
                await response.prepare(request)
                async for chunk in up.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response

        return handle

    for listen, upstream in routes:
        runner = web.ServerRunner(
            web.Server(handler(f"http://127.0.0.1:{upstream}"), access_log=None)
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", listen, backlog=4096).start()
    sys.stderr.write(f"aiohttp pass-through {routes}\n")
    await asyncio.Event().wait()


# ---- floor 2: asyncio Protocols, bytes relayed -------------------------------------------
def _head_field(head: bytes, name: bytes) -> bytes | None:
    at = head.lower().find(b"\r\n" + name + b":")
    if at < 0:
        return None
    end = head.find(b"\r\n", at + 2)
    return head[at + len(name) + 3 : end].strip()


class _Upstream(asyncio.Protocol):
    """A keep-alive connection to the backend; relays one response at a time."""

    def __init__(self, pool: list[_Upstream]) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.client: _Client | None = None
        self.buf = b""
        self.head_done = False
        self.remaining = 0  # Content-Length bytes, or bytes of the current chunk + CRLF
        self.chunked = False
        self.chunks_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        assert self.client is not None and self.client.transport is not None
        self.client.transport.write(data)  # relayed as it arrives
        self.buf += data
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[: end + 2], self.buf[end + 4 :]
            self.head_done = True
            length = _head_field(head, b"content-length")
            self.chunked = length is None
            self.remaining = int(length) if length is not None else 0
        if self.chunked:
            self._scan_chunks()
        else:
            self.remaining -= len(self.buf)
            self.buf = b""
            if self.remaining <= 0:
                self._done()

    def _scan_chunks(self) -> None:
        while True:
            if self.remaining:
                used = min(self.remaining, len(self.buf))
                self.remaining -= used
                self.buf = self.buf[used:]
                if self.remaining:
                    return
            if self.chunks_done:
                self._done()
                return
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            size = int(self.buf[:end].split(b";")[0], 16)
            self.buf = self.buf[end + 2 :]
            self.remaining = size + 2
            self.chunks_done = size == 0

    def _done(self) -> None:
        client, self.client = self.client, None
        self.buf, self.head_done, self.chunks_done, self.remaining = b"", False, False, 0
        self.pool.append(self)
        assert client is not None
        client.finished()

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.pool:
            self.pool.remove(self)
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()


class _Client(asyncio.Protocol):
    def __init__(self, upstream: int, pool: list[_Upstream]) -> None:
        self.upstream = upstream
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._next()

    def _next(self) -> None:
        if self.busy:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        need = end + 4 + int(_head_field(self.buf[: end + 2], b"content-length") or 0)
        if len(self.buf) < need:
            return
        message, self.buf = self.buf[:need], self.buf[need:]
        self.busy = True
        if self.pool:
            self._send(self.pool.pop(), message)
        else:
            asyncio.get_running_loop().create_task(self._connect(message))

    async def _connect(self, message: bytes) -> None:
        loop = asyncio.get_running_loop()
        _, up = await loop.create_connection(
            lambda: _Upstream(self.pool), "127.0.0.1", self.upstream
        )
        self._send(up, message)

    def _send(self, up: _Upstream, message: bytes) -> None:
        assert up.transport is not None
        up.client = self
        up.transport.write(message)

    def finished(self) -> None:
        self.busy = False
        self._next()


async def raw(routes: list[tuple[int, int]]) -> None:
    loop = asyncio.get_running_loop()
    for listen, upstream in routes:
        pool: list[_Upstream] = []
        await loop.create_server(
            lambda u=upstream, p=pool: _Client(u, p),
            "127.0.0.1",
            listen,
            backlog=4096,
        )
    sys.stderr.write(f"raw protocols {routes}\n")
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int)
    parser.add_argument("--admin-port", type=int)
    parser.add_argument("--control-port", type=int)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--passthrough", nargs="+", metavar="LISTEN:UPSTREAM")
    parser.add_argument("--raw", nargs="+", metavar="LISTEN:UPSTREAM")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    floor = args.passthrough or args.raw
    routes = [(int(a), int(b)) for a, b in (p.split(":") for p in floor or [])]
    if args.passthrough:
        main_ = passthrough(routes)
    elif args.raw:
        main_ = raw(routes)
    elif None in (args.port, args.admin_port, args.control_port):
        parser.error("--port, --admin-port and --control-port are required")
    else:
        main_ = serve(args, GcProbe())
    try:
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(main_)
        else:
            asyncio.run(main_)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
