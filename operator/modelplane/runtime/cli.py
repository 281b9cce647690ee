"""`modelplane-runtime`: fetch a model (prefetch Job) or fetch and serve it (vLLM pod).

  modelplane-runtime serve --model-uri URI --cache-dir DIR [--identity-file PATH]
                           [--download-timeout S] -- <vLLM args>
  modelplane-runtime fetch --model-uri URI --cache-dir DIR [--identity-file PATH]
                           [--download-timeout S]

On success the identity JSON goes to the identity file (default: the kubelet's
/dev/termination-log when mounted) and to the log. On failure the last line on
stderr, and the identity file, is `ModelDownloadFailed: <cause>`; exit 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from modelplane.runtime import server
from modelplane.runtime.deadline import Deadline
from modelplane.runtime.errors import ModelDownloadFailed
from modelplane.runtime.fetch import parse, resolve
from modelplane.runtime.identity import default_identity_file, write_report

log = logging.getLogger("modelplane.runtime")

EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelplane-runtime", description="Fetch a model into a cache, then serve it."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("serve", "fetch the model, then exec the vLLM OpenAI server with the args after --"),
        ("fetch", "fetch the model into the cache only (prefetch Job)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--model-uri", required=True, help="hf://, s3://, pvc:// or file:// URI")
        sub.add_argument("--cache-dir", required=True, type=Path, help="shared model cache")
        sub.add_argument(
            "--identity-file",
            type=Path,
            default=None,
            help="where to write the identity JSON (default /dev/termination-log when mounted)",
        )
        sub.add_argument(
            "--download-timeout",
            type=float,
            default=0.0,
            help="overall limit in seconds for resolving and downloading (0: none)",
        )
        sub.add_argument("--progress-interval", type=float, default=5.0, help=argparse.SUPPRESS)
    return parser


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _fail(exc: ModelDownloadFailed, report: Path | None) -> int:
    log.error("%s", exc.line())
    write_report(report, exc.line())
    logging.shutdown()
    sys.stderr.write(exc.line() + "\n")
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    vllm_args: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, vllm_args = args_in[:cut], args_in[cut + 1 :]
    args = _parser().parse_args(args_in)
    _configure_logging()
    if args.command == "fetch" and vllm_args:
        sys.stderr.write("modelplane-runtime fetch takes no vLLM arguments\n")
        return EXIT_USAGE
    if flag := server.reserved_flag(vllm_args):
        sys.stderr.write(f"modelplane-runtime: {flag} is set by the launcher from --model-uri\n")
        return EXIT_USAGE
    report = args.identity_file or default_identity_file()
    try:
        source = parse(args.model_uri)
        deadline = Deadline(args.download_timeout, what=args.model_uri)
        model_dir, identity = resolve(
            args.model_uri, args.cache_dir, deadline, args.progress_interval
        )
    except ModelDownloadFailed as exc:
        return _fail(exc, report)
    except OSError as exc:  # the cache volume: full, read-only, not mounted
        where = exc.filename or args.cache_dir
        return _fail(ModelDownloadFailed(f"cache {where}: {exc.strerror or exc}"), report)
    except Exception as exc:  # a bug or a surprising answer: still one stable line
        log.exception("unexpected failure")
        return _fail(ModelDownloadFailed(f"unexpected {type(exc).__name__}: {exc}"), report)
    log.info("model identity: %s", identity.to_json())
    write_report(report, identity.to_json())
    if args.command == "fetch":
        log.info("model ready at %s", model_dir)
        return 0
    argv_out = server.vllm_argv(
        server.vllm_python(), model_dir, server.default_served_name(source), vllm_args
    )
    server.exec_vllm(argv_out)
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
