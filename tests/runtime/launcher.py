"""Run the real `modelplane-runtime` as a process, the way a pod's container runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .s3server import free_port

LAUNCHER = Path(sys.executable).with_name("modelplane-runtime")
VLLM_ARGS = ("--max-model-len", "512", "--dtype", "float32", "--shutdown-timeout", "30")
# torch.compile caches by model path, and every test has its own cache dir, so
# compiling would add ~45 s per start here without testing anything of ours.
EAGER = ("--enforce-eager",)
READY_TIMEOUT = 420.0  # with torch.compile, a first start compiles for about 2 min here
# The ambient environment must not leak credentials or proxies into a launcher under test.
_DROPPED = ("HF_", "AWS_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def base_env(vllm_bin: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The local node's runtime-image mapping: the vLLM venv first on PATH, loopback only."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_DROPPED)}
    env.update(
        PATH=f"{vllm_bin}:{env.get('PATH', '')}",
        VLLM_CPU_KVCACHE_SPACE="1",
        VLLM_HOST_IP="127.0.0.1",
        NO_PROXY="*",
    )
    env.update(extra or {})
    return env


@dataclass
class Result:
    returncode: int
    stderr: str

    @property
    def last_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


def fetch(uri: str, cache: Path, env: dict[str, str], *extra: str, timeout: float = 120) -> Result:
    proc = subprocess.run(
        [str(LAUNCHER), "fetch", "--model-uri", uri, "--cache-dir", str(cache), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stderr)


def image_launcher(vllm_bin: Path) -> list[str]:
    """The launcher as the runtime image runs it: inside vLLM's own interpreter."""
    return [str(vllm_bin / "python"), "-m", "modelplane.runtime"]


def image_env(vllm_bin: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our package on vLLM's interpreter path, like the image's `pip install --no-deps .`."""
    root = Path(__file__).resolve().parents[2]
    return base_env(vllm_bin, {"PYTHONPATH": str(root / "operator"), **(extra or {})})


class Served:
    """`modelplane-runtime serve … -- <vLLM args>` on a loopback port; its PID becomes vLLM's."""

    def __init__(
        self,
        uri: str,
        cache: Path,
        env: dict[str, str],
        log: Path,
        *vllm: str,
        launcher: list[str] | None = None,
        eager: bool = True,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.identity_file = log.with_suffix(".identity.json")
        self.log = log
        argv = [
            *(launcher or [str(LAUNCHER)]), "serve", "--model-uri", uri, "--cache-dir", str(cache),
            "--identity-file", str(self.identity_file), "--",
            "--host", "127.0.0.1", "--port", str(self.port),
            *VLLM_ARGS, *(EAGER if eager else ()), *vllm,
        ]  # fmt: skip
        self._out = log.open("wb")
        self.proc = subprocess.Popen(argv, env=env, stdout=self._out, stderr=subprocess.STDOUT)
        self.started = time.monotonic()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Seconds until /v1/models answered; fails with the log's tail if vLLM died."""
        while time.monotonic() - self.started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"launcher exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/v1/models", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - self.started
            except OSError:
                time.sleep(1)
        raise AssertionError(f"not ready in {timeout:.0f} s:\n{self.tail()}")

    def models(self) -> list[str]:
        with urllib.request.urlopen(self.base_url + "/v1/models", timeout=10) as r:
            return [m["id"] for m in json.load(r)["data"]]

    def identity(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.identity_file.read_text())
        return data

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (what the kubelet sends), then wait; SIGKILL only if it will not go."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode
