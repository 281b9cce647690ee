"""Where the operator's API credentials come from: lightkube's own resolution
(KUBECONFIG, ~/.kube/config, or the in-cluster service account), handed to
kopf's watches too, so both use one client configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lightkube import KubeConfig


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_path: str | None = None
    ca_data: str | None = None  # base64, as in a kubeconfig
    insecure: bool = False
    token: str | None = None
    certificate_path: str | None = None
    certificate_data: str | None = None
    private_key_path: str | None = None
    private_key_data: str | None = None
    namespace: str | None = None


def load() -> Credentials:
    """Resolve credentials now (service-account tokens rotate: call on each login)."""
    config = KubeConfig.from_env().get()
    if config is None:
        raise LookupError("the Kubernetes configuration has no current context")
    cluster, user = config.cluster, config.user

    def path(name: str | None) -> str | None:
        return str(config.abs_file(name)) if name else None

    token = None
    if user is not None:
        token = Path(user.token_file).read_text().strip() if user.token_file else user.token
    return Credentials(
        server=cluster.server,
        ca_path=path(cluster.certificate_auth),
        ca_data=cluster.certificate_auth_data,
        insecure=cluster.insecure,
        token=token,
        certificate_path=path(user.client_cert) if user else None,
        certificate_data=user.client_cert_data if user else None,
        private_key_path=path(user.client_key) if user else None,
        private_key_data=user.client_key_data if user else None,
        namespace=config.namespace,
    )
