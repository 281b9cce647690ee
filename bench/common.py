"""Shared bits of the benchmarks: the local cluster, timing statistics, tables."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack" / "localcluster"))
sys.path.insert(0, str(ROOT))

from localcluster.cluster import Cluster  # noqa: E402


def machine() -> str:
    cores = len(__import__("os").sched_getaffinity(0))
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    return f"{platform.node()}: {cores} cores, {mem} GiB, Python {platform.python_version()}"


def summary(values: Sequence[float]) -> str:
    """median [min-max] of a sample, in the sample's unit."""
    if not values:
        return "-"
    return f"{statistics.median(values):.3g} [{min(values):.3g}-{max(values):.3g}]"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False))  # noqa: E731
    out = [f"\n## {title}", line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1]) / 1024
    return 0.0


def kubectl(cluster: Cluster, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        [
            str(cluster.layout.bin_link / "kubectl"),
            f"--kubeconfig={cluster.layout.kubeconfig}",
            *args,
        ],
        input=input,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def kubectl_json(cluster: Cluster, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(kubectl(cluster, *args, "-o", "json"))
