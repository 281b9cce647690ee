"""Gateway benchmark: the request path against direct and nginx, in one run, on loopback.

Paths, each to the same backends:
  direct           the client talks to the backend itself (the floor, and the load
                   generator's own cost);
  nginx 1 worker   Debian's nginx as a plain reverse proxy (upstream keepalive 64,
                   HTTP/1.1, proxy_buffering off), worker_processes 1: what a user
                   could run instead, on one core like the gateway;
  nginx auto       the same with worker_processes auto (2 workers here, not pinned);
  gateway uvloop   bench/gateway_runner.py: GatewayServer without Kubernetes, its table
                   fed over a control port the way the watches would (the default);
  gateway asyncio  the same with loop="asyncio";
  aiohttp pass-through, raw asyncio Protocols
                   floors for choosing the HTTP stack: the least an aiohttp server +
                   client proxy does, and bytes relayed by asyncio Protocols on uvloop
                   (see bench/gateway_runner.py); no routing, keys or metrics.

Backends: nginx `return 200 <chat.completion JSON>` for request/response (faster than
anything in Python, so the proxy is what is measured); the fake OpenAI server
(tests/fakes/openai_backend.py) for streaming and for churn.

Measured:
  - latency at a fixed 1,000 req/s: an open-loop asyncio + aiohttp generator (uvloop),
    short rounds interleaved over the paths; added = path minus direct in the same
    round; medians over rounds, so a neighbour's burst spoils a round, not the figure;
  - maximum throughput: wrk -t1 -c64 with a POST body, as a ratio to nginx 1 worker,
    and the proxy's CPU time per request (what one request costs it); the direct row
    is the ceiling of the load side (wrk + backend on one core);
  - streaming: SSE events/s of one 2,000-token stream and of 8 at once;
  - RSS (VmRSS idle, VmHWM after everything), and the gateway's garbage collector:
    full passes and the longest pass during the 1,000 req/s rounds, its share of the
    gateway's CPU and its longest full pass under wrk;
  - churn: 200 req/s through the gateway to 4 fake replicas while, every 2 s, one
    endpoint turns terminating (ready False), its process is stopped 1 s later and a
    replacement on a new port is published once it listens: failed requests counted.

Pinning (2+ cores): the proxy under test on core 1; this process (the generator), wrk
and every backend on core 0; nginx auto unpinned. About 3.5 minutes.

    make bench-tools && .venv/bin/python bench/gateway.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop

from common import ROOT, machine, percentile, rss_mib, table

FAKE = ROOT / "tests" / "fakes" / "openai_backend.py"
RUNNER = Path(__file__).resolve().parent / "gateway_runner.py"
NAMESPACE = "bench"
TICK = os.sysconf("SC_CLK_TCK")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # sbin: not on every user's PATH
STREAM_TOKENS = 2000
CHURN_REPLICAS = 4
CHURN_RATE = 200.0
CHURN_EVERY = 2.0
CHURN_GRACE = 1.0
REQUEST = {
    "model": "m",
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    "max_tokens": 16,
}
# What the nginx backend answers to every request: a small chat.completion.
ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1764374400,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
}


# ---- processes ---------------------------------------------------------------------------
Popen = subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """Child processes, pinned with taskset, stopped by their own pid at the end."""

    def __init__(self, work: Path, pin: bool) -> None:
        self.work = work
        self.pin = pin
        self.procs: list[Popen] = []

    def start(self, name: str, argv: list[str], core: int | None) -> Popen:
        if self.pin and core is not None:
            argv = ["taskset", "-c", str(core), *argv]
        log = (self.work / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.work)
        log.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: Popen, timeout: float = 5.0) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.procs)):
            self.stop(proc)


def nginx_conf(work: Path, name: str, workers: str, servers: str) -> Path:
    """A self-contained nginx config: its own prefix, pid, logs and temp paths."""
    temp = work / f"{name}-temp"
    temp.mkdir()
    user = "user root;" if os.geteuid() == 0 else ""
    conf = work / f"{name}.conf"
    conf.write_text(
        f"""
{user}
worker_processes {workers};
daemon off;
pid {work}/{name}.pid;
error_log {work}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{servers}
}}
"""
    )
    return conf


def nginx_backend(work: Path, procs: Processes, port: int) -> Popen:
    body = json.dumps(ANSWER, separators=(",", ":"))
    assert "'" not in body and "$" not in body
    servers = f"""
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /v1/ {{ default_type application/json; return 200 '{body}'; }}
    }}"""
    conf = nginx_conf(work, "nginx-backend", "1", servers)
    return procs.start(
        "nginx-backend", [NGINX, "-p", str(work), "-e", f"{work}/nginx-backend-error.log",
                          "-c", str(conf)], core=0,
    )  # fmt: skip


def nginx_proxy(
    work: Path, procs: Processes, name: str, workers: str, routes: dict[int, int], core: int | None
) -> Popen:
    """routes: listen port -> upstream port."""
    servers = ""
    for listen, upstream in routes.items():
        servers += f"""
    upstream u{upstream} {{
        server 127.0.0.1:{upstream};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{listen} backlog=4096;
        location / {{
            proxy_pass http://u{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}"""
    conf = nginx_conf(work, name, workers, servers)
    return procs.start(
        name, [NGINX, "-p", str(work), "-e", f"{work}/{name}-error.log", "-c", str(conf)],
        core=core,
    )  # fmt: skip


def fake_backend(procs: Processes, name: str, port: int, model: str, **kw: float) -> Popen:
    argv = [sys.executable, str(FAKE), "--host", "127.0.0.1", "--port", str(port),
            "--served-model-name", model, "--name", name]  # fmt: skip
    for key, value in kw.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return procs.start(name, argv, core=0)


async def wait_listening(port: int, proc: Popen) -> None:
    deadline = time.monotonic() + 20.0
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


def tree_rss(pid: int, field_: str) -> float:
    """RSS of a process and its children (nginx master + workers), MiB."""
    total = rss_mib(pid, field_)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += tree_rss(int(child), field_)
    return total


# ---- the gateway's table, fed over its control port ---------------------------------------
def service(model: str) -> dict[str, object]:
    return {
        "metadata": {
            "namespace": NAMESPACE,
            "name": model,
            "creationTimestamp": "2026-11-29T00:00:00Z",
        },
        "spec": {"model": {"uri": "file:///m"}, "routing": {}},
        "status": {"traffic": [{"revision": "r1", "weight": 100}]},
    }


def endpoint_slice(model: str, port: int, ready: bool = True) -> dict[str, object]:
    """One slice per backend, as in tests/unit/test_gateway_proxy.py."""
    return {
        "metadata": {
            "namespace": NAMESPACE,
            "name": f"{model}-r1-{port}",
            "labels": {"modelplane.io/modelservice": model, "modelplane.io/revision": "r1"},
        },
        "ports": [{"name": "http", "port": port}],
        "endpoints": [
            {
                "addresses": ["127.0.0.1"],
                "conditions": {"ready": ready, "serving": ready, "terminating": not ready},
            }
        ],
    }


@dataclass
class GatewayProc:
    loop: str
    port: int
    admin: int
    control: int
    proc: Popen

    async def put(self, http: aiohttp.ClientSession, kind: str, obj: object, **q: str) -> None:
        url = f"http://127.0.0.1:{self.control}/{kind}"
        async with http.post(url, json=obj, params=q) as r:
            r.raise_for_status()

    async def gc(self, http: aiohttp.ClientSession) -> dict[str, list[float]]:
        """The gateway's collector passes since the last call (bench/gateway_runner.py)."""
        async with http.get(f"http://127.0.0.1:{self.control}/gc") as r:
            return await r.json()  # type: ignore[no-any-return]


# ---- load ----------------------------------------------------------------------------------
@dataclass
class OpenLoop:
    latencies: list[float] = field(default_factory=list)  # seconds
    lags: list[float] = field(default_factory=list)  # send time minus schedule
    failed: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    seconds: float = 0.0


async def open_loop(
    http: aiohttp.ClientSession, url: str, rate: float, seconds: float, body: bytes
) -> OpenLoop:
    """Send at a fixed rate whatever the answers do (open loop: a slow answer delays no
    later send); latency from each send to the end of its answer."""
    out = OpenLoop()
    n = int(rate * seconds)
    headers = {"Content-Type": "application/json"}

    async def one(scheduled: float) -> None:
        start = time.perf_counter()
        out.lags.append(start - scheduled)
        try:
            async with http.post(url, data=body, headers=headers) as r:
                await r.read()
                ok = r.status == 200
                if not ok:
                    out.failed[f"HTTP {r.status}"] += 1
        except (aiohttp.ClientError, OSError) as err:
            out.failed[type(err).__name__] += 1
            return
        if ok:
            out.latencies.append(time.perf_counter() - start)

    tasks = []
    t0 = time.perf_counter() + 0.005
    i = 0
    while i < n:
        due = min(n, int((time.perf_counter() - t0) * rate) + 1)
        while i < due:
            tasks.append(asyncio.create_task(one(t0 + i / rate)))
            i += 1
        await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
    out.seconds = time.perf_counter() - t0
    await asyncio.gather(*tasks)
    out.sent = n
    return out


async def stream_events(http: aiohttp.ClientSession, base: str) -> tuple[int, float]:
    """(SSE events, seconds) of one streamed completion of STREAM_TOKENS tokens."""
    body = {"model": "s", "prompt": "x", "stream": True, "max_tokens": STREAM_TOKENS}
    events = 0
    tail = b""
    start = time.perf_counter()
    async with http.post(base + "/v1/completions", json=body) as r:
        assert r.status == 200, r.status
        async for data in r.content.iter_any():
            events += (tail + data).count(b"\n\n")
            tail = data[-1:]
    return events, time.perf_counter() - start


async def streams(http: aiohttp.ClientSession, base: str, n: int) -> float:
    """SSE events/s, all n streams together."""
    start = time.perf_counter()
    done = await asyncio.gather(*(stream_events(http, base) for _ in range(n)))
    events = sum(e for e, _ in done)
    assert events >= n * (STREAM_TOKENS + 1), events
    return events / (time.perf_counter() - start)


def wrk(url: str, seconds: float, script: Path, pin: bool) -> tuple[float, int, int]:
    """(requests/s, requests, failed requests) of wrk -t1 -c64 against url."""
    argv = ["wrk", "-t1", "-c64", f"-d{seconds:g}s", "-s", str(script), url]
    if pin:
        argv = ["taskset", "-c", "0", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    failed = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        failed += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        failed += sum(int(g) for g in m.groups())
    return rate, done, failed


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (nginx master + workers)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(stat[11]) + int(stat[12])) / TICK
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += cpu_seconds(int(child))
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores, steal excluded)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / TICK


def own_cpu() -> float:
    """CPU seconds of this process and every child it has reaped."""
    me, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


# ---- churn -----------------------------------------------------------------------------------
async def churn(
    http: aiohttp.ClientSession, gw: GatewayProc, procs: Processes, seconds: float
) -> tuple[OpenLoop, int]:
    """Rolling replacement of the fake replicas under load: (load result, replacements)."""
    await gw.put(http, "service", service("c"))
    replicas: list[tuple[int, Popen]] = []
    serial = 0

    async def new_replica() -> tuple[int, Popen]:
        nonlocal serial
        serial += 1
        port = free_port()
        proc = fake_backend(procs, f"churn-{serial}", port, "c", tokens=16, token_delay=0.002)
        await wait_listening(port, proc)
        return port, proc

    for replica in await asyncio.gather(*(new_replica() for _ in range(CHURN_REPLICAS))):
        await gw.put(http, "slice", endpoint_slice("c", replica[0]))
        replicas.append(replica)

    async def retire(port: int, proc: Popen) -> None:
        await gw.put(http, "slice", endpoint_slice("c", port, ready=False))
        await asyncio.sleep(CHURN_GRACE)  # the terminating endpoint drains
        await asyncio.to_thread(procs.stop, proc)
        await gw.put(http, "slice", endpoint_slice("c", port), deleted="1")

    replaced = 0
    retiring: set[asyncio.Task[None]] = set()

    async def replace() -> None:
        nonlocal replaced
        while True:
            await asyncio.sleep(CHURN_EVERY)
            fresh = asyncio.create_task(new_replica())
            retiring.add(asyncio.create_task(retire(*replicas.pop(0))))
            replicas.append(await fresh)
            await gw.put(http, "slice", endpoint_slice("c", replicas[-1][0]))
            replaced += 1

    body = json.dumps({**REQUEST, "model": "c"}).encode()
    churner = asyncio.create_task(replace())
    load = await open_loop(http, f"http://127.0.0.1:{gw.port}/v1/chat/completions",
                           CHURN_RATE, seconds, body)  # fmt: skip
    churner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await churner
    await asyncio.gather(*retiring)
    for _, proc in replicas:
        await asyncio.to_thread(procs.stop, proc)
    return load, replaced


# ---- the run ---------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    base_m: str  # request/response backend (nginx return) through this path
    base_s: str  # streaming backend through this path
    pid: int | None = None  # for RSS
    gateway: GatewayProc | None = None
    idle_rss: float = 0.0
    gc_full: int = 0  # full collections in the gateway during the fixed-rate rounds
    gc_longest: float = 0.0  # seconds, any generation, fixed-rate rounds
    gc_wrk: float = 0.0  # seconds of collection during the wrk rounds
    cpu_wrk: float = 0.0  # seconds of the proxy's CPU during the wrk rounds
    gc_wrk_full: float = 0.0  # seconds, longest full collection during the wrk rounds
    fixed: list[OpenLoop] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    cpu_per_request: list[float] = field(default_factory=list)  # seconds, proxy process
    wrk_failed: int = 0
    stream1: list[float] = field(default_factory=list)
    stream8: list[float] = field(default_factory=list)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def tool_versions() -> str:
    nginx = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[:2]
    from aiohttp import http_parser

    parser = http_parser.HttpRequestParser.__name__  # HttpRequestParserC: C extension in use
    return (
        f"{nginx.removeprefix('nginx version: ')}, wrk {wrk_v[1] if len(wrk_v) > 1 else '?'}, "
        f"aiohttp {aiohttp.__version__} ({parser}), uvloop {uvloop.__version__}"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def num(value: float) -> str:
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f}"


def summary_ms(values: list[float]) -> str:
    """median [min-max], milliseconds."""
    if not values:
        return "-"
    return f"{num(statistics.median(values))} [{num(min(values))}-{num(max(values))}]"


def summary_k(values: list[float]) -> str:
    if not values:
        return "-"
    values = sorted(values)
    mid = values[len(values) // 2]
    return f"{mid:,.0f} [{values[0]:,.0f}-{values[-1]:,.0f}]"


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Run:
    """Everything report() prints."""

    machine: str
    cores: int
    pin: bool
    loadavg: str
    paths: list[Target] = field(default_factory=list)
    churned: dict[str, tuple[OpenLoop, int]] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    others: float = 0.0  # CPU seconds of other processes on the machine during the run


async def run(args: argparse.Namespace, work: Path) -> Run:
    cores = len(os.sched_getaffinity(0))
    out = Run(f"{machine()}; CPU {cpu_model()}", cores, cores >= 2, read("/proc/loadavg"))
    if out.pin:
        os.sched_setaffinity(0, {0})  # this process is the open-loop generator
    started, busy, mine = time.monotonic(), machine_busy(), own_cpu()
    procs = Processes(work, out.pin)
    pin = out.pin
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=512, use_dns_cache=False),
        timeout=aiohttp.ClientTimeout(total=60),
    )
    try:
        # Backends.
        port_m, port_s = free_port(), free_port()
        backend_m = nginx_backend(work, procs, port_m)
        backend_s = fake_backend(procs, "stream", port_s, "s", tokens=STREAM_TOKENS)
        paths = out.paths
        paths.append(Target("direct", f"http://127.0.0.1:{port_m}", f"http://127.0.0.1:{port_s}"))
        waits = [wait_listening(port_m, backend_m), wait_listening(port_s, backend_s)]
        # nginx as the proxy, 1 worker pinned like the gateway, and auto.
        for name, workers, core in (("nginx 1 worker", "1", 1), ("nginx auto", "auto", None)):
            pm, ps = free_port(), free_port()
            tag = name.replace(" ", "-")
            proc = nginx_proxy(work, procs, tag, workers, {pm: port_m, ps: port_s}, core)
            paths.append(
                Target(name, f"http://127.0.0.1:{pm}", f"http://127.0.0.1:{ps}", pid=proc.pid)
            )
            waits += [wait_listening(pm, proc), wait_listening(ps, proc)]
        # The floor of the gateway's HTTP stack: aiohttp in, aiohttp out, nothing else.
        pm, ps = free_port(), free_port()
        argv = [sys.executable, str(RUNNER), "--passthrough", f"{pm}:{port_m}", f"{ps}:{port_s}"]
        proc = procs.start("passthrough", argv, core=1)
        floor = Target("aiohttp pass-through", f"http://127.0.0.1:{pm}",
                      f"http://127.0.0.1:{ps}", pid=proc.pid)  # fmt: skip
        waits += [wait_listening(pm, proc), wait_listening(ps, proc)]
        # The floor of any Python proxy: asyncio Protocols, bytes relayed (uvloop).
        pm, ps = free_port(), free_port()
        argv = [sys.executable, str(RUNNER), "--raw", f"{pm}:{port_m}", f"{ps}:{port_s}"]
        proc = procs.start("raw", argv, core=1)
        raw = Target("raw asyncio Protocols", f"http://127.0.0.1:{pm}",
                    f"http://127.0.0.1:{ps}", pid=proc.pid)  # fmt: skip
        waits += [wait_listening(pm, proc), wait_listening(ps, proc)]
        # The gateway, once per event loop.
        gateways = []
        for loop in ("uvloop", "asyncio"):
            port, admin, control = free_port(), free_port(), free_port()
            argv = [sys.executable, str(RUNNER), "--port", str(port), "--admin-port",
                    str(admin), "--control-port", str(control), "--loop", loop]  # fmt: skip
            proc = procs.start(f"gateway-{loop}", argv, core=1)
            gateways.append(GatewayProc(loop, port, admin, control, proc))
            waits.append(wait_listening(control, proc))
        await asyncio.gather(*waits)
        for gw in gateways:
            for model, port_ in (("m", port_m), ("s", port_s)):
                await gw.put(http, "service", service(model))
                await gw.put(http, "slice", endpoint_slice(model, port_))
            base = f"http://127.0.0.1:{gw.port}"
            paths.append(Target(f"gateway {gw.loop}", base, base, gw.proc.pid, gw))
        paths += [floor, raw]
        for p in paths:
            if p.pid is not None:
                p.idle_rss = tree_rss(p.pid, "VmRSS")

        script = work / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = '{json.dumps(REQUEST)}'\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        body = json.dumps(REQUEST).encode()
        log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
        # The generator's start-up heap stays out of its own collections: no full pass
        # over it stalls the sends.
        gc.collect()
        gc.freeze()

        log("warm-up: wrk 1 s on each path")
        for p in paths:
            await asyncio.to_thread(wrk, p.base_m + "/v1/chat/completions", 1, script, pin)

        log(f"fixed 1,000 req/s: {args.latency_rounds} rounds x {args.fixed:g} s, interleaved")
        for _ in range(args.latency_rounds):
            for p in paths:
                url = p.base_m + "/v1/chat/completions"
                await open_loop(http, url, 1000, 0.25, body)  # the generator's pool is warm
                if p.gateway is not None:
                    await p.gateway.gc(http)
                p.fixed.append(await open_loop(http, url, 1000, args.fixed, body))
                if p.gateway is not None:
                    passes = await p.gateway.gc(http)
                    p.gc_full += int(passes["count"][2])
                    p.gc_longest = max(p.gc_longest, max(passes["max_ms"]) / 1000)

        log(f"max throughput: wrk -t1 -c64, {args.rounds} rounds x {args.wrk:g} s, interleaved")
        for _ in range(args.rounds):
            for p in paths:
                before = cpu_seconds(p.pid) if p.pid is not None else 0.0
                if p.gateway is not None:
                    await p.gateway.gc(http)
                rate, done, failed = await asyncio.to_thread(
                    wrk, p.base_m + "/v1/chat/completions", args.wrk, script, pin
                )
                if p.pid is not None:
                    used = cpu_seconds(p.pid) - before
                    p.cpu_per_request.append(used / max(done, 1))
                if p.gateway is not None:
                    passes = await p.gateway.gc(http)
                    p.cpu_wrk += used
                    p.gc_wrk += sum(passes["total_ms"]) / 1000
                    p.gc_wrk_full = max(p.gc_wrk_full, passes["max_ms"][2] / 1000)
                p.rps.append(rate)
                p.wrk_failed += failed

        log(f"streaming: {STREAM_TOKENS} tokens, 1 stream and 8 at once")
        for _ in range(min(args.rounds, 3)):
            for p in paths:
                p.stream1.append(await streams(http, p.base_s, 1))
                p.stream8.append(await streams(http, p.base_s, 8))

        gw = gateways[0]
        log(f"churn: gateway {gw.loop}, {CHURN_RATE:g} req/s for {args.churn:g} s")
        out.churned[gw.loop] = await churn(http, gw, procs, args.churn)
        out.peak = {p.name: tree_rss(p.pid, "VmHWM") for p in paths if p.pid is not None}
    finally:
        await http.close()
        procs.stop_all()
    out.wall = time.monotonic() - started
    out.others = (machine_busy() - busy) - (own_cpu() - mine)
    return out


def read(path: str) -> str:
    return " ".join(Path(path).read_text().split()[:3])


def report(args: argparse.Namespace, result: Run) -> None:
    paths, peak = result.paths, result.peak

    def per_round(p: Target, q: float) -> list[float]:
        return [percentile(r.latencies, q) * 1000 for r in p.fixed]

    def added(p: Target, q: float) -> list[float]:
        """Path minus direct, round by round (a round's paths ran seconds apart)."""
        return [a - d for a, d in zip(per_round(p, q), per_round(paths[0], q), strict=True)]

    def median(values: list[float]) -> float:
        return statistics.median(values)

    nginx_rps = median(paths[1].rps)
    speed, other = [], []
    for p in paths:
        failed = sum(sum(r.failed.values()) for r in p.fixed) + p.wrk_failed
        speed.append(
            [
                p.name,
                summary_ms(per_round(p, 50)),
                summary_ms(per_round(p, 99)),
                "-" if p is paths[0] else num(median(added(p, 50))),
                "-" if p is paths[0] else summary_ms(added(p, 99)),
                summary_k(p.rps),
                f"{median(p.rps) / nginx_rps:.2f}",
                summary_k([c * 1e6 for c in p.cpu_per_request]),
                str(failed),
            ]
        )
        other.append(
            [
                p.name,
                summary_k(p.stream1),
                summary_k(p.stream8),
                "-" if p.pid is None else f"{p.idle_rss:.0f} / {peak[p.name]:.0f}",
                "-" if p.gateway is None else f"{p.gc_full} / {ms(p.gc_longest)}",
                "-"
                if p.gateway is None
                else f"{p.gc_wrk / max(p.cpu_wrk, 1e-9):.1%} / {ms(p.gc_wrk_full)}",
            ]
        )
    lags = [x for r in paths[0].fixed for x in r.lags]
    achieved = [r.sent / r.seconds for p in paths for r in p.fixed]
    print(f"# gateway - {result.machine}")
    print(f"# {tool_versions()}")
    print(
        "# "
        + (
            "pinned: proxy under test on core 1; generators, wrk and backends on core 0"
            if result.pin
            else "not pinned (one core)"
        )
        + f"; load average before {result.loadavg}; other processes used "
        f"{result.others:.0f} CPU-s of the run's {result.wall:.0f} s x {result.cores} cores"
    )
    if result.others > 0.1 * result.wall * result.cores:
        print(
            "# WARNING: other processes took more than 10 % of the machine during the run: "
            "every figure is disturbed (req/s and tails most), rerun on a quiet machine"
        )
    print(
        table(
            f"Request/response: nginx `return` backend ({len(json.dumps(ANSWER))}-byte "
            f"chat.completion); median [min-max] of interleaved rounds: {args.latency_rounds} "
            f"for latency, {args.rounds} for req/s and CPU",
            [
                "path",
                "p50 ms",
                "p99 ms",
                "added p50 ms",
                "added p99 ms",
                "max req/s",
                "x nginx-1",
                "proxy CPU us/req",
                "failed",
            ],
            speed,
        )
    )
    print(
        f"latency: open-loop generator (aiohttp, uvloop) at 1,000 req/s, {args.latency_rounds} x "
        f"{args.fixed:g} s per path: achieved {min(achieved):,.0f}-{max(achieved):,.0f} "
        f"req/s, sends late by p99 {ms(percentile(lags, 99))} ms; p50/p99 per round; 'added' "
        "= path minus direct in the same round, so the generator's own cost cancels (the "
        "nginx-1 row's added p99 is the noise floor of core 1)."
    )
    print(
        f"max req/s: wrk -t1 -c64 -d{args.wrk:g}s POST; direct = wrk + backend alone on core "
        "0, the most the load side can drive. proxy CPU: user+sys of the proxy's processes "
        "per request during wrk."
    )
    print(
        table(
            f"Streaming ({STREAM_TOKENS}-token SSE from the fake OpenAI server, which caps "
            f"every row: see direct; {min(args.rounds, 3)} rounds), memory, garbage collection",
            [
                "path",
                "events/s, 1 stream",
                "events/s, 8 streams",
                "RSS idle / peak MiB",
                "GC at 1k req/s: full passes / longest ms",
                "GC under wrk: share of CPU / longest full pass ms",
            ],
            other,
        )
    )
    print(
        "events/s: the client and the fake server share core 0, so a proxy that hands the "
        "client fewer, larger reads can beat direct. GC: the gateway's collector passes "
        "(gc.callbacks in bench/gateway_runner.py), CPU time of the collecting thread."
    )
    churn_rows = []
    for loop, (load, replaced) in result.churned.items():
        lat = load.latencies
        churn_rows.append(
            [
                f"gateway {loop}",
                f"{load.sent}",
                f"{replaced}",
                f"{sum(load.failed.values())}",
                ", ".join(f"{k}: {v}" for k, v in load.failed.items()) or "-",
                f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 99))}",
            ]
        )
    print(
        table(
            f"Endpoint churn: {CHURN_REPLICAS} fake replicas (32 ms per answer), "
            f"{CHURN_RATE:g} req/s for {args.churn:g} s; every {CHURN_EVERY:g} s one turns "
            f"terminating, its process stops {CHURN_GRACE:g} s later, a new one is published",
            ["path", "requests", "replaced", "failed", "failures", "p50 / p99 ms"],
            churn_rows,
        )
    )
    gw = next(p for p in paths if p.name == "gateway uvloop")
    added99 = median(added(gw, 99)) / 1000
    ratio = median(gw.rps) / nginx_rps
    failed = sum(sum(load.failed.values()) for load, _ in result.churned.values())
    mark = lambda ok: "✓" if ok else "✗"  # noqa: E731
    print("\nGoals (gateway uvloop, the default):")
    print(
        f"  {mark(added99 <= 0.001)} added p99 <= 1 ms at 1,000 req/s: {ms(added99)} ms "
        f"(median of {args.latency_rounds} rounds)"
    )
    print(f"  {mark(ratio >= 0.5)} max throughput >= 0.5 x nginx (1 worker): {ratio:.2f} x")
    print(f"  {mark(failed == 0)} 0 failed requests during churn: {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4, help="wrk and streaming rounds")
    parser.add_argument("--latency-rounds", type=int, default=9)
    parser.add_argument("--fixed", type=float, default=1.5, help="seconds per latency round")
    parser.add_argument("--wrk", type=float, default=2.0, help="seconds per wrk round")
    parser.add_argument("--churn", type=float, default=20.0, help="seconds of churn")
    args = parser.parse_args()
    for tool in (NGINX, "wrk"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: make bench-tools")
    with workdir() as work:
        result = uvloop.run(run(args, work))
    report(args, result)


if __name__ == "__main__":
    main()
