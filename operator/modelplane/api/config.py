"""Operator configuration: defaults here, overridden by MODELPLANE_* environment.

A plain pydantic model with `from_env` rather than pydantic-settings: four
fields do not justify another dependency, and the CLI layer overrides them
from flags with `model_copy(update=...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENV_PREFIX = "MODELPLANE_"
DEFAULT_RUNTIME_IMAGE = "ghcr.io/modelplane/runtime:0.1.0"


class ConfigError(ValueError):
    """A MODELPLANE_* variable with a value the operator cannot use."""


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]


class OperatorConfig(BaseModel):
    """Settings of one operator process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime_image: str = Field(
        default=DEFAULT_RUNTIME_IMAGE,
        min_length=1,
        description="Image for ModelServices that set no spec.runtime.image "
        "(env MODELPLANE_RUNTIME_IMAGE).",
    )
    namespaces: tuple[str, ...] = Field(
        default=(),
        description="Namespaces to watch; empty watches all (env MODELPLANE_NAMESPACES, "
        "comma-separated).",
    )
    log_level: LogLevel = Field(default="INFO", description="env MODELPLANE_LOG_LEVEL.")
    log_format: LogFormat = Field(default="text", description="env MODELPLANE_LOG_FORMAT.")
    health_port: int = Field(
        default=8080, ge=1, le=65535, description="Port of /healthz (env MODELPLANE_HEALTH_PORT)."
    )
    metrics_port: int = Field(
        default=9090,
        ge=1,
        le=65535,
        description="Port of the Prometheus /metrics endpoint (env MODELPLANE_METRICS_PORT).",
    )
    watch_nodes: bool = Field(
        default=True,
        description="Watch Nodes to check spec.resources.gpuProduct against the GPU products "
        "the cluster offers (env MODELPLANE_WATCH_NODES; needs list/watch on nodes).",
    )
    workers: int = Field(
        default=16, ge=1, le=256, description="Concurrent reconciles (env MODELPLANE_WORKERS)."
    )
    api_concurrency: int = Field(
        default=32,
        ge=1,
        le=512,
        description="Concurrent API calls at most (env MODELPLANE_API_CONCURRENCY).",
    )
    gateway_metrics_urls: tuple[str, ...] = Field(
        default=(),
        description="The gateways' /metrics URLs, read for rollout analysis; a host name "
        "resolving to several addresses (a headless Service) is read at each "
        "(env MODELPLANE_GATEWAY_METRICS_URLS, comma-separated).",
    )
    resync_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Every ModelService is reconciled at least this often, even without "
        "events (env MODELPLANE_RESYNC_SECONDS).",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OperatorConfig:
        """Read MODELPLANE_<FIELD> variables; ConfigError names the bad variable."""
        return _from_env(
            cls, environ, {name: ENV_PREFIX + name.upper() for name in cls.model_fields}
        )


# Settings the gateway shares with the operator keep the operator's variable
# names, so one chart value (e.g. the watched namespaces) configures both.
_SHARED = ("namespaces", "log_level", "log_format")
GATEWAY_ENV_PREFIX = "MODELPLANE_GATEWAY_"


class GatewayConfig(BaseModel):
    """Settings of one gateway process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespaces: tuple[str, ...] = Field(
        default=(),
        description="Namespaces whose ModelServices are served; empty serves all "
        "(env MODELPLANE_NAMESPACES).",
    )
    log_level: LogLevel = Field(default="INFO", description="env MODELPLANE_LOG_LEVEL.")
    log_format: LogFormat = Field(default="text", description="env MODELPLANE_LOG_FORMAT.")
    host: str = Field(default="0.0.0.0", min_length=1, description="Listen address.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the OpenAI API.")
    admin_port: int = Field(
        default=9090, ge=1, le=65535, description="Port of /metrics, /healthz and /readyz."
    )
    hold_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a request waits for a model with no ready replica before a 503.",
    )
    max_queued: int = Field(
        default=1000, ge=0, description="Requests held per model at most; more get a 503 at once."
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    connect_timeout_seconds: float = Field(
        default=3.0, gt=0, description="Connecting to a replica; past it another one is tried."
    )
    api_keys_file: str | None = Field(
        default=None,
        min_length=1,
        description="File with one API key per line, accepted for every model (a mounted "
        "Secret; re-read when it changes). Unset: only per-ModelService keys apply.",
    )
    loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop", description="Event loop implementation (uvloop is faster)."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GatewayConfig:
        """Read MODELPLANE_GATEWAY_<FIELD> (MODELPLANE_<FIELD> for shared settings)."""
        names = {
            name: (ENV_PREFIX if name in _SHARED else GATEWAY_ENV_PREFIX) + name.upper()
            for name in cls.model_fields
        }
        return _from_env(cls, environ, names)


_Config = TypeVar("_Config", bound=BaseModel)


def _from_env(cls: type[_Config], environ: Mapping[str, str], names: Mapping[str, str]) -> _Config:
    values: dict[str, object] = {}
    for name, variable in names.items():
        raw = environ.get(variable)
        if raw is None:
            continue
        if name in ("namespaces", "gateway_metrics_urls"):
            values[name] = tuple(n.strip() for n in raw.split(",") if n.strip())
        elif name == "log_level":
            values[name] = raw.strip().upper()
        else:
            values[name] = raw.strip()
    try:
        return cls.model_validate(values)
    except ValidationError as error:
        problems = (
            f"{names[str(e['loc'][0])]}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise ConfigError("; ".join(problems)) from error
