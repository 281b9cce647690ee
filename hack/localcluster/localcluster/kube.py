"""A minimal HTTPS client for the harness's own API calls (readiness, nodes).

The harness must run before any Python Kubernetes client is configured, and
the few calls it makes do not justify one; the project's code uses lightkube.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Api:
    def __init__(self, server: str, ca: Path, cert: Path, key: Path) -> None:
        self.server = server.rstrip("/")
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.load_cert_chain(str(cert), str(key))

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.context) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as err:
            raise ApiError(err.code, err.read().decode(errors="replace")) from err
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def get(self, path: str, timeout: float = 5) -> Any:
        return self.request("GET", path, timeout=timeout)

    def ok(self, path: str) -> bool:
        """True when ``path`` answers 200 (used for /readyz and /healthz)."""
        try:
            self.get(path, timeout=2)
        except (OSError, ApiError):
            return False
        return True

    def create(self, path: str, body: dict[str, Any]) -> bool:
        """Create ``body``; False if it already exists."""
        try:
            self.request("POST", path, body)
        except ApiError as err:
            if err.status == 409:
                return False
            raise
        return True


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, user: str) -> None:
    """A kubeconfig with absolute paths to the certificates (no embedded keys)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "modelplane-local",
                "cluster": {"server": server, "certificate-authority": str(ca)},
            }
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [
            {"name": "modelplane-local", "context": {"cluster": "modelplane-local", "user": user}}
        ],
        "current-context": "modelplane-local",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
