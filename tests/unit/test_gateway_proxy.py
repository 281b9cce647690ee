"""The gateway's request path over real HTTP on loopback.

Backends here are the fast fake OpenAI server (tests/fakes), several per
test and with failures on demand, which real vLLM cannot give; the routing
table is fed directly instead of from the API (the integration tier covers
discovery, real vLLM and the process node).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from tests.fakes.openai_backend import Fake

from modelplane.api.config import GatewayConfig
from modelplane.gateway.server import GatewayServer

pytestmark = pytest.mark.timeout(60)


@dataclass
class Backend:
    fake: Fake
    port: int
    runner: web.BaseRunner


async def _backend(name: str, models: list[str] | None = None, **kw: Any) -> Backend:
    fake = Fake(name, models or ["m"], kw.pop("token_delay", 0.0), kw.pop("tokens", 4))
    runner = web.ServerRunner(web.Server(fake.handle, access_log=None))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return Backend(fake, port, runner)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Harness:
    server: GatewayServer
    url: str
    admin: str
    backends: list[Backend]

    async def add_backends(self, *names: str, **kw: Any) -> list[Backend]:
        made = [await _backend(n, **kw) for n in names]
        self.backends += made
        return made

    def serve(
        self,
        model: str = "m",
        revisions: dict[str, list[Backend]] | None = None,
        weights: dict[str, int] | None = None,
        routing: dict[str, Any] | None = None,
        namespace: str = "team-a",
        ready: Callable[[Backend], bool] = lambda b: True,
    ) -> None:
        """Publish a ModelService and its revisions' EndpointSlices, as the watches would."""
        revisions = revisions or {}
        weights = weights or {rev: 100 // max(len(revisions), 1) for rev in revisions}
        self.server.table.put_service(
            {
                "metadata": {
                    "namespace": namespace,
                    "name": model,
                    "creationTimestamp": "2026-11-29T00:00:00Z",
                },
                "spec": {"model": {"uri": "file:///m"}, "routing": routing or {}},
                "status": {"traffic": [{"revision": r, "weight": w} for r, w in weights.items()]},
            }
        )
        for rev, backends in revisions.items():
            self.publish(model, rev, backends, namespace, ready)

    def publish(
        self,
        model: str,
        rev: str,
        backends: list[Backend],
        namespace: str = "team-a",
        ready: Callable[[Backend], bool] = lambda b: True,
    ) -> None:
        # One slice per backend: a loopback endpoint differs only by port.
        for b in backends:
            self.server.table.put_slice(
                {
                    "metadata": {
                        "namespace": namespace,
                        "name": f"{model}-{rev}-{b.port}",
                        "labels": {
                            "modelplane.io/modelservice": model,
                            "modelplane.io/revision": rev,
                        },
                    },
                    "ports": [{"name": "http", "port": b.port}],
                    "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready(b)}}],
                }
            )

    def client(self, key: str = "none") -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Harness]:
    keys = tmp_path / "keys"
    keys.write_text("")
    config = GatewayConfig(
        host="127.0.0.1",
        port=_free_port(),
        admin_port=_free_port(),
        hold_timeout_seconds=30,
        max_queued=4,
        max_body_bytes=64 * 1024,
        api_keys_file=None,
    )
    server = GatewayServer(config)
    await server.start(discover=False)
    harness = Harness(
        server, f"http://127.0.0.1:{config.port}", f"http://127.0.0.1:{config.admin_port}", []
    )
    yield harness
    await server.stop()
    for b in harness.backends:
        await b.runner.cleanup()


async def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as s, s.post(url, data=data, headers=headers) as r:
        text = await r.read()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return r.status, parsed, r.headers


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


