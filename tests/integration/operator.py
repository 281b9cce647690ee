"""Run the real operator (`modelplane operator`) as a subprocess for tests.

It authenticates as the chart's ServiceAccount, bound to the chart's own RBAC
rules (rendered by helm), so a missing permission fails the tests here too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .kube import Kubectl, wait_for

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "modelplane-system"
RELEASE = "modelplane"
SERVICE_ACCOUNT = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{RELEASE}"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install_crds(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kubectl(
        "wait", "--for=condition=Established", "crd/modelservices.modelplane.io", "--timeout=60s"
    )


def install_identity(kubectl: Kubectl, helm: Path) -> Path:
    """The chart's ServiceAccount and RBAC, and a kubeconfig holding its token."""
    kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    rendered = subprocess.run(
        [
            str(helm),
            "template",
            RELEASE,
            str(ROOT / "charts" / "modelplane"),
            "-n",
            OPERATOR_NAMESPACE,
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kubectl("apply", "-f", "-", input=rendered)
    token = kubectl(
        "-n", OPERATOR_NAMESPACE, "create", "token", RELEASE, "--duration=24h"
    ).stdout.strip()
    admin = json.loads(kubectl.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": RELEASE, "user": {"token": token}}],
        "contexts": [{"name": RELEASE, "context": {"cluster": cluster["name"], "user": RELEASE}}],
        "current-context": RELEASE,
    }
    path = kubectl.kubeconfig.parent / "operator.kubeconfig"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


@dataclass
class ModelplaneProcess:
    """`python -m modelplane.cli <command>` in its own session, logging to a file."""

    kubeconfig: Path
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def spawn(self, command: str, env: dict[str, str]) -> None:
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelplane.cli", command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig), **env, **self.env},
                start_new_session=True,
            )

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"exited {self.proc.returncode}:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class OperatorProcess(ModelplaneProcess):
    health_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)

    def start(self) -> None:
        self.spawn(
            "operator",
            {
                "MODELPLANE_HEALTH_PORT": str(self.health_port),
                "MODELPLANE_METRICS_PORT": str(self.metrics_port),
                "MODELPLANE_LOG_FORMAT": "json",
            },
        )
        wait_for("the operator's /healthz", self.healthy, timeout=60)

    def healthy(self) -> bool:
        self.alive()
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}/healthz", timeout=1
            ) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        """The operator's Prometheus samples, by name with labels."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples


class AuditLog:
    """Counts the operator's write calls as the API server recorded them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def writes_since(self, offset: int, user: str = SERVICE_ACCOUNT) -> list[dict[str, Any]]:
        with self.path.open("rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        return [
            e
            for e in entries
            if e.get("user", {}).get("username") == user
            and e.get("verb") in WRITE_VERBS
            and e.get("stage") == "ResponseComplete"
        ]


def settle(seconds: float) -> None:
    """Let time pass on purpose (a window in which nothing may happen)."""
    time.sleep(seconds)
