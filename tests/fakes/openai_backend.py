"""A fast fake of vLLM's OpenAI server, for tests and benchmarks that need many replicas.

Real vLLM needs ~4 GB and a minute to start; gateway tests that need many
endpoints, failures on demand or exact timing use this instead and say so.
It answers /v1/chat/completions, /v1/completions (both streaming too),
/v1/embeddings, /v1/models, /health and /metrics, and names itself in every
answer (`system_fingerprint` and the X-Fake-Backend header) so tests can
count which replica served. Control endpoints (not in vLLM): POST
/fake/ready, /fake/unready (its /v1/models, the readiness probe's path,
answers 503, so the pod turns not-ready) and /fake/fail/<n> (the next n
requests answer 500). FAKE_ERROR_RATE (a share of requests answered 500,
spread evenly) and FAKE_FIRST_TOKEN_DELAY (seconds before any answer) in
its environment make a whole revision misbehave, for rollout gates.

Accepts vLLM's command line (--port, --served-model-name, anything else
ignored), so a pod whose runtime image maps to tests/fakes/bin runs it in
place of vLLM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from aiohttp import web


class Fake:
    def __init__(self, name: str, models: list[str], token_delay: float, tokens: int) -> None:
        self.name = name
        self.models = models
        self.token_delay = token_delay
        self.tokens = tokens
        self.ready = True
        self.fail_next = 0
        # Misbehaviour a revision's template can ask for (env), for rollout gates.
        self.error_rate = float(os.environ.get("FAKE_ERROR_RATE", "0"))
        self.first_token_delay = float(os.environ.get("FAKE_FIRST_TOKEN_DELAY", "0"))
        self._errors_owed = 0.0
        self.served = 0
        # In-process tests: a stream waits here after its first chunk, and
        # every request's headers are kept.
        self.gate: asyncio.Event | None = None
        self.seen_headers: list[dict[str, str]] = []
        self.streamed_bytes = 0

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        headers = {"X-Fake-Backend": self.name}
        if path == "/health":
            return web.Response(status=200, headers=headers)
        if path == "/metrics":
            return web.Response(text=f"fake_requests_total {self.served}\n", headers=headers)
        if path.startswith("/fake/"):
            return self._control(path)
        if path == "/v1/models":
            if not self.ready:
                return web.Response(status=503, text="not ready\n", headers=headers)
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
            return web.json_response({"object": "list", "data": data}, headers=headers)
        body = await request.read()
        if path == "/v1/audio/transcriptions":  # multipart: the gateway routed it by form field
            self.served += 1
            return web.json_response({"text": f"heard {len(body)} bytes"}, headers=headers)
        try:
            req = json.loads(body)
        except ValueError:
            return web.json_response({"error": {"message": "bad json"}}, status=400)
        self.served += 1
        self.seen_headers.append(dict(request.headers))
        if self.gate is not None and not req.get("stream"):
            await self.gate.wait()
        self._errors_owed += self.error_rate
        if self.first_token_delay:
            await asyncio.sleep(self.first_token_delay)
        if self.fail_next > 0 or self._errors_owed >= 1:
            if self.fail_next > 0:
                self.fail_next -= 1
            else:
                self._errors_owed -= 1
            return web.json_response(
                {"error": {"message": "injected failure", "type": "server_error"}},
                status=500,
                headers=headers,
            )
        if req.get("model") not in self.models:
            return web.json_response(
                {"error": {"message": f"model {req.get('model')} not served here"}},
                status=404,
                headers=headers,
            )
        n = int(req.get("max_tokens") or self.tokens)
        if path == "/v1/embeddings":
            return web.json_response(
                {
                    "object": "list",
                    "model": req["model"],
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.0] * 8}],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                },
                headers=headers,
            )
        chat = path == "/v1/chat/completions"
        if path not in ("/v1/chat/completions", "/v1/completions"):
            return web.json_response({"error": {"message": "not found"}}, status=404)
        base = {
            "id": f"cmpl-{self.name}-{self.served}",
            "created": int(time.time()),
            "model": req["model"],
            "system_fingerprint": self.name,
        }
        if req.get("stream"):
            return await self._stream(request, base, chat, n, headers)
        if self.token_delay:
            await asyncio.sleep(self.token_delay * n)
        text = " ".join(["tok"] * n)
        choice = (
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length",
            }
            if chat
            else {"index": 0, "text": text, "finish_reason": "length"}
        )
        return web.json_response(
            {
                **base,
                "object": "chat.completion" if chat else "text_completion",
                "choices": [choice],
                "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
            },
            headers=headers,
        )

    async def _stream(
        self,
        request: web.BaseRequest,
        base: dict[str, object],
        chat: bool,
        n: int,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        kind = "chat.completion.chunk" if chat else "text_completion"
        for i in range(n):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            delta = (
                {"index": 0, "delta": {"content": f"t{i} "}}
                if chat
                else {"index": 0, "text": f"t{i} "}
            )
            chunk = {**base, "object": kind, "choices": [delta]}
            data = f"data: {json.dumps(chunk)}\n\n".encode()
            await response.write(data)
            self.streamed_bytes += len(data)
            if i == 0 and self.gate is not None:
                await self.gate.wait()
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _control(self, path: str) -> web.Response:
        if path == "/fake/ready":
            self.ready = True
        elif path == "/fake/unready":
            self.ready = False
        elif path.startswith("/fake/fail/"):
            self.fail_next = int(path.rsplit("/", 1)[1])
        else:
            return web.Response(status=404)
        return web.Response(text="ok\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", action="append", dest="models")
    parser.add_argument("--name", default=os.environ.get("HOSTNAME", f"fake-{os.getpid()}"))
    parser.add_argument(
        "--token-delay", type=float, default=float(os.environ.get("FAKE_TOKEN_DELAY", "0"))
    )
    parser.add_argument("--tokens", type=int, default=int(os.environ.get("FAKE_TOKENS", "16")))
    args, _ = parser.parse_known_args(argv)
    fake = Fake(args.name, args.models or ["fake"], args.token_delay, args.tokens)

    async def serve() -> None:
        runner = web.ServerRunner(web.Server(fake.handle, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, args.host, args.port, reuse_address=True).start()
        sys.stderr.write(f"fake OpenAI backend {fake.name} on {args.host}:{args.port}\n")
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
