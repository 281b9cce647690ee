"""Run the gateway: the OpenAI API on one port, /metrics /healthz /readyz on another.

Startup: watches first; /readyz turns 200 once every watch has listed, so a
new gateway replica gets traffic only with a complete routing table.
Shutdown (SIGTERM): /readyz turns 503 at once, new connections are still
accepted for a grace period while the endpoints catch up, then the server
stops accepting and waits for requests in flight, streams included.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal

import aiohttp
from aiohttp import web
from lightkube import AsyncClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelplane.api.config import GatewayConfig
from modelplane.gateway import keys
from modelplane.gateway.discovery import Discovery
from modelplane.gateway.hold import Holds
from modelplane.gateway.metrics import GatewayMetrics
from modelplane.gateway.proxy import Gateway
from modelplane.gateway.routing import Route, RoutingTable

log = logging.getLogger(__name__)

KEYS_FILE_POLL_SECONDS = 2.0
# After SIGTERM: keep serving while load balancers notice /readyz, then drain.
SHUTDOWN_GRACE_SECONDS = 5.0
DRAIN_TIMEOUT_SECONDS = 60.0
# Below vLLM's (uvicorn's) 5 s keep-alive, so we never reuse a connection
# the replica is closing.
UPSTREAM_KEEPALIVE_SECONDS = 3.0


class KeysFile:
    """The global API keys, re-read when the mounted Secret file changes."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.digests: keys.Digests = frozenset()
        self._stamp: tuple[float, int] | None = None
        self.load()

    def load(self) -> None:
        if self.path is None:
            return
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime, stat.st_size)
            if stamp == self._stamp:
                return
            with open(self.path, encoding="utf-8") as f:
                self.digests = keys.from_lines(f.read())
            self._stamp = stamp
            log.info("loaded %d global API key(s) from %s", len(self.digests), self.path)
        except OSError as err:
            # Fail closed: an unreadable keys file must not open the gateway.
            self.digests = frozenset({keys.digest(os.urandom(32).hex())})
            log.error("cannot read API keys file %s (%s); refusing all requests", self.path, err)

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(KEYS_FILE_POLL_SECONDS)
            self.load()


def _log_setup(config: GatewayConfig) -> None:
    handler = logging.StreamHandler()
    if config.log_format == "json":

        class Json(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                return json.dumps(
                    {
                        "time": self.formatTime(record),
                        "level": record.levelname,
                        "logger": record.name,
                        "message": record.getMessage(),
                    }
                )

        handler.setFormatter(Json())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=config.log_level, handlers=[handler], force=True)
    # Access logs would cost more than the proxying itself; metrics cover them.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # One line per watch request from the API client is noise at INFO.
    for name in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def settle_heap() -> None:
    """Keep the garbage collector off the request path.

    Start-up leaves ~60k long-lived objects (modules, pydantic schemas, the metrics
    registry) that every full collection would scan again: 30-60 ms of CPU per pass
    on the bench machine, several per second under load. Frozen, they are never
    scanned. A request's objects are freed by reference counting when it ends, but at
    the default threshold (700) those of the requests in flight set off a young
    collection every ~20 requests and get promoted to be scanned again; 7,000 leaves
    room for them (bench/gateway.py, wrk -c64: GC from 10-13 % of the gateway's CPU
    to ~0.1 %, longest full pass from 53 ms to none).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 10)


class GatewayServer:
    """Everything one gateway process runs; tests start it without discovery and
    feed ``table`` directly."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.metrics = GatewayMetrics()
        self.holds = Holds(config.max_queued, gauge=lambda model: self.metrics.queued.labels(model))
        self.table = RoutingTable()
        self.table.listeners.append(self._on_change)
        self.keys_file = KeysFile(config.api_keys_file)
        self.discovery: Discovery | None = None
        self.draining = False
        self._client: AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._runners: list[web.BaseRunner] = []
        self.gateway: Gateway | None = None

    def _on_change(self, route: Route | None, model: str) -> None:
        self.holds.wake(model)
        if route is not None:
            for revision in route.revisions.values():
                self.metrics.endpoints.labels(model, revision.name).set(len(revision.endpoints))
                self.metrics.weight.labels(model, revision.name).set(revision.weight)

    @property
    def ready(self) -> bool:
        return not self.draining and (self.discovery is None or self.discovery.synced)

    async def start(self, discover: bool = True) -> None:
        config = self.config
        if discover:
            # KUBECONFIG, ~/.kube/config or the service account, like kubectl.
            self._client = AsyncClient()
            self.discovery = Discovery(self._client, self.table, config.namespaces)
            self.discovery.start()
        self._tasks.append(asyncio.create_task(self.keys_file.watch()))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=0, keepalive_timeout=UPSTREAM_KEEPALIVE_SECONDS, use_dns_cache=False
            ),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=config.connect_timeout_seconds,
                sock_connect=config.connect_timeout_seconds,
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        )
        self.gateway = gateway = Gateway(
            config,
            self.table,
            self.holds,
            self.metrics,
            self._session,
            lambda: self.keys_file.digests,
        )
        api = web.ServerRunner(
            web.Server(gateway.handle, handler_cancellation=True, access_log=None),
            shutdown_timeout=DRAIN_TIMEOUT_SECONDS,
        )
        admin = web.Application()
        admin.router.add_get("/metrics", self._metrics_view)
        admin.router.add_get("/healthz", self._healthz)
        admin.router.add_get("/readyz", self._readyz)
        admin_runner = web.AppRunner(admin, access_log=None)
        for runner in (api, admin_runner):
            await runner.setup()
            self._runners.append(runner)
        await web.TCPSite(api, config.host, config.port, backlog=4096, reuse_address=True).start()
        await web.TCPSite(admin_runner, config.host, config.admin_port, reuse_address=True).start()
        settle_heap()
        log.info(
            "gateway serving the OpenAI API on %s:%d (admin %d), namespaces %s",
            config.host,
            config.port,
            config.admin_port,
            ",".join(config.namespaces) or "all",
        )

    async def stop(self, grace_seconds: float = 0.0) -> None:
        """Stop taking requests after ``grace_seconds``; wait for those in flight."""
        self.draining = True
        if grace_seconds > 0:
            await asyncio.sleep(grace_seconds)
        for runner in self._runners:
            await runner.cleanup()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.discovery is not None:
            await self.discovery.stop()
        if self._session is not None:
            await self._session.close()
        if self._client is not None:
            await self._client.close()

    async def _metrics_view(self, _: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self.draining:
            return web.Response(status=503, text="draining\n")
        if not self.ready:
            return web.Response(status=503, text="waiting for the first list of every watch\n")
        return web.Response(text="ok\n")


async def serve(config: GatewayConfig) -> None:
    """Run until SIGTERM or SIGINT, then drain."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = GatewayServer(config)
    await server.start()
    try:
        await stop.wait()
        log.info(
            "stopping: serving %.0f s more while endpoints update, then draining",
            SHUTDOWN_GRACE_SECONDS,
        )
    finally:
        await server.stop(SHUTDOWN_GRACE_SECONDS if stop.is_set() else 0.0)


def run(config: GatewayConfig) -> None:
    _log_setup(config)
    if config.loop == "uvloop":
        import uvloop

        uvloop.run(serve(config))
    else:
        asyncio.run(serve(config))
