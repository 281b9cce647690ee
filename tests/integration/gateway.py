"""Run the real gateway (`modelplane gateway`) as a subprocess for tests.

It reaches pods on the process node at their own IPs (10.244.0.0/24, in
network namespaces the harness made); KWOK pod IPs and ClusterIPs are routed
unreachable, so a stray request fails on this machine.
"""

from __future__ import annotations

import signal
import urllib.request
from dataclasses import dataclass, field

from .kube import wait_for
from .operator import ModelplaneProcess, free_port


@dataclass
class GatewayProcess(ModelplaneProcess):
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.spawn(
            "gateway",
            {
                "MODELPLANE_GATEWAY_HOST": "127.0.0.1",
                "MODELPLANE_GATEWAY_PORT": str(self.port),
                "MODELPLANE_GATEWAY_ADMIN_PORT": str(self.admin_port),
            },
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
        self.alive()
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

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> None:
        super().stop(sig, timeout)  # SIGINT: the gateway drains, then exits
