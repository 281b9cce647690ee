"""`modelplane` command line: `modelplane operator` today; `gateway` and
`rollout` join it as they land."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from modelplane.api.config import ConfigError, OperatorConfig


def _operator_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "operator",
        help="run the ModelService operator",
        description="Reconcile ModelServices into vLLM Deployments and Services. "
        "Every flag also reads from a MODELPLANE_* environment variable (flags win).",
    )
    p.add_argument(
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch only this namespace (repeatable; default: all; env MODELPLANE_NAMESPACES)",
    )
    p.add_argument(
        "--runtime-image", help="default vLLM runtime image (env MODELPLANE_RUNTIME_IMAGE)"
    )
    p.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="env MODELPLANE_LOG_LEVEL",
    )
    p.add_argument("--log-format", choices=["text", "json"], help="env MODELPLANE_LOG_FORMAT")
    p.add_argument(
        "--health-port",
        type=int,
        help="port of /healthz (env MODELPLANE_HEALTH_PORT; default 8080)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        help="port of Prometheus /metrics (env MODELPLANE_METRICS_PORT; default 9090)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="modelplane", description="ModelPlane: serve LLMs with vLLM on Kubernetes."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _operator_parser(sub)
    args = parser.parse_args(argv)

    if args.command == "operator":
        try:
            config = OperatorConfig.from_env(os.environ)
        except ConfigError as err:
            print(f"modelplane operator: {err}", file=sys.stderr)
            return 2
        overrides = {
            "namespaces": tuple(args.namespaces) if args.namespaces else None,
            "runtime_image": args.runtime_image,
            "log_level": args.log_level,
            "log_format": args.log_format,
            "health_port": args.health_port,
            "metrics_port": args.metrics_port,
        }
        config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        from lightkube.core.exceptions import ConfigError as KubeConfigError

        from modelplane.handlers.operator import run

        try:
            asyncio.run(run(config))
        except KeyboardInterrupt:
            return 0
        except KubeConfigError as err:
            print(
                f"modelplane operator: no Kubernetes credentials ({err}); set KUBECONFIG "
                "or run in a pod with a service account",
                file=sys.stderr,
            )
            return 2
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
