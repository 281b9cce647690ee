"""`python -m localcluster up|down|status|build` (the Makefile's cluster-* targets)."""

from __future__ import annotations

import argparse
import sys

from . import build
from .cluster import Cluster, ClusterError


def main() -> int:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "build"])
    args = parser.parse_args()
    try:
        if args.command == "build":
            for name, path in sorted(build.ensure_all().items()):
                print(f"{name}: {path}")
            return 0
        cluster = Cluster()
        if args.command == "up":
            cluster.up()
        elif args.command == "down":
            stopped = cluster.down()
            print(f"local cluster down (stopped: {', '.join(stopped) or 'nothing was running'})")
        else:
            running = cluster.running_components()
            for name, pid in running.items():
                print(f"{name}: pid {pid}")
            return 0 if running else 1
    except ClusterError as err:
        print(f"localcluster {args.command}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
