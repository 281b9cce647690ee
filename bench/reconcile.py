"""Reconcile benchmark: N ModelServices applied to the local cluster.

For N = 1, 100, 1000 (KWOK CPU nodes run the pods):
  - apply -> Deployment created (p50/p99): from the ModelService's create call
    returning to the Deployment appearing in a watch;
  - time until every ModelService is Ready;
  - API requests per reconcile (the API server's audit log / the operator's
    reconcile counter), write calls during a steady window, operator peak RSS.
The floor, in the same run: the same Deployments and Services created
directly with the client (lightkube) at the same concurrency, each item
arriving when its ModelService arrived in the operator run (same offsets from
the start), timed from that arrival to its Deployment appearing in the watch:
the same workload, without an operator in between.

    make bench
    PYTHONPATH=.:hack/localcluster .venv/bin/python bench/reconcile.py --sizes 1,100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lightkube import AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from tests.integration.kube import Kubectl
from tests.integration.operator import (
    SERVICE_ACCOUNT,
    AuditLog,
    OperatorProcess,
    install_crds,
    install_identity,
)

from common import Cluster, kubectl, machine, percentile, rss_mib, table
from modelplane.api.config import OperatorConfig
from modelplane.api.resource import ModelService
from modelplane.builders import (
    build_deployment,
    build_revision_service,
    build_service,
    template_hash,
)

MS = create_namespaced_resource("modelplane.io", "v1alpha1", "ModelService", "modelservices")
CONCURRENCY = 16


def manifest(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelplane.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"uri": f"hf://org/model-{name}@main"},
            "resources": {"gpus": 0, "nodeSelector": {"modelplane.io/node-pool": "cpu"}},
            "replicas": 1,
        },
    }


async def bounded(items: list[str], work: Callable[[str], Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: str) -> None:
        async with gate:
            await work(item)

    await asyncio.gather(*(one(i) for i in items))


async def watch_deployments(
    client: AsyncClient, namespace: str, seen: dict[str, float], want: int
) -> None:
    async for _, dep in client.watch(Deployment, namespace=namespace):
        owner = (dep.metadata.labels or {}).get("modelplane.io/modelservice")
        if owner and owner not in seen:
            seen[owner] = time.monotonic()
            if len(seen) >= want:
                return


async def run_operator_phase(client: AsyncClient, namespace: str, n: int) -> dict[str, float]:
    names = [f"m{i:04d}" for i in range(n)]
    applied: dict[str, float] = {}
    seen: dict[str, float] = {}
    watcher = asyncio.create_task(watch_deployments(client, namespace, seen, n))
    await asyncio.sleep(0.5)  # the watch is established
    start = time.monotonic()

    async def create(name: str) -> None:
        await client.create(MS.from_dict(manifest(name, namespace)))  # type: ignore[attr-defined]
        applied[name] = time.monotonic()

    await bounded(names, create)
    await asyncio.wait_for(watcher, timeout=600)
    latencies = [seen[n_] - applied[n_] for n_ in names]
    while True:  # every ModelService Ready
        ready = 0
        async for ms in client.list(MS, namespace=namespace):
            conds = (ms.get("status") or {}).get("conditions") or []  # type: ignore[union-attr]
            ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
        if ready == n:
            break
        await asyncio.sleep(0.5)
    return {
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "all_ready": time.monotonic() - start,
        "arrivals": {name: at - start for name, at in applied.items()},  # type: ignore[dict-item]
    }


async def run_floor_phase(
    client: AsyncClient, namespace: str, n: int, arrivals: dict[str, float]
) -> dict[str, float]:
    config = OperatorConfig()
    names = [f"m{i:04d}" for i in range(n)]
    started: dict[str, float] = {}
    seen: dict[str, float] = {}
    watcher = asyncio.create_task(watch_deployments(client, namespace, seen, n))
    await asyncio.sleep(0.5)
    begin = time.monotonic()

    async def create(name: str) -> None:
        body = manifest(name, namespace)
        body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
        ms = ModelService.parse(body)
        rev = template_hash(ms, config)
        objs = [
            build_service(ms),
            build_revision_service(ms, rev),
            build_deployment(ms, config, rev, 1),
        ]
        for obj in objs:
            assert obj.metadata is not None
            obj.metadata.ownerReferences = None  # no owner object exists here
        await asyncio.gather(*(client.create(obj) for obj in objs))

    async def arrive(name: str) -> None:
        started[name] = begin + arrivals[name]
        await asyncio.sleep(max(0.0, started[name] - time.monotonic()))
        async with gate:
            await create(name)

    gate = asyncio.Semaphore(CONCURRENCY)
    await asyncio.gather(*(arrive(name) for name in names))
    await asyncio.wait_for(watcher, timeout=600)
    latencies = [seen[n_] - started[n_] for n_ in names]
    return {
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "all_created": time.monotonic() - begin,
    }


def audit_requests(audit: AuditLog, offset: int) -> tuple[int, int]:
    """(all requests, writes) by the operator since ``offset``."""
    with audit.path.open("rb") as f:
        f.seek(offset)
        entries = [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]
    mine = [
        e
        for e in entries
        if e.get("user", {}).get("username") == SERVICE_ACCOUNT
        and e.get("stage") == "ResponseComplete"
        and e.get("verb") != "watch"
    ]
    writes = [e for e in mine if e["verb"] in ("create", "update", "patch", "delete")]
    return len(mine), len(writes)


async def main_async(sizes: list[int], steady: float) -> None:
    cluster = Cluster()
    cluster.up()
    kctl = Kubectl(cluster.layout.bin_link / "kubectl", cluster.layout.kubeconfig)
    install_crds(kctl)
    op = OperatorProcess(
        install_identity(kctl, cluster.layout.bin_link / "helm"),
        cluster.layout.logs / "operator-bench.log",
        env={"MODELPLANE_LOG_LEVEL": "WARNING"},
    )
    op.start()
    audit = AuditLog(cluster.layout.audit_log)
    client = AsyncClient(config=KubeConfig.from_file(cluster.layout.kubeconfig))
    rows = []
    try:
        for n in sizes:
            tag = secrets.token_hex(2)
            ns_op, ns_floor = f"bench-op-{n}-{tag}", f"bench-floor-{n}-{tag}"
            kubectl(cluster, "create", "namespace", ns_op)
            kubectl(cluster, "create", "namespace", ns_floor)
            before = op.metrics()
            mark = audit.mark()
            result = await run_operator_phase(client, ns_op, n)
            await asyncio.sleep(3)  # trailing status writes land
            after = op.metrics()
            requests, _ = audit_requests(audit, mark)
            reconciles = (
                after['modelplane_reconciles_total{result="success"}']
                - before['modelplane_reconciles_total{result="success"}']
            )
            mark = audit.mark()
            await asyncio.sleep(steady)
            _, steady_writes = audit_requests(audit, mark)
            floor = await run_floor_phase(client, ns_floor, n, result["arrivals"])  # type: ignore[arg-type]
            assert op.proc is not None
            rows.append(
                [
                    str(n),
                    f"{result['p50']:.0f} / {result['p99']:.0f}",
                    f"{floor['p50']:.0f} / {floor['p99']:.0f}",
                    f"{result['p99'] / max(floor['p99'], 1e-9):.2f}",
                    f"{result['all_ready']:.1f}",
                    f"{requests / max(reconciles, 1):.2f} ({requests}/{reconciles:.0f})",
                    str(steady_writes),
                    f"{rss_mib(op.proc.pid, 'VmHWM'):.0f}",
                ]
            )
            kubectl(cluster, "delete", "namespace", ns_op, ns_floor, "--wait=false")
    finally:
        op.stop()
        await client.close()
    print(f"# reconcile - {machine()}; client concurrency {CONCURRENCY}")
    print(
        table(
            "apply -> Deployment (ms), operator vs the floor (direct client)",
            [
                "N",
                "operator p50/p99",
                "floor p50/p99",
                "p99 ratio",
                "all Ready (s)",
                "API req/reconcile",
                f"writes in {steady:.0f} s steady",
                "operator peak RSS (MiB)",
            ],
            rows,
        )
    )
    print("goals: p99 < 250 ms at N=1000 and <= 1.5x floor; 0 steady writes; RSS < 150 MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--steady", type=float, default=60)
    args = parser.parse_args()
    asyncio.run(main_async([int(s) for s in args.sizes.split(",")], args.steady))


if __name__ == "__main__":
    main()