async def test_openai_client_chat_completions_embeddings_and_streaming(gw: Harness) -> None:
    (a,) = await gw.add_backends("a")
    gw.serve(revisions={"r1": [a]})
    client = gw.client()
    chat = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    assert chat.choices[0].message.content == "tok tok tok"
    completion = await client.completions.create(model="m", prompt="x", max_tokens=2)
    assert completion.choices[0].text == "tok tok"
    embedding = await client.embeddings.create(model="m", input="x")
    assert len(embedding.data[0].embedding) == 8
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=5, stream=True
    )
    pieces = [c.choices[0].delta.content async for c in stream]
    assert pieces == ["t0 ", "t1 ", "t2 ", "t3 ", "t4 "]
    models = await client.models.list()
    assert [m.id for m in models.data] == ["m"]


async def test_stream_chunks_pass_through_before_the_stream_ends(gw: Harness) -> None:
    (a,) = await gw.add_backends("a")
    a.fake.gate = asyncio.Event()  # the backend stops after its first chunk until released
    gw.serve(revisions={"r1": [a]})
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            gw.url + "/v1/completions",
            json={"model": "m", "prompt": "x", "stream": True, "max_tokens": 3},
        ) as r,
    ):
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        first = await r.content.readuntil(b"\n\n")
        # The first event arrived while the backend is still holding the rest.
        assert b'"t0 "' in first and not a.fake.gate.is_set()
        a.fake.gate.set()
        rest = await r.read()
    assert rest.endswith(b"data: [DONE]\n\n") and b'"t2 "' in rest


async def test_malformed_requests_get_openai_errors(gw: Harness) -> None:
    (a,) = await gw.add_backends("a")
    gw.serve(revisions={"r1": [a]})
    cases: list[tuple[bytes | Any, int, str | None, str]] = [
        (b"{not json", 400, None, "could not parse the JSON"),
        (b"[1, 2]", 400, "model", "must provide a model"),
        ({"messages": []}, 400, "model", "must provide a model"),
        ({"model": 7}, 400, "model", "must provide a model"),
        ({"model": "nope"}, 404, "model", "does not exist"),
        ({"model": "m", "prompt": "x" * 70_000}, 413, None, "larger than 65536 bytes"),
    ]
    for body, status, param, message in cases:
        code, answer, _ = await _post(gw.url + "/v1/completions", body)
        assert code == status, body
        error = answer["error"]
        assert message in error["message"] and error["param"] == param
        assert set(error) == {"message", "type", "param", "code"}
    async with aiohttp.ClientSession() as s:
        async with s.get(gw.url + "/v1/chat/completions") as r:
            assert r.status == 405 and "error" in await r.json()
        async with s.get(gw.url + "/admin") as r:
            assert r.status == 404 and "error" in await r.json()
    # The client's own SDK turns them into its usual exceptions.
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        await gw.client().completions.create(model="nope", prompt="x")
    assert a.fake.served == 0  # none of them reached a replica


async def test_weighted_split_between_revisions_is_exact(gw: Harness) -> None:
    stable, canary = await gw.add_backends("stable", "canary")
    gw.serve(revisions={"r1": [stable], "r2": [canary]}, weights={"r1": 80, "r2": 20})
    for _ in range(200):
        code, _answer, _ = await _post(gw.url + "/v1/chat/completions", CHAT)
        assert code == 200
    # Smooth weighted round robin: exact per 100 requests; tolerance 0.
    assert (stable.fake.served, canary.fake.served) == (160, 40)


async def test_least_requests_avoids_a_busy_replica(gw: Harness) -> None:
    busy, idle = await gw.add_backends("busy", "idle")
    busy.fake.gate = asyncio.Event()  # holds every request it gets
    gw.serve(revisions={"r1": [busy]})
    parked = asyncio.create_task(_post(gw.url + "/v1/chat/completions", CHAT))
    await _until(lambda: busy.fake.served != 0)
    gw.publish("m", "r1", [busy, idle])  # a second replica becomes ready
    for _ in range(10):
        code, _, headers = await _post(gw.url + "/v1/chat/completions", CHAT)
        assert code == 200 and headers["X-Fake-Backend"] == "idle"
    busy.fake.gate.set()
    assert (await parked)[0] == 200


