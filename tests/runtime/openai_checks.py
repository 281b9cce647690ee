"""What every served model must answer, through the official `openai` client and raw SSE."""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import openai

# Random weights rarely emit EOS, but ignore_eos makes lengths exact.
EXACT = {"ignore_eos": True}


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", timeout=120, max_retries=0)


def check_openai(base_url: str, model: str) -> None:
    """Completions, chat and streaming through the official client."""
    c = client(base_url)
    done = c.completions.create(
        model=model, prompt="Hello, tiny model", max_tokens=16, extra_body=EXACT
    )
    assert done.choices[0].text
    assert done.usage is not None and done.usage.completion_tokens == 16
    chat = c.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say something."}],
        max_tokens=12,
        extra_body=EXACT,
    )
    assert chat.choices[0].message.role == "assistant"
    assert chat.usage is not None and chat.usage.completion_tokens == 12
    chunks = list(
        c.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Stream, please."}],
            max_tokens=24,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=EXACT,
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 24
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)


def is_vllm_process(pid: int) -> bool:
    """The launcher exec'd: its PID now runs the vLLM server (so SIGTERM reaches vLLM)."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return b"vllm.entrypoints.openai.api_server" in cmdline


@dataclass
class Stream:
    """One raw SSE completion stream: every `data:` payload, in order."""

    port: int
    model: str
    max_tokens: int
    started: threading.Event = field(default_factory=threading.Event)
    payloads: list[str] = field(default_factory=list)
    status: int = 0
    error: str = ""

    def run(self) -> None:
        body = json.dumps({
            "model": self.model, "prompt": "Once upon a time", "max_tokens": self.max_tokens,
            "stream": True, "stream_options": {"include_usage": True}, **EXACT,
        })  # fmt: skip
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            self.status = response.status
            for raw in response:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    self.payloads.append(line.removeprefix("data: "))
                    self.started.set()
        except Exception as exc:
            self.error = repr(exc)
        finally:
            self.started.set()

    @property
    def tokens(self) -> int:
        """Completion tokens from the final usage chunk (0 if the stream never got there)."""
        for payload in reversed(self.payloads):
            if payload != "[DONE]" and (usage := json.loads(payload).get("usage")):
                return int(usage["completion_tokens"])
        return 0
