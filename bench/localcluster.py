"""Local cluster figures: warm cluster-up, control-plane RSS, pod start.

Baselines in the same run: the API server alone reaching /readyz (the floor
of any cluster start), and a simulated KWOK pod's create->Ready (the floor of
the API/scheduler path a process pod also takes).

    make bench
    PYTHONPATH=.:hack/localcluster .venv/bin/python bench/localcluster.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from common import Cluster, kubectl, kubectl_json, machine, rss_mib, summary, table

SERVER = {
    "name": "web",
    "image": "python:3.11-slim",
    "command": ["python3", "-m", "http.server", "8080"],
    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
}
LOCAL = {
    "nodeSelector": {"modelplane.io/node-kind": "local"},
    "tolerations": [{"key": "modelplane.io/local", "operator": "Exists", "effect": "NoSchedule"}],
}
KWOK = {
    "nodeSelector": {"modelplane.io/node-pool": "cpu"},
    "tolerations": [],
}


def timed_up(cluster: Cluster) -> tuple[float, float]:
    """(seconds to API /readyz, seconds to everything Ready) of one warm start."""
    start = time.monotonic()
    api_ready: list[float] = []
    original = cluster._wait

    def spy(what: str, *args: Any, **kwargs: Any) -> None:
        original(what, *args, **kwargs)
        if what == "the API server":
            api_ready.append(time.monotonic() - start)

    cluster._wait = spy  # type: ignore[method-assign]
    cluster.up()
    cluster._wait = original  # type: ignore[method-assign]
    return api_ready[0], time.monotonic() - start


def pod_ready_seconds(
    cluster: Cluster, namespace: str, name: str, placement: dict[str, Any]
) -> float:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**placement, "terminationGracePeriodSeconds": 1, "containers": [SERVER]},
    }
    start = time.monotonic()
    kubectl(cluster, "create", "-f", "-", input=json.dumps(pod))
    while True:
        p = kubectl_json(cluster, "-n", namespace, "get", "pod", name)
        conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
        if conds.get("Ready") == "True":
            return time.monotonic() - start
        if time.monotonic() - start > 60:
            raise RuntimeError(f"pod {name} not Ready after 60 s")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pods", type=int, default=5)
    args = parser.parse_args()

    cluster = Cluster()
    cluster.up()  # builds if needed; the warm starts below are timed
    api, full = [], []
    for _ in range(args.runs):
        cluster.down()
        a, f = timed_up(cluster)
        api.append(a)
        full.append(f)
    pids = cluster.running_components()
    rss = {name: rss_mib(pid) for name, pid in pids.items()}

    kubectl(cluster, "create", "namespace", "bench-pods")
    local, kwok = [], []
    for i in range(args.pods):
        local.append(pod_ready_seconds(cluster, "bench-pods", f"local-{i}", LOCAL))
        kwok.append(pod_ready_seconds(cluster, "bench-pods", f"kwok-{i}", KWOK))
    kubectl(cluster, "delete", "namespace", "bench-pods", "--wait=false")

    print(f"# local cluster - {machine()}")
    print(
        table(
            f"warm cluster-up, {args.runs} runs (seconds: median [min-max])",
            ["measure", "time"],
            [
                ["API server /readyz (baseline: the floor)", summary(api)],
                ["cluster-up to all nodes Ready (goal < 10 s)", summary(full)],
            ],
        )
    )
    print(
        table(
            "control-plane RSS after start (MiB)",
            ["component", "RSS"],
            [[n, f"{v:.0f}"] for n, v in rss.items()] + [["total", f"{sum(rss.values()):.0f}"]],
        )
    )
    print(
        table(
            f"pod create -> Ready, trivial HTTP server, {args.pods} pods (seconds)",
            ["pod", "time"],
            [
                ["KWOK simulated pod (baseline: API + scheduler path)", summary(kwok)],
                ["process pod on local-0 (goal < 2 s)", summary(local)],
            ],
        )
    )


if __name__ == "__main__":
    main()
