"""`modelplane` command line: `operator`, `gateway` and `rollout ...`.

Installed twice: as `modelplane`, and as `kubectl-modelplane` so that
`kubectl modelplane rollout status chat` works as a kubectl plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from modelplane.api.config import ConfigError, GatewayConfig, OperatorConfig


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


def _gateway_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gateway",
        help="run the OpenAI-compatible gateway",
        description="Serve the OpenAI API for every ModelService in scope, routing by `model`. "
        "Every flag also reads from an environment variable (flags win).",
    )
    p.add_argument(
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="serve only this namespace's models (repeatable; default: all; "
        "env MODELPLANE_NAMESPACES)",
    )
    p.add_argument("--host", help="listen address (env MODELPLANE_GATEWAY_HOST; default 0.0.0.0)")
    p.add_argument("--port", type=int, help="OpenAI API port (env MODELPLANE_GATEWAY_PORT; 8000)")
    p.add_argument(
        "--admin-port",
        type=int,
        help="/metrics, /healthz, /readyz port (env MODELPLANE_GATEWAY_ADMIN_PORT; 9090)",
    )
    p.add_argument(
        "--hold-timeout",
        type=float,
        dest="hold_timeout_seconds",
        metavar="SECONDS",
        help="wait this long for a model with no ready replica, then 503 "
        "(env MODELPLANE_GATEWAY_HOLD_TIMEOUT_SECONDS; 120)",
    )
    p.add_argument(
        "--max-queued",
        type=int,
        help="requests held per model at most (env MODELPLANE_GATEWAY_MAX_QUEUED; 1000)",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        help="largest request body (env MODELPLANE_GATEWAY_MAX_BODY_BYTES; 8 MiB)",
    )
    p.add_argument(
        "--api-keys-file",
        help="file of global API keys, one per line (env MODELPLANE_GATEWAY_API_KEYS_FILE)",
    )
    p.add_argument(
        "--loop", choices=["uvloop", "asyncio"], help="event loop (env MODELPLANE_GATEWAY_LOOP)"
    )
    p.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="env MODELPLANE_LOG_LEVEL",
    )
    p.add_argument("--log-format", choices=["text", "json"], help="env MODELPLANE_LOG_FORMAT")


def _run_gateway(args: argparse.Namespace) -> int:
    try:
        config = GatewayConfig.from_env(os.environ)
        overrides = {
            name: getattr(args, name)
            for name in (
                "host",
                "port",
                "admin_port",
                "hold_timeout_seconds",
                "max_queued",
                "max_body_bytes",
                "api_keys_file",
                "loop",
                "log_level",
                "log_format",
            )
        }
        if args.namespaces:
            overrides["namespaces"] = tuple(args.namespaces)
        config = GatewayConfig.model_validate(
            {
                **config.model_dump(),
                **{k: v for k, v in overrides.items() if v is not None},
            }
        )
    except (ConfigError, ValueError) as err:
        print(f"modelplane gateway: {err}", file=sys.stderr)
        return 2
    from modelplane.gateway.server import run

    try:
        run(config)
    except KeyboardInterrupt:
        return 0
    return 0


def _rollout_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "rollout",
        help="see and steer a ModelService's rollout",
        description="Status and history of a ModelService's revisions, and the requests the "
        "operator acts on: promote, pause, resume, abort, retry; undo rewrites the spec to a "
        "kept revision. Also `kubectl modelplane rollout ...`.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    helps = {
        "status": "where the rollout is: stable, step, weight, why it waits",
        "history": "kept revisions with their outcome, image and model",
        "promote": "pass the current gate (--full: skip the remaining steps)",
        "pause": "hold the rollout where it is",
        "resume": "continue a paused rollout",
        "abort": "send all traffic back to stable and stop",
        "retry": "try a rolled back or aborted revision again",
        "undo": "rewrite the spec to a kept revision (default: the previous stable)",
    }
    for action, text in helps.items():
        a = actions.add_parser(action, help=text, description=text)
        a.add_argument("name", help="the ModelService")
        a.add_argument("-n", "--namespace", help="default: the kubeconfig's namespace")
        if action == "status":
            a.add_argument("-w", "--watch", action="store_true", help="follow until it ends")
            a.add_argument("--timeout", type=float, default=1800, help="seconds to watch")
        if action == "promote":
            a.add_argument("--full", action="store_true", help="skip the remaining steps")
        if action == "undo":
            a.add_argument("--to-revision", type=int, metavar="N", help="revision number")
        a.set_defaults(full=False, watch=False, to_revision=None, timeout=0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="modelplane", description="ModelPlane: serve LLMs with vLLM on Kubernetes."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _operator_parser(sub)
    _gateway_parser(sub)
    _rollout_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "gateway":
        return _run_gateway(args)
    if args.command == "rollout":
        from modelplane.commands import rollout

        return rollout.main(args)

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
