"""Rollout benchmark: strategies and automatic rollbacks under steady load through the gateway.

On the local cluster, with this script's own operator and gateway (subprocesses,
`python -m modelplane.cli operator|gateway`, scoped by MODELPLANE_NAMESPACES to one
bench namespace; the operator uses the admin kubeconfig, which is fine for a bench,
and reads the gateway's /metrics for analysis):

  - 20 rollouts of each strategy, ModelServices of 2 replicas, --parallel of them at
    once, each rollout a change of spec.runtime.env (a new revision):
      RollingUpdate  maxSurge 1, maxUnavailable 0;
      Canary         steps [{weight 20, pauseSeconds 2}, {weight 50, analysis}],
                     analysis intervalSeconds 10, count 1, maxErrorRate 0.05, minRequests 5;
      BlueGreen      promotion Auto, scaleDownDelaySeconds 5;
  - 10 forced automatic rollbacks: Canary steps [{weight 50, analysis}] with the same
    analysis, the new template sets FAKE_ERROR_RATE=0.5 (the fake answers half its
    requests with 500).

Every ModelService gets steady load through the gateway (--rate chat completions/s,
open loop, the openai client, no retries) while its phase runs. Measured:
  - failed requests: any exception or non-200. In the rollback phase, the 500s the
    failing canary itself answers (the fake names its pod in the X-Fake-Backend
    header) are the injected fault and are counted apart;
  - rollout time: spec change -> status.stableRevision is the new revision and no
    Deployment of another revision is left (the old one deleted), from watches;
  - the floor: pod readiness (creationTimestamp -> Ready lastTransitionTime, read
    from the new revision's pods; 1 s resolution) on the critical path: summed for
    RollingUpdate and Canary (their pods start one after the other: maxSurge 1, and
    the canary's second pod only at promotion), the slower of the two for BlueGreen
    (both start together). "Designed waits" are the configured gates on top: the
    Canary's pause (2 s) and one analysis interval (10 s), and the time the old
    revision is kept after the switch (the operator's fixed 5 s retire delay for
    RollingUpdate and Canary, scaleDownDelaySeconds for BlueGreen);
  - rollbacks: from the failing gate opening (status.traffic gives the canary a weight;
    the same status write sets phase Analyzing) to status.traffic 100 % on stable, and,
    at the gateway, to the last request any canary pod answered; requests answered by
    the canary after the status was back at 100 % stable.

Engine: the fake OpenAI server (tests/fakes, image modelplane.test/fake-vllm:1) in real
pods on the process node local-0: real vLLM takes 1-3 minutes to start on 2 cores, so
with it the floor, pod readiness, would dominate everything else. The control plane,
the operator, the gateway, the fake pods and the load generator share the machine.

The integration tests start an operator over all namespaces; this waits until no
`pytest ... tests/integration` runs (it would reconcile these ModelServices too).

    .venv/bin/python bench/rollout.py [--rollouts 20] [--rollbacks 10] [--parallel 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# isort: off
from common import Cluster, kubectl, machine, summary, table  # puts the checkout on sys.path

# isort: on
import openai
from lightkube import AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from lightkube.types import OnErrorAction, OnErrorResult, PatchType
from tests.integration.gateway import GatewayProcess
from tests.integration.kube import Kubectl
from tests.integration.operator import OperatorProcess, install_crds
from tests.integration.test_gateway import fake_service

from modelplane.api.constants import LABEL_MODELSERVICE, LABEL_REVISION
from modelplane.builders.constants import STARTUP_PERIOD_SECONDS
from modelplane.reconcile.rollout import RETIRE_DELAY_SECONDS

MS = create_namespaced_resource("modelplane.io", "v1alpha1", "ModelService", "modelservices")
REPLICAS = 2
ANALYSIS = {"intervalSeconds": 10, "count": 1, "maxErrorRate": 0.05, "minRequests": 5}
CANARY_PAUSE = 2
BG_SCALE_DOWN_DELAY = 5
ERROR_RATE = "0.5"
STRATEGIES: dict[str, dict[str, Any]] = {
    "RollingUpdate": {
        "strategy": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    },
    "Canary": {
        "strategy": "Canary",
        "canary": {
            "steps": [
                {"weight": 20, "pauseSeconds": CANARY_PAUSE},
                {"weight": 50, "analysis": True},
            ]
        },
        "analysis": ANALYSIS,
    },
    "BlueGreen": {
        "strategy": "BlueGreen",
        "blueGreen": {"promotion": "Auto", "scaleDownDelaySeconds": BG_SCALE_DOWN_DELAY},
    },
}
ROLLBACK = {
    "strategy": "Canary",
    "canary": {"steps": [{"weight": 50, "analysis": True}]},
    "analysis": ANALYSIS,
}
# Configured gates on the critical path, and how long the old revision stays after the switch.
DESIGNED_WAITS = {
    "RollingUpdate": RETIRE_DELAY_SECONDS,
    "Canary": CANARY_PAUSE + ANALYSIS["intervalSeconds"] * ANALYSIS["count"] + RETIRE_DELAY_SECONDS,
    "BlueGreen": float(BG_SCALE_DOWN_DELAY),
}
ROLLOUT_TIMEOUT = 300.0
PREFIX = {"RollingUpdate": "ru", "Canary": "cn", "BlueGreen": "bg", "rollback": "rb"}
INTEGRATION_TESTS = "pytest.*tests/integration"
DISTURBED: set[str] = set()  # phases during which an integration run was seen


# ---- guard against a concurrent integration run ------------------------------------
def integration_tests_running() -> bool:
    return subprocess.run(["pgrep", "-f", INTEGRATION_TESTS], capture_output=True).returncode == 0


def wait_for_integration_tests() -> None:
    """Their operator watches every namespace: it would reconcile our ModelServices too."""
    noted = False
    while integration_tests_running():
        if not noted:
            print("waiting for the integration tests to finish ...", file=sys.stderr, flush=True)
            noted = True
        time.sleep(15)


# ---- the namespace's ModelServices and Deployments, from watches -------------------
@dataclass
class Snapshot:
    at: float
    status: dict[str, Any]


def retry_watch(err: Exception, count: int) -> OnErrorResult:
    """Resume a broken watch (from its last resourceVersion), a little later each time."""
    return OnErrorResult(OnErrorAction.RETRY, sleep=min(5.0, 0.2 * count))


@dataclass
class Watcher:
    """Latest state from watches, a timeline of status changes per ModelService, and
    the deletion time of every Deployment; waiters wake on every event."""

    client: AsyncClient
    namespace: str
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeline: dict[str, list[Snapshot]] = field(default_factory=dict)
    deployments: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (ms, rev)
    deleted: list[tuple[float, str, str]] = field(default_factory=list)  # (at, ms, rev)
    tick: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._watch_modelservices()),
            asyncio.create_task(self._watch_deployments()),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _notify(self) -> None:
        self.tick.set()
        self.tick = asyncio.Event()

    async def _watch_modelservices(self) -> None:
        async for kind, obj in self.client.watch(
            MS, namespace=self.namespace, on_error=retry_watch
        ):
            at = time.monotonic()
            body = obj.to_dict()  # type: ignore[no-untyped-call]
            name = body["metadata"]["name"]
            if kind == "DELETED":
                self.status.pop(name, None)
            else:
                status = body.get("status") or {}
                if self.status.get(name) != status:
                    self.status[name] = status
                    self.timeline.setdefault(name, []).append(Snapshot(at, status))
            self._notify()

    async def _watch_deployments(self) -> None:
        async for kind, dep in self.client.watch(
            Deployment, namespace=self.namespace, on_error=retry_watch
        ):
            at = time.monotonic()
            assert dep.metadata is not None and dep.metadata.name is not None
            labels = dep.metadata.labels or {}
            owner = (labels.get(LABEL_MODELSERVICE, ""), labels.get(LABEL_REVISION, ""))
            if kind == "DELETED":
                self.deployments.pop(dep.metadata.name, None)
                self.deleted.append((at, *owner))
            else:
                self.deployments[dep.metadata.name] = owner
            self._notify()

    def revisions_of(self, ms: str) -> set[str]:
        """Revisions of ``ms`` that still have a Deployment."""
        return {rev for owner, rev in self.deployments.values() if owner == ms}

    async def until(self, what: str, check: Callable[[], Any], within: float) -> Any:
        """Wait until ``check()`` is truthy (re-checked on every watch event); its value."""
        deadline = time.monotonic() + within
        while not (result := check()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what}: not within {within:.0f} s")
            if any(task.done() for task in self.tasks):
                raise RuntimeError(f"a watch ended: {[t.exception() for t in self.tasks]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.tick.wait(), min(left, 1.0))
        return result

    def first(self, ms: str, after: float, check: Callable[[dict[str, Any]], bool]) -> float:
        """When the status of ``ms`` first satisfied ``check`` after ``after``."""
        for snap in self.timeline.get(ms, []):
            if snap.at >= after and check(snap.status):
                return snap.at
        raise LookupError(f"{ms}: no such status after {after}")


def traffic(status: dict[str, Any]) -> dict[str, int]:
    return {t["revision"]: t["weight"] for t in status.get("traffic") or []}


# ---- steady load through the gateway ------------------------------------------------
@dataclass(frozen=True)
class Sample:
    sent: float
    done: float
    status: int  # HTTP status; 0 when no HTTP answer came
    backend: str  # the pod that answered (the fake's system_fingerprint / X-Fake-Backend)
    error: str


@dataclass
class Load:
    """Open-loop chat completions at ``rate`` per second, every answer recorded."""

    client: openai.AsyncOpenAI
    model: str
    rate: float
    samples: list[Sample] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._runner is not None:
            await self._runner
        if self._pending:
            await asyncio.wait(self._pending, timeout=120)

    async def _run(self) -> None:
        period = 1 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            task = asyncio.create_task(self._one())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            next_at += period
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, next_at - time.monotonic()))

    async def _one(self) -> None:
        sent = time.monotonic()
        try:
            out = await self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": "hi"}], max_tokens=2
            )
            sample = Sample(sent, time.monotonic(), 200, str(out.system_fingerprint), "")
        except openai.APIStatusError as err:
            backend = err.response.headers.get("x-fake-backend", "")
            sample = Sample(sent, time.monotonic(), err.status_code, backend, repr(err)[:300])
        except Exception as err:
            sample = Sample(sent, time.monotonic(), 0, "", repr(err)[:300])
        self.samples.append(sample)


def revision_of_pod(ms: str, pod: str) -> str:
    """Pods are named <ms>-<revision>-<replicaset hash>-<suffix>."""
    return pod[len(ms) + 1 :].split("-")[0] if pod.startswith(ms + "-") else ""


# ---- one phase: ModelServices under load, rollouts one after another on each -------
@dataclass
class Rollout:
    seconds: float  # spec change -> stable is new and the old Deployment gone
    to_stable: float  # spec change -> status.stableRevision is new
    readiness: list[float]  # the new revision's pods, creation -> Ready, in creation order


@dataclass
class Rollback:
    to_stable: float  # failing gate opens -> status.traffic 100 % stable
    gateway: float  # failing gate opens -> the last request a canary pod answered
    late: int  # requests a canary pod answered after the status was back at 100 % stable
    late_lag: float  # how long after that status the last of them was sent


@dataclass
class Phase:
    name: str
    rollouts: list[Rollout] = field(default_factory=list)
    rollbacks: list[Rollback] = field(default_factory=list)
    requests: int = 0
    failed: list[Sample] = field(default_factory=list)  # outside any injected fault
    injected: int = 0  # 500s answered by a canary that was told to fail
    timeouts: list[str] = field(default_factory=list)


@dataclass
class Bench:
    client: AsyncClient
    watcher: Watcher
    gateway_url: str
    namespace: str
    tag: str
    rate: float

    def manifest(self, name: str, rollout: dict[str, Any], env: list[dict[str, str]]) -> Any:
        body = fake_service(
            name, f"{name}-{self.tag}", replicas=REPLICAS, rollout=rollout, runtime={"env": env}
        )
        body["metadata"]["namespace"] = self.namespace
        return MS.from_dict(body)

    async def settled(self, name: str, within: float = 180) -> str:
        def check() -> str | None:
            st = self.watcher.status.get(name) or {}
            ok = (
                st.get("stableRevision")
                and st.get("stableRevision") == st.get("revision")
                and st.get("readyReplicas") == REPLICAS
                and self.watcher.revisions_of(name) == {st["stableRevision"]}
            )
            return str(st["stableRevision"]) if ok else None

        return str(await self.watcher.until(f"{name} settled", check, within))

    async def routable(self, oa: openai.AsyncOpenAI, model: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                await oa.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=1
                )
                return
            except openai.APIError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def change(self, name: str, env: list[dict[str, str]]) -> tuple[float, str]:
        """Patch the template's env; (when, the new revision once the operator named it)."""
        old = self.watcher.status[name].get("revision")
        started = time.monotonic()
        patched = await self.client.patch(
            MS,
            name,
            {"spec": {"runtime": {"env": env}}},
            namespace=self.namespace,
            patch_type=PatchType.MERGE,
        )
        generation = int((patched.metadata.generation if patched.metadata else 0) or 0)

        def new_revision() -> str | None:
            st = self.watcher.status.get(name) or {}
            if (st.get("observedGeneration") or 0) >= generation and st.get("revision") != old:
                return str(st["revision"])
            return None

        return started, str(await self.watcher.until(f"{name} new revision", new_revision, 60))

    async def readiness(self, name: str, revision: str) -> list[float]:
        pods = [
            pod
            async for pod in self.client.list(
                Pod,
                namespace=self.namespace,
                labels={LABEL_MODELSERVICE: name, LABEL_REVISION: revision},
            )
        ]
        out = []
        for pod in pods:
            assert pod.metadata is not None and pod.metadata.creationTimestamp is not None
            conds = (pod.status.conditions if pod.status else None) or []
            ready = next((c for c in conds if c.type == "Ready" and c.status == "True"), None)
            if ready is not None and ready.lastTransitionTime is not None:
                created = pod.metadata.creationTimestamp
                out.append((created, (ready.lastTransitionTime - created).total_seconds()))
        return [seconds for _, seconds in sorted(out)]

    async def pods_gone(self, names: list[str], within: float = 120) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            left = [
                pod
                async for pod in self.client.list(Pod, namespace=self.namespace)
                if pod.metadata and (pod.metadata.labels or {}).get(LABEL_MODELSERVICE) in names
            ]
            if not left:
                return
            await asyncio.sleep(1)

    async def roll_once(self, name: str, index: int) -> Rollout:
        started, new = await self.change(name, [{"name": "BENCH_ROLLOUT", "value": str(index)}])

        def done() -> bool:
            st = self.watcher.status.get(name) or {}
            return st.get("stableRevision") == new and self.watcher.revisions_of(name) == {new}

        await self.watcher.until(f"{name} rollout {index} done", done, ROLLOUT_TIMEOUT)
        finished = max(
            [
                at
                for at, ms, rev in self.watcher.deleted
                if ms == name and rev != new and at > started
            ]
            or [time.monotonic()]
        )
        stable_at = self.watcher.first(name, started, lambda st: st.get("stableRevision") == new)
        return Rollout(finished - started, stable_at - started, await self.readiness(name, new))

    async def rollback_once(self, name: str, index: int) -> tuple[str, str, float, float]:
        """(stable, failing revision, gate opened, status back at 100 % stable)."""
        stable = self.watcher.status[name]["stableRevision"]
        env = [
            {"name": "BENCH_ROLLOUT", "value": str(index)},
            {"name": "FAKE_ERROR_RATE", "value": ERROR_RATE},
        ]
        started, new = await self.change(name, env)

        def rolled_back() -> bool:
            ro = (self.watcher.status.get(name) or {}).get("rollout") or {}
            st = self.watcher.status.get(name) or {}
            return (
                ro.get("revision") == new
                and ro.get("phase") == "RolledBack"
                and traffic(st) == {stable: 100}
            )

        await self.watcher.until(f"{name} rollback {index}", rolled_back, ROLLOUT_TIMEOUT)
        gate = self.watcher.first(
            name,
            started,
            lambda st: (
                traffic(st).get(new, 0) > 0
                or ((st.get("rollout") or {}).get("revision") == new
                    and (st.get("rollout") or {}).get("phase") == "Analyzing")
            ),
        )  # fmt: skip
        back = self.watcher.first(name, gate, lambda st: traffic(st) == {stable: 100})
        return stable, new, gate, back

    async def phase(self, label: str, rollout: dict[str, Any], count: int, parallel: int) -> Phase:
        rollback = label == "rollback"
        names = [f"{PREFIX[label]}{i}" for i in range(min(parallel, count))]
        per = [count // len(names) + (i < count % len(names)) for i in range(len(names))]
        for name in names:
            await self.client.create(self.manifest(name, rollout, []))
        await asyncio.gather(*(self.settled(n) for n in names))
        oa = openai.AsyncOpenAI(
            base_url=self.gateway_url + "/v1", api_key="x", timeout=60, max_retries=0
        )
        loads = {n: Load(oa, f"{n}-{self.tag}", self.rate) for n in names}
        await asyncio.gather(*(self.routable(oa, load.model) for load in loads.values()))
        result = Phase(label)
        trials: list[tuple[str, str, str, float, float]] = []  # (ms, stable, new, gate, back)

        async def drive(name: str, times: int) -> None:
            for i in range(times):
                try:
                    if rollback:
                        trials.append((name, *await self.rollback_once(name, i)))
                        await asyncio.sleep(3)  # keep the load on: stragglers to the canary show
                    else:
                        result.rollouts.append(await self.roll_once(name, i))
                except TimeoutError as err:
                    result.timeouts.append(str(err))
                    return

        for load in loads.values():
            load.start()
        try:
            await asyncio.sleep(2)  # load flowing before the first change
            await asyncio.gather(*(drive(n, k) for n, k in zip(names, per, strict=True)))
            await asyncio.sleep(2)
        finally:
            for load in loads.values():
                await load.stop()
            await oa.close()
            for name in names:
                with contextlib.suppress(Exception):
                    await self.client.delete(MS, name, namespace=self.namespace)
        await self.pods_gone(names)  # the next phase starts on a quiet node
        failing = {(name, new) for name, _, new, _, _ in trials}
        for name, load in loads.items():
            result.requests += len(load.samples)
            for s in load.samples:
                if s.status == 200:
                    continue
                if s.status == 500 and (name, revision_of_pod(name, s.backend)) in failing:
                    result.injected += 1
                else:
                    result.failed.append(s)
        for name, _stable, new, gate, back in trials:
            on_canary = [
                s
                for s in loads[name].samples
                if s.status and revision_of_pod(name, s.backend) == new
            ]
            late = [s for s in on_canary if s.sent > back]
            result.rollbacks.append(
                Rollback(
                    to_stable=back - gate,
                    gateway=max((s.sent for s in on_canary), default=gate) - gate,
                    late=len(late),
                    late_lag=max((s.sent - back for s in late), default=0.0),
                )
            )
        return result


# ---- report --------------------------------------------------------------------------
def floor_of(strategy: str, readiness: list[float]) -> float:
    if not readiness:
        return float("nan")
    return max(readiness) if strategy == "BlueGreen" else sum(readiness)


def rollout_row(phase: Phase) -> list[str]:
    floors = [floor_of(phase.name, r.readiness) for r in phase.rollouts]
    waits = DESIGNED_WAITS[phase.name]
    times = [r.seconds for r in phase.rollouts]
    done = f"{len(phase.rollouts)}" + (f" ({len(phase.timeouts)} timed out)" * bool(phase.timeouts))
    return [
        phase.name,
        done,
        f"{len(phase.failed)} of {phase.requests}",
        summary([r.to_stable for r in phase.rollouts]),
        summary(times),
        summary(floors),
        f"{waits:g}",
        summary([t / f for t, f in zip(times, floors, strict=True)]),
        summary([t / (f + waits) for t, f in zip(times, floors, strict=True)]),
    ]


def rollback_row(phase: Phase) -> list[str]:
    rb = phase.rollbacks
    lags = [r.late_lag for r in rb if r.late]
    return [
        f"{len(rb)}" + (f" ({len(phase.timeouts)} timed out)" * bool(phase.timeouts)),
        summary([r.to_stable for r in rb]),
        summary([r.gateway for r in rb]),
        "<= 60",
        f"{phase.injected}",
        f"{len(phase.failed)} of {phase.requests}",
        f"{sum(r.late for r in rb)}" + (f" (last {max(lags):.2g} s after)" if lags else ""),
    ]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def failures_note(phases: list[Phase]) -> Iterator[str]:
    for phase in phases:
        for s in phase.failed[:5]:
            yield f"  {phase.name}: HTTP {s.status or '-'} from {s.backend or '?'}: {s.error}"
        for t in phase.timeouts:
            yield f"  {phase.name}: {t}"


def report(phases: list[Phase], args: argparse.Namespace, wall: float) -> None:
    strategies = [p for p in phases if p.name in STRATEGIES]
    rollback = next((p for p in phases if p.name == "rollback"), None)
    print(f"# rollout - {machine()}; {cpu_model()}")
    print(
        "# the control plane, the operator, the gateway, the fake pods and the load "
        "generator share these cores"
    )
    print(
        f"# engine: fake OpenAI server pods on the process node (real vLLM takes 1-3 min per "
        f"start on 2 cores); {REPLICAS} replicas per ModelService, {args.parallel} ModelServices "
        f"at once, {args.rate:g} req/s each through the gateway; wall {wall / 60:.1f} min"
    )
    print(
        table(
            "rollouts under steady load (s): spec change -> new stable and old Deployment gone",
            [
                "strategy",
                "rollouts",
                "failed requests",
                "-> stable",
                "rollout time",
                "floor: pod readiness",
                "+ designed waits",
                "ratio to floor",
                "ratio to floor + waits",
            ],
            [rollout_row(p) for p in strategies],
        )
    )
    print(
        "floor: creationTimestamp -> Ready of the new pods (1 s resolution: a ratio a little "
        "under 1 is that rounding), summed for RollingUpdate "
        "(maxSurge 1) and Canary (the 2nd pod starts at promotion), the slower one for "
        "BlueGreen; designed waits: Canary pause 2 + analysis 1x10 s, then the old "
        f"revision kept {RETIRE_DELAY_SECONDS:g} s (operator's retire delay; BlueGreen "
        f"scaleDownDelaySeconds {BG_SCALE_DOWN_DELAY}). A fake pod answers within a second, "
        f"but the startup probe runs every {STARTUP_PERIOD_SECONDS} s: its readiness is that "
        "period (the first probe, at container start, finds nothing listening yet)"
    )
    if rollback is not None:
        print(
            table(
                f"forced automatic rollbacks (s): canary FAKE_ERROR_RATE={ERROR_RATE}, analysis "
                f"every {ANALYSIS['intervalSeconds']} s, maxErrorRate {ANALYSIS['maxErrorRate']}",
                [
                    "rollbacks",
                    "failing gate -> 100% stable (status)",
                    "-> last canary answer (gateway)",
                    "goal",
                    "canary 500s (injected)",
                    "failed outside the fault",
                    "canary answers after status",
                ],
                [rollback_row(rollback)],
            )
        )
    print(
        "goals: 0 failed requests; failing gate -> 100% on stable <= 60 s with a 10 s "
        "analysis interval (Flagger's defaults take about 5 min); rollout time near the floor"
    )
    if DISTURBED:
        print(
            f"WARNING: integration tests ran during {', '.join(sorted(DISTURBED))}: their "
            "operator (all namespaces) reconciled these ModelServices too; run again"
        )
    notes = list(failures_note(phases))
    if notes:
        print("failures (first 5 per phase):")
        print("\n".join(notes))


# ---- main ----------------------------------------------------------------------------
async def run(
    args: argparse.Namespace, cluster: Cluster, namespace: str, tag: str, gw: GatewayProcess
) -> list[Phase]:
    client = AsyncClient(config=KubeConfig.from_file(cluster.layout.kubeconfig))
    watcher = Watcher(client, namespace)
    watcher.start()
    bench = Bench(client, watcher, gw.url, namespace, tag, args.rate)
    phases: list[Phase] = []
    current = ["setup"]

    async def guard() -> None:
        """Note every phase during which an integration run (an operator over all
        namespaces, reconciling these ModelServices too) was seen."""
        while True:
            if await asyncio.to_thread(integration_tests_running):
                if current[0] not in DISTURBED:
                    print(f"warning: integration tests run during {current[0]}", file=sys.stderr)
                DISTURBED.add(current[0])
            await asyncio.sleep(5)

    guarding = asyncio.create_task(guard())
    try:
        plan: list[tuple[str, dict[str, Any], int]] = [
            (name, rollout, args.rollouts) for name, rollout in STRATEGIES.items()
        ]
        plan.append(("rollback", ROLLBACK, args.rollbacks))
        for label, rollout, count in plan:
            if count <= 0:
                continue
            current[0] = label
            started = time.monotonic()
            phases.append(await bench.phase(label, rollout, count, args.parallel))
            print(f"{label}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        guarding.cancel()
        await watcher.stop()
        await client.close()
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rollouts", type=int, default=20, help="per strategy")
    parser.add_argument("--rollbacks", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=5, help="ModelServices at once per phase")
    parser.add_argument("--rate", type=float, default=4.0, help="requests/s per ModelService")
    args = parser.parse_args()

    wait_for_integration_tests()
    begin = time.monotonic()
    cluster = Cluster()
    cluster.up()
    kctl = Kubectl(cluster.layout.bin_link / "kubectl", cluster.layout.kubeconfig)
    install_crds(kctl)
    tag = secrets.token_hex(2)
    namespace = f"bench-rollout-{tag}"
    kubectl(cluster, "create", "namespace", namespace)
    scope = {"MODELPLANE_NAMESPACES": namespace, "MODELPLANE_LOG_LEVEL": "INFO"}
    gw = GatewayProcess(
        cluster.layout.kubeconfig, cluster.layout.logs / "gateway-bench-rollout.log", env=scope
    )
    op = OperatorProcess(
        cluster.layout.kubeconfig,  # admin: fine for a bench, the tests cover the chart's RBAC
        cluster.layout.logs / "operator-bench-rollout.log",
        env={**scope, "MODELPLANE_GATEWAY_METRICS_URLS": ""},
    )
    try:
        gw.start()
        op.env["MODELPLANE_GATEWAY_METRICS_URLS"] = f"http://127.0.0.1:{gw.admin_port}/metrics"
        op.start()
        phases = asyncio.run(run(args, cluster, namespace, tag, gw))
    finally:
        op.stop()
        gw.stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            kubectl(cluster, "delete", "namespace", namespace, "--wait=false")
    report(phases, args, time.monotonic() - begin)
    print(f"# logs: {cluster.layout.logs}/{{operator,gateway}}-bench-rollout.log")


if __name__ == "__main__":
    main()
