"""Rollouts on the real cluster: operator, gateway and pods, under load.

Replicas run the fast fake OpenAI server on the process node (see
test_gateway.py), because gates need misbehaviour on demand: a template
env FAKE_ERROR_RATE makes a revision answer 500s, which is what a broken
model version looks like from the gateway. Crash loops and never-ready pods
come from KWOK's chaos stages on the simulated GPU nodes.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openai import OpenAI

from .gateway import GatewayProcess
from .kube import Kubectl, condition, wait_for
from .operator import OperatorProcess
from .test_gateway import fake_service
from .test_operator import H100, deployments, get_ms


def rollout_of(kubectl: Kubectl, namespace: str, name: str = "chat") -> dict[str, Any]:
    return get_ms(kubectl, namespace, name).get("status", {}).get("rollout") or {}


def stable_of(kubectl: Kubectl, namespace: str, name: str = "chat") -> str | None:
    return get_ms(kubectl, namespace, name).get("status", {}).get("stableRevision")


def traffic_of(kubectl: Kubectl, namespace: str, name: str = "chat") -> dict[str, int]:
    status = get_ms(kubectl, namespace, name).get("status", {})
    return {t["revision"]: t["weight"] for t in status.get("traffic") or []}


def cli(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    """`modelplane rollout ...` as a user runs it (the same entry point as the kubectl plugin)."""
    return subprocess.run(
        [sys.executable, "-m", "modelplane.cli", "rollout", *args],
        capture_output=True,
        text=True,
        env=kubectl.env,
        timeout=120,
        check=False,
    )


class Load:
    """Steady chat requests through the gateway, counted by the revision that served."""

    def __init__(self, gateway: GatewayProcess, model: str, workers: int = 3) -> None:
        self.client = OpenAI(base_url=gateway.url + "/v1", api_key="x", timeout=60, max_retries=0)
        self.model = model
        self.by_revision: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = self.client.chat.completions.create(
                    model=self.model, messages=[{"role": "user", "content": "hi"}], max_tokens=2
                )
                # The fake names its pod: chat-<revision>-<replicaset>-<pod>.
                self.by_revision[str(out.system_fingerprint).split("-")[1]] += 1
            except Exception as err:
                self.failures.append(repr(err)[:200])

    @contextmanager
    def running(self) -> Iterator[Load]:
        for t in self._threads:
            t.start()
        try:
            yield self
        finally:
            self._stop.set()
            for t in self._threads:
                t.join(timeout=60)


def _serve(
    kubectl: Kubectl,
    namespace: str,
    served: str,
    rollout: dict[str, Any],
    replicas: int = 2,
    env: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    manifest = fake_service(
        "chat", served, replicas=replicas, rollout=rollout, runtime={"env": env or []}
    )
    kubectl.apply(manifest, namespace)
    return manifest


def _settled(kubectl: Kubectl, namespace: str, replicas: int) -> str:
    def check() -> str | None:
        ms = get_ms(kubectl, namespace, "chat")
        st = ms.get("status", {})
        ok = st.get("stableRevision") == st.get("revision") and st.get("readyReplicas") == replicas
        return (
            st["stableRevision"]
            if ok and len(deployments(kubectl, namespace, "chat")) == 1
            else None
        )

    return wait_for("a settled stable revision", check, timeout=120, interval=0.5)


CANARY = {
    "strategy": "Canary",
    "canary": {"steps": [{"weight": 25, "pauseSeconds": 4}, {"weight": 50, "analysis": True}]},
    "analysis": {"intervalSeconds": 4, "count": 2, "maxErrorRate": 0.1, "minRequests": 5},
    "progressDeadlineSeconds": 120,
}


def _kwok(name: str = "chat", uri: str = "hf://org/tiny@v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelplane.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": {"model": {"uri": uri}, "resources": dict(H100), "replicas": 2, **spec},
    }


SLOW_CANARY = {"strategy": "Canary", "canary": {"steps": [{"weight": 50, "manual": True}]}}


def test_canary_walks_its_steps_under_load_and_promotes(
    operator: OperatorProcess, gateway: GatewayProcess, kubectl: Kubectl, namespace: str
) -> None:
    served = f"canary-{secrets.token_hex(3)}"
    _serve(kubectl, namespace, served, CANARY)
    stable = _settled(kubectl, namespace, 2)
    wait_for(
        "routable",
        lambda: (
            served
            in [m.id for m in OpenAI(base_url=gateway.url + "/v1", api_key="x").models.list().data]
        ),
    )
    seen_weights: set[tuple[int, ...]] = set()
    with Load(gateway, served).running() as load:
        _serve(kubectl, namespace, served, CANARY, env=[{"name": "FAKE_TOKENS", "value": "3"}])

        def promoted() -> bool:
            seen_weights.add(tuple(sorted(traffic_of(kubectl, namespace).values())))
            new = stable_of(kubectl, namespace)
            return (
                new is not None
                and new != stable
                and len(deployments(kubectl, namespace, "chat")) == 1
            )

        wait_for("the canary promoted", promoted, timeout=240, interval=0.5)
    canary = stable_of(kubectl, namespace)
    assert load.failures == [], load.failures[:5]
    assert load.by_revision[stable] > 0 and load.by_revision[canary] > 0
    assert (25, 75) in seen_weights and (50, 50) in seen_weights  # the steps' weights
    ro = rollout_of(kubectl, namespace)
    assert ro["phase"] == "Succeeded" and ro["revision"] == canary
    history = {
        r["revision"]: r["outcome"]
        for r in get_ms(kubectl, namespace, "chat")["status"]["revisions"]
    }
    assert history == {stable: "Retired", canary: "Stable"}
    records = kubectl.json("-n", namespace, "get", "controllerrevisions")["items"]
    assert sorted(r["revision"] for r in records) == [1, 2]


def test_canary_breaching_its_error_rate_rolls_back(
    operator: OperatorProcess, gateway: GatewayProcess, kubectl: Kubectl, namespace: str
) -> None:
    served = f"breach-{secrets.token_hex(3)}"
    rollout = {**CANARY, "canary": {"steps": [{"weight": 50, "analysis": True}]}}
    _serve(kubectl, namespace, served, rollout)
    stable = _settled(kubectl, namespace, 2)
    with Load(gateway, served).running():
        broken = _serve(
            kubectl, namespace, served, rollout, env=[{"name": "FAKE_ERROR_RATE", "value": "0.5"}]
        )
        ro = wait_for(
            "rolled back",
            lambda: (r := rollout_of(kubectl, namespace)).get("phase") == "RolledBack" and r,
            timeout=180,
            interval=0.5,
        )
    assert "error rate" in ro["message"] and "> 0.1" in ro["message"]
    assert traffic_of(kubectl, namespace) == {stable: 100}
    ms = get_ms(kubectl, namespace, "chat")
    degraded = condition(ms, "Degraded") or {}
    assert degraded.get("status") == "True" and degraded.get("reason") == "RolledBack"
    assert ms["spec"]["runtime"]["env"] == broken["spec"]["runtime"]["env"]  # spec untouched
    sizes = {
        d["metadata"]["labels"]["modelplane.io/revision"]: d["spec"]["replicas"]
        for d in deployments(kubectl, namespace, "chat")
    }
    assert sizes[stable] == 2 and sizes[ro["revision"]] == 0
    events = kubectl(
        "-n", namespace, "get", "events", "--field-selector", "reason=RolledBack", "-o", "name"
    ).stdout
    assert events.strip()


def test_crash_looping_canary_rolls_back_and_retry_tries_again(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    manifest = _kwok(
        replicas=2,
        rollout={"strategy": "Canary", "canary": {"steps": [{"weight": 20, "pauseSeconds": 5}]}},
    )
    spec = manifest["spec"]
    kubectl.apply(manifest, namespace)
    stable = _settled(kubectl, namespace, 2)
    spec["podMetadata"] = {"annotations": {"modelplane.io/chaos": "crashloop"}}
    kubectl.apply(manifest, namespace)
    ro = wait_for(
        "rolled back",
        lambda: (r := rollout_of(kubectl, namespace)).get("phase") == "RolledBack" and r,
        timeout=120,
        interval=0.5,
    )
    assert "CrashLoopBackOff" in ro["message"]
    assert traffic_of(kubectl, namespace) == {stable: 100}
    out = cli(kubectl, "retry", "chat", "-n", namespace)
    assert out.returncode == 0 and "retry taken" in out.stdout, out.stderr
    # It is tried again, and fails again the same way.
    wait_for(
        "rolled back again",
        lambda: rollout_of(kubectl, namespace).get("phase") == "RolledBack",
        timeout=120,
        interval=0.5,
    )


def test_progress_deadline_exceeded_rolls_back(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    manifest = _kwok(
        replicas=1,
        rollout={"strategy": "RollingUpdate", "progressDeadlineSeconds": 10},
    )
    spec = manifest["spec"]
    kubectl.apply(manifest, namespace)
    stable = _settled(kubectl, namespace, 1)
    spec["podMetadata"] = {"annotations": {"modelplane.io/chaos": "never-ready"}}
    kubectl.apply(manifest, namespace)
    ro = wait_for(
        "deadline",
        lambda: (r := rollout_of(kubectl, namespace)).get("phase") == "RolledBack" and r,
        timeout=90,
        interval=0.5,
    )
    assert "progress deadline exceeded" in ro["message"]
    assert stable_of(kubectl, namespace) == stable


def test_blue_green_preview_manual_promote_then_undo(
    operator: OperatorProcess, gateway: GatewayProcess, kubectl: Kubectl, namespace: str
) -> None:
    served = f"bg-{secrets.token_hex(3)}"
    rollout = {"strategy": "BlueGreen", "blueGreen": {"scaleDownDelaySeconds": 120}}
    _serve(kubectl, namespace, served, rollout)
    blue = _settled(kubectl, namespace, 2)
    client = OpenAI(base_url=gateway.url + "/v1", api_key="x", timeout=60, max_retries=0)
    _serve(kubectl, namespace, served, rollout, env=[{"name": "FAKE_TOKENS", "value": "3"}])
    wait_for(
        "waiting for promote",
        lambda: "waiting for promote" in rollout_of(kubectl, namespace).get("message", ""),
        timeout=120,
        interval=0.5,
    )
    green = rollout_of(kubectl, namespace)["revision"]

    def answer(model: str) -> str:
        out = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}], max_tokens=1
        )
        return str(out.system_fingerprint).split("-")[1]

    # The preview name reaches green; the public name still reaches blue only.
    wait_for(
        "the preview routable",
        lambda: _try(lambda: answer(f"{served}-preview")) == green,
        timeout=30,
    )
    assert {answer(served) for _ in range(10)} == {blue}
    status = cli(kubectl, "status", "chat", "-n", namespace)
    assert (
        "waiting for promote" in status.stdout
        and f"preview:  model {served}-preview" in status.stdout
    )
    with Load(gateway, served).running() as load:
        out = cli(kubectl, "promote", "chat", "-n", namespace)
        assert out.returncode == 0, out.stderr
        wait_for("green serves", lambda: stable_of(kubectl, namespace) == green, timeout=60)
        wait_for("green answers", lambda: answer(served) == green, timeout=30)
        # Undo within the scale-down delay: blue is still up, so it is instant.
        out = cli(kubectl, "undo", "chat", "-n", namespace)
        assert out.returncode == 0 and "as `kubectl rollout undo` does" in out.stdout, out.stderr
        wait_for("blue stable again", lambda: stable_of(kubectl, namespace) == blue, timeout=60)
        wait_for("blue answers", lambda: answer(served) == blue, timeout=30)
    assert load.failures == [], load.failures[:5]
    history = cli(kubectl, "history", "chat", "-n", namespace).stdout
    assert "Retired" in history and "Stable" in history


def test_pause_resume_abort_through_the_cli(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    manifest = _kwok(
        replicas=2,
        rollout={"strategy": "Canary", "canary": {"steps": [{"weight": 50, "manual": True}]}},
    )
    spec = manifest["spec"]
    kubectl.apply(manifest, namespace)
    stable = _settled(kubectl, namespace, 2)
    spec["model"]["uri"] = "hf://org/tiny@v2"
    kubectl.apply(manifest, namespace)
    wait_for(
        "waiting for promote",
        lambda: "waiting for promote" in rollout_of(kubectl, namespace).get("message", ""),
        timeout=60,
        interval=0.5,
    )
    assert cli(kubectl, "pause", "chat", "-n", namespace).returncode == 0
    assert rollout_of(kubectl, namespace)["paused"] is True
    assert cli(kubectl, "resume", "chat", "-n", namespace).returncode == 0
    assert rollout_of(kubectl, namespace)["paused"] is False
    out = cli(kubectl, "abort", "chat", "-n", namespace)
    assert out.returncode == 0 and "abort taken: Aborted" in out.stdout, out.stdout + out.stderr
    wait_for("stable alone", lambda: traffic_of(kubectl, namespace) == {stable: 100}, timeout=30)
    bad = cli(kubectl, "promote", "nope", "-n", namespace)
    assert bad.returncode == 1 and "not found" in bad.stderr


def test_operator_killed_at_every_step_resumes_where_it_was(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    steps = [
        {"weight": 10, "pauseSeconds": 3},
        {"weight": 30, "pauseSeconds": 3},
        {"weight": 60, "pauseSeconds": 3},
    ]
    manifest = _kwok(
        replicas=3,
        rollout={"strategy": "Canary", "canary": {"steps": steps}},
    )
    spec = manifest["spec"]
    kubectl.apply(manifest, namespace)
    stable = _settled(kubectl, namespace, 3)
    spec["model"]["uri"] = "hf://org/tiny@v2"
    kubectl.apply(manifest, namespace)
    for step in range(len(steps)):
        wait_for(
            f"step {step}",
            lambda s=step: rollout_of(kubectl, namespace).get("step") == s,
            timeout=60,
            interval=0.2,
        )
        operator.stop(signal.SIGKILL)
        before = rollout_of(kubectl, namespace)
        assert before["step"] == step  # nothing moves while it is down
        operator.start()
    new = wait_for(
        "promoted",
        lambda: (s := stable_of(kubectl, namespace)) != stable and s,
        timeout=120,
        interval=0.5,
    )
    names = sorted(d["metadata"]["name"] for d in deployments(kubectl, namespace, "chat"))
    wait_for(
        "old retired",
        lambda: (
            sorted(d["metadata"]["name"] for d in deployments(kubectl, namespace, "chat"))
            == [f"chat-{new}"]
        ),
        timeout=60,
    )
    assert len(names) <= 2  # never a duplicate or orphaned Deployment
    assert [r["outcome"] for r in get_ms(kubectl, namespace, "chat")["status"]["revisions"]] == [
        "Stable",
        "Retired",
    ]


def test_history_is_trimmed_to_the_limit(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    manifest = _kwok(
        replicas=1,
        revisionHistoryLimit=2,
    )
    spec = manifest["spec"]
    kubectl.apply(manifest, namespace)
    for version in (2, 3, 4):
        _settled(kubectl, namespace, 1)
        spec["model"]["uri"] = f"hf://org/tiny@v{version}"
        kubectl.apply(manifest, namespace)
    _settled(kubectl, namespace, 1)
    records = kubectl.json("-n", namespace, "get", "controllerrevisions")["items"]
    assert sorted(r["revision"] for r in records) == [3, 4]
    assert [r["number"] for r in get_ms(kubectl, namespace, "chat")["status"]["revisions"]] == [
        4,
        3,
    ]


def _try(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None


def test_two_quick_changes_supersede_the_middle_revision(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(_kwok(rollout=SLOW_CANARY), namespace)
    stable = _settled(kubectl, namespace, 2)
    kubectl.apply(_kwok(uri="hf://org/tiny@v2", rollout=SLOW_CANARY), namespace)
    middle = wait_for(
        "v2 rolling",
        lambda: (
            (r := rollout_of(kubectl, namespace)).get("revision") != stable and r.get("revision")
        ),
        timeout=30,
        interval=0.2,
    )
    kubectl.apply(_kwok(uri="hf://org/tiny@v3", rollout=SLOW_CANARY), namespace)
    last = wait_for(
        "v3 rolling",
        lambda: (
            (r := rollout_of(kubectl, namespace)).get("revision") not in (stable, middle)
            and r.get("revision")
        ),
        timeout=30,
        interval=0.2,
    )

    def clean() -> bool:
        names = {
            d["metadata"]["labels"]["modelplane.io/revision"]
            for d in deployments(kubectl, namespace, "chat")
        }
        return names == {stable, last}

    wait_for("no Deployment of the middle revision", clean, timeout=60)
    outcomes = {
        r["revision"]: r["outcome"]
        for r in get_ms(kubectl, namespace, "chat")["status"]["revisions"]
    }
    assert outcomes == {stable: "Stable", middle: "Superseded", last: "Progressing"}
    assert cli(kubectl, "promote", "chat", "-n", namespace).returncode == 0
    wait_for("v3 stable", lambda: stable_of(kubectl, namespace) == last, timeout=60)


def test_undo_while_a_canary_is_in_progress(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(_kwok(rollout=SLOW_CANARY), namespace)
    stable = _settled(kubectl, namespace, 2)
    kubectl.apply(_kwok(uri="hf://org/tiny@v2", rollout=SLOW_CANARY), namespace)
    wait_for(
        "canary at 50%",
        lambda: traffic_of(kubectl, namespace).get(stable) == 50,
        timeout=60,
        interval=0.2,
    )
    canary = rollout_of(kubectl, namespace)["revision"]
    out = cli(kubectl, "undo", "chat", "-n", namespace)
    assert out.returncode == 0 and "(the stable revision)" in out.stdout, out.stdout + out.stderr
    assert get_ms(kubectl, namespace, "chat")["spec"]["model"]["uri"] == "hf://org/tiny@v1"
    wait_for(
        "stable alone",
        lambda: (
            traffic_of(kubectl, namespace) == {stable: 100}
            and len(deployments(kubectl, namespace, "chat")) == 1
        ),
        timeout=60,
    )
    outcomes = {
        r["revision"]: r["outcome"]
        for r in get_ms(kubectl, namespace, "chat")["status"]["revisions"]
    }
    assert outcomes[canary] == "Superseded" and outcomes[stable] == "Stable"
