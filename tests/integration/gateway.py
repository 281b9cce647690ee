"""Run the real gateway (`modelplane gateway`) as a subprocess for tests.

It reaches pods on the process node at their own IPs (10.244.0.0/24, in
network namespaces the harness made); KWOK pod IPs and ClusterIPs are routed
unreachable, so a stray request fails on this machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .kube import wait_for
from .operator import free_port


@dataclass
class GatewayProcess:
    kubeconfig: Path
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "MODELPLANE_GATEWAY_HOST": "127.0.0.1",
            "MODELPLANE_GATEWAY_PORT": str(self.port),
            "MODELPLANE_GATEWAY_ADMIN_PORT": str(self.admin_port),
            **self.env,
        }
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelplane.cli", "gateway"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        wait_for("the gateway's /readyz", self.ready, timeout=60)

    def _get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, ""

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"gateway exited {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return self._get("/readyz")[0] == 200
        except OSError:
            return False

    def metric(self, name: str) -> float:
        """One Prometheus sample, e.g. 'modelplane_gateway_queued_requests{model="x"}'."""
        for line in self._get("/metrics")[1].splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