async def test_prefix_hash_keeps_a_prompt_on_one_replica(gw: Harness) -> None:
    backends = await gw.add_backends("a", "b", "c")
    gw.serve(
        revisions={"r1": backends},
        routing={"loadBalancing": "PrefixHash", "prefixHash": {"prefixLength": 32}},
    )
    served = Counter()
    for i in range(12):
        body = {
            "model": "m",
            "messages": [
                {"role": "system", "content": "You are a pirate. " * 4},
                {"role": "user", "content": f"q{i}"},
            ],
        }
        _, _, headers = await _post(gw.url + "/v1/chat/completions", body)
        served[headers["X-Fake-Backend"]] += 1
    assert len(served) == 1  # same 32-character prefix, same replica
    spread = Counter()
    for i in range(60):
        _, _, headers = await _post(
            gw.url + "/v1/completions", {"model": "m", "prompt": f"{i} distinct prompt"}
        )
        spread[headers["X-Fake-Backend"]] += 1
    assert len(spread) == 3


async def test_hold_then_serve_when_an_endpoint_becomes_ready(gw: Harness) -> None:
    (a,) = await gw.add_backends("a")
    gw.serve(revisions={"r1": []}, weights={"r1": 100})  # revision known, nothing ready
    held = asyncio.create_task(_post(gw.url + "/v1/chat/completions", CHAT))
    await _until(lambda: gw.server.holds.waiting("m") != 0)
    assert not held.done()
    metrics = await _metrics(gw)
    assert 'modelplane_gateway_queued_requests{model="m"} 1.0' in metrics
    gw.publish("m", "r1", [a])
    code, answer, _ = await held
    assert code == 200 and answer["system_fingerprint"] == "a"
    assert 'modelplane_gateway_queued_requests{model="m"} 0.0' in await _metrics(gw)


async def test_hold_times_out_with_503_and_retry_after(gw: Harness) -> None:
    assert gw.server.gateway is not None
    gw.server.gateway.config = gw.server.config.model_copy(update={"hold_timeout_seconds": 0.3})
    gw.serve(revisions={"r1": []}, weights={"r1": 100})
    code, answer, headers = await _post(gw.url + "/v1/chat/completions", CHAT)
    assert code == 503 and headers["Retry-After"] == "5"
    assert (
        answer["error"]["code"] == "model_not_ready"
        and "no ready replica" in answer["error"]["message"]
    )
    with pytest.raises(openai.APIStatusError) as raised:
        await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.status_code == 503


async def test_queue_is_bounded_per_model(gw: Harness) -> None:
    gw.serve(revisions={"r1": []}, weights={"r1": 100})
    held = [asyncio.create_task(_post(gw.url + "/v1/chat/completions", CHAT)) for _ in range(4)]
    await _until(lambda: gw.server.holds.waiting("m") >= 4)
    code, answer, headers = await _post(gw.url + "/v1/chat/completions", CHAT)
    assert code == 503 and answer["error"]["code"] == "queue_full" and "Retry-After" in headers
    (a,) = await gw.add_backends("a")
    gw.publish("m", "r1", [a])
    assert [r[0] for r in await asyncio.gather(*held)] == [200] * 4


async def test_not_ready_endpoint_gets_no_more_requests(gw: Harness) -> None:
    a, b = await gw.add_backends("a", "b")
    gw.serve(revisions={"r1": [a, b]})
    gw.publish("m", "r1", [a], ready=lambda _: False)  # its slice now says not ready
    for _ in range(10):
        _, _, headers = await _post(gw.url + "/v1/chat/completions", CHAT)
        assert headers["X-Fake-Backend"] == "b"


async def test_refused_connection_is_retried_elsewhere(gw: Harness) -> None:
    (good,) = await gw.add_backends("good")
    (gone,) = await gw.add_backends("gone")
    await gone.runner.cleanup()  # its port now refuses connections
    gw.serve(revisions={"r1": [gone, good]})
    for _ in range(10):
        code, answer, _ = await _post(gw.url + "/v1/chat/completions", CHAT)
        assert code == 200 and answer["system_fingerprint"] == "good"
    # Every replica refusing: a 503 in OpenAI's shape, never a raw 502.
    await good.runner.cleanup()
    code, answer, headers = await _post(gw.url + "/v1/chat/completions", CHAT)
    assert (
        code == 503
        and answer["error"]["code"] == "no_replica_reachable"
        and "Retry-After" in headers
    )


async def test_replica_errors_pass_through_and_are_counted(gw: Harness) -> None:
    (a,) = await gw.add_backends("a")
    gw.serve(revisions={"r1": [a]})
    a.fake.fail_next = 2
    codes = [(await _post(gw.url + "/v1/chat/completions", CHAT))[0] for _ in range(3)]
    assert codes == [500, 500, 200]
    metrics = await _metrics(gw)
    assert (
        'modelplane_gateway_errors_total{class="upstream_5xx",model="m",revision="r1"} 2.0'
        in metrics
    )
    assert 'modelplane_gateway_requests_total{code="200",model="m",revision="r1"} 1.0' in metrics
    assert (
        'modelplane_gateway_time_to_first_token_seconds_count{model="m",revision="r1"} 3.0'
        in metrics
    )
    assert 'modelplane_gateway_endpoints{model="m",revision="r1"} 1.0' in metrics


async def test_client_disconnect_mid_stream_releases_the_replica(gw: Harness) -> None:
    (a,) = await gw.add_backends("a")
    a.fake.gate = asyncio.Event()
    gw.serve(revisions={"r1": [a]})
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            gw.url + "/v1/completions", json={"model": "m", "prompt": "x", "stream": True}
        )
        await r.content.readuntil(b"\n\n")
        r.close()  # the client goes away mid-stream
    endpoint = gw.server.table.routes["m"].revisions["r1"].endpoints[0]
    await _until(lambda: endpoint.in_flight == 0)
    a.fake.gate.set()
    assert 'class="client_disconnect"' in await _metrics(gw)


async def test_api_keys_global_and_per_model(
    gw: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys_file = tmp_path / "global-keys"
    keys_file.write_text("# admins\nglobal-secret-1\n")
    gw.server.keys_file.path = str(keys_file)
    gw.server.keys_file.load()
    (a,) = await gw.add_backends("a")
    gw.serve(revisions={"r1": [a]})
    assert (await _post(gw.url + "/v1/chat/completions", CHAT))[0] == 401
    code, answer, _ = await _post(
        gw.url + "/v1/chat/completions", CHAT, {"Authorization": "Bearer wrong"}
    )
    assert code == 401 and answer["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        await gw.client("wrong").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    ok = await gw.client("global-secret-1").chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert ok.choices
    # The key stays at the gateway: the replica never sees it.
    assert "Authorization" not in a.fake.seen_headers[-1]
    # An unknown model answers 401 too before a key is shown: names are not leaked.
    assert (await _post(gw.url + "/v1/completions", {"model": "secret-project"}))[0] == 401

    # Per-model keys from a Secret (as the watch delivers it, base64 data).
    gw.server.keys_file.path = None
    gw.server.keys_file.digests = frozenset()
    gw.serve(revisions={"r1": [a]}, routing={"apiKeySecret": "m-keys"})
    assert (
        await _post(gw.url + "/v1/chat/completions", CHAT, {"Authorization": "Bearer team-key"})
    )[0] == 401
    gw.server.table.put_secret(
        {
            "metadata": {"namespace": "team-a", "name": "m-keys"},
            "data": {"k1": base64.b64encode(b"team-key\n").decode()},
        }
    )
    assert (
        await _post(gw.url + "/v1/chat/completions", CHAT, {"Authorization": "Bearer team-key"})
    )[0] == 200
    assert (
        await _post(gw.url + "/v1/chat/completions", CHAT, {"Authorization": "Bearer team-kez"})
    )[0] == 401
    assert all(secret not in caplog.text for secret in ("global-secret-1", "team-key", "wrong"))


async def test_multipart_upload_is_routed_by_its_model_field(gw: Harness) -> None:
    (a,) = await gw.add_backends("a", models=["whisper"])
    gw.serve(model="whisper", revisions={"r1": [a]})
    out = await gw.client().audio.transcriptions.create(
        model="whisper", file=("a.wav", b"RIFF0000WAVE")
    )
    assert out.text.startswith("heard ") and a.fake.served == 1


async def test_a_client_that_stops_reading_does_not_pile_up_memory(gw: Harness) -> None:
    """A stream far larger than every buffer on the way: while the client reads
    nothing, the replica is held back by TCP back-pressure through the gateway."""
    (a,) = await gw.add_backends("a", tokens=400_000)  # ~60 MB of SSE
    gw.serve(revisions={"r1": [a]})
    async with (
        aiohttp.ClientSession(read_bufsize=2**16) as s,
        s.post(gw.url + "/v1/completions", json={"model": "m", "prompt": "x", "stream": True}) as r,
    ):
        await r.content.readuntil(b"\n\n")
        await _until_stable(lambda: a.fake.streamed_bytes)
        stalled_at = a.fake.streamed_bytes
        # Kernel socket buffers and aiohttp's 64 KiB high-water marks, not the stream.
        assert stalled_at < 16 * 2**20, stalled_at
        r.close()


async def test_health_and_readiness(gw: Harness) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(gw.admin + "/healthz") as r:
            assert r.status == 200
        async with s.get(gw.admin + "/readyz") as r:
            assert r.status == 200
        gw.server.draining = True
        async with s.get(gw.admin + "/readyz") as r:
            assert r.status == 503


async def _until(condition: Callable[[], bool]) -> None:
    """Poll a condition of this process's own state (the pytest timeout bounds it)."""
    while True:
        if condition():
            return
        await asyncio.sleep(0.01)


async def _until_stable(value: Callable[[], int]) -> None:
    """Wait until ``value()`` stops changing for half a second."""
    last = -1
    while True:
        now = value()
        if now == last:
            return
        last = now
        await asyncio.sleep(0.5)


async def _metrics(gw: Harness) -> str:
    async with aiohttp.ClientSession() as s, s.get(gw.admin + "/metrics") as r:
        return await r.text()


async def test_preview_name_is_rewritten_to_the_served_name(gw: Harness) -> None:
    (green,) = await gw.add_backends("green")
    gw.serve(revisions={"blue": [], "green": [green]}, weights={"blue": 100})
    body = gw.server.table._services[("team-a", "m")]
    assert body.model == "m"
    gw.server.table.put_service(
        {
            "metadata": {
                "namespace": "team-a",
                "name": "m",
                "creationTimestamp": "2026-11-29T00:00:00Z",
            },
            "spec": {"model": {"uri": "file:///m"}},
            "status": {
                "traffic": [{"revision": "blue", "weight": 100}],
                "preview": {"model": "m-preview", "revision": "green"},
            },
        }
    )
    code, answer, _ = await _post(gw.url + "/v1/chat/completions", {**CHAT, "model": "m-preview"})
    assert code == 200 and answer["model"] == "m"  # the replica saw its own name


def test_preview_rewrite_keeps_a_multipart_upload_whole() -> None:
    from modelplane.gateway.proxy import parse_body, with_model

    body = (
        b'--XX\r\nContent-Disposition: form-data; name="model"\r\n\r\nw-preview\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\nRIFF\x00\x01binary\r\n--XX--\r\n"
    )
    kind = "multipart/form-data; boundary=XX"
    data = parse_body(kind, body)
    assert data == {"model": "w-preview"}
    rewritten = with_model(kind, body, data, "w")
    assert parse_body(kind, rewritten) == {"model": "w"}
    assert b"RIFF\x00\x01binary" in rewritten and rewritten.count(b"--XX") == 3
