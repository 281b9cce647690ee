"""Real vLLM (CPU) served by the operator on the process node, end to end.

The ModelService asks for 0 GPUs and tolerates the local node; the runtime
image maps to the cached vLLM venv (hack/localcluster/fleet.yaml), so the
operator's Deployment starts `modelplane-runtime serve` exactly as it would in
a real cluster, and real vLLM answers on the pod's own IP. At most two vLLM
instances run at once (3.8 GB each).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from tests.runtime.models import ensure_tiny_model, vllmenv
from tests.runtime.openai_checks import check_openai

from .gateway import GatewayProcess
from .kube import Kubectl, condition, wait_for
from .operator import OperatorProcess
from .test_operator import deployments, get_ms, ready

SERVED = "tiny"
VLLM_START = 420  # seconds: a cold vLLM start on 2 busy cores takes 1-3 minutes


@pytest.fixture(scope="module")
def tiny_model() -> Path:
    if not vllmenv.is_installed():
        pytest.fail(f"no vLLM venv at {vllmenv.venv_dir()}: run `make vllm` first")
    return ensure_tiny_model(Path(vllmenv.venv_dir()) / "bin" / "python")


def tiny(name: str, model: Path, max_model_len: int = 512, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "modelplane.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": {
            "model": {"uri": f"file://{model}", "servedName": SERVED},
            # Eager mode: torch.compile adds a minute per start on 2 cores.
            "runtime": {
                "maxModelLen": max_model_len,
                "dtype": "float32",
                "extraArgs": ["--enforce-eager"],
            },
            "resources": {
                "gpus": 0,
                "nodeSelector": {"modelplane.io/node-kind": "local"},
                "tolerations": [
                    {"key": "modelplane.io/local", "operator": "Exists", "effect": "NoSchedule"}
                ],
            },
            "replicas": replicas,
        },
    }


def ready_endpoints(kubectl: Kubectl, namespace: str, service: str) -> list[str]:
    """Pod IPs the Service's EndpointSlices call ready and not terminating."""
    slices = kubectl.json(
        "-n", namespace, "get", "endpointslices", "-l", f"kubernetes.io/service-name={service}"
    )
    return [
        address
        for s in slices["items"]
        for ep in s.get("endpoints") or []
        if ep["conditions"].get("ready") and not ep["conditions"].get("terminating")
        for address in ep["addresses"]
    ]


def completion(base_url: str) -> str:
    client = OpenAI(base_url=f"{base_url}/v1", api_key="unused", timeout=60, max_retries=0)
    out = client.completions.create(model=SERVED, prompt="Hello", max_tokens=8)
    return out.choices[0].text


@pytest.fixture(scope="module")
def served(operator: OperatorProcess, kubectl: Kubectl, tiny_model: Path) -> Iterator[str]:
    """One namespace for the module: the tests follow one ModelService's life in order
    (a vLLM start costs a minute or more, so each is paid once)."""
    namespace = f"t-vllm-e2e-{secrets.token_hex(2)}"
    kubectl("create", "namespace", namespace)
    kubectl.apply(tiny("chat", tiny_model), namespace)
    yield namespace
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_ready_only_once_vllm_answers(served: str, kubectl: Kubectl, tiny_model: Path) -> None:
    namespace = served
    saw_loading = False

    def loading_or_ready() -> dict[str, Any] | None:
        nonlocal saw_loading
        ms = ready(kubectl, namespace, "chat")
        if ms is None:
            pods = kubectl.json(
                "-n", namespace, "get", "pods", "-l", "modelplane.io/modelservice=chat"
            )
            running = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
            saw_loading |= bool(running)
        return ms

    ms = wait_for("Ready", loading_or_ready, timeout=VLLM_START, interval=1)
    assert saw_loading, "the pod ran for a while before vLLM answered: Ready waited for it"
    (ip,) = ready_endpoints(kubectl, namespace, f"chat-{ms['status']['revision']}")
    assert ip.startswith("10.244.0.")
    check_openai(f"http://{ip}:8000", SERVED)
    logs = kubectl("-n", namespace, "logs", "deploy/chat-" + ms["status"]["revision"]).stdout
    assert "vllm" in logs.lower()


def test_gateway_serves_real_vllm(served: str, kubectl: Kubectl, gateway: GatewayProcess) -> None:
    """The official client through the gateway: completions, chat and streaming."""
    wait_for("Ready", lambda: ready(kubectl, served, "chat"), timeout=VLLM_START)
    wait_for("the gateway routes it", lambda: _routed(gateway), timeout=60)
    check_openai(gateway.url, SERVED)
    ttft = f'modelplane_gateway_time_to_first_token_seconds_count{{model="{SERVED}",'
    text = gateway._get("/metrics")[1]
    assert ttft in text and 'code="200"' in text


def _routed(gateway: GatewayProcess) -> bool:
    try:
        return bool(completion(gateway.url))
    except Exception:
        return False


def test_model_change_rolls_with_no_failed_request(
    served: str, kubectl: Kubectl, tiny_model: Path, gateway: GatewayProcess
) -> None:
    """Load goes through the gateway, which follows the EndpointSlices as pods come and go."""
    namespace = served
    first = wait_for("Ready", lambda: ready(kubectl, namespace, "chat"), timeout=VLLM_START)
    stop = threading.Event()
    results: list[str] = []

    wait_for("the gateway routes it", lambda: _routed(gateway), timeout=60)

    def load() -> None:
        while not stop.is_set():
            try:
                completion(gateway.url)
                results.append("ok")
            except Exception as err:
                results.append(f"failed: {err!r}")

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        kubectl.apply(tiny("chat", tiny_model, max_model_len=256), namespace)

        def rolled() -> bool:
            ms = ready(kubectl, namespace, "chat")
            if ms is None or ms["status"]["revision"] == first["status"]["revision"]:
                return False
            return (
                len(deployments(kubectl, namespace, "chat")) == 1
                and (condition(ms, "Progressing") or {}).get("reason") == "Complete"
            )

        wait_for("the new revision alone", rolled, timeout=VLLM_START, interval=1)
        wait_for("requests on the new revision", lambda: len(results) > 5, timeout=60)
    finally:
        stop.set()
        worker.join(timeout=120)
    failures = [r for r in results if r != "ok"]
    assert results.count("ok") >= 10 and failures == [], failures[:5]


def test_scale_to_two_real_replicas(served: str, kubectl: Kubectl, tiny_model: Path) -> None:
    namespace = served
    wait_for("Ready", lambda: ready(kubectl, namespace, "chat"), timeout=VLLM_START)
    kubectl("-n", namespace, "scale", "ms/chat", "--replicas=2")
    ms = wait_for(
        "two ready replicas",
        lambda: (
            (m := ready(kubectl, namespace, "chat")) and m["status"]["readyReplicas"] == 2 and m
        ),
        timeout=VLLM_START,
        interval=1,
    )
    ips = ready_endpoints(kubectl, namespace, f"chat-{ms['status']['revision']}")
    assert len(set(ips)) == 2
    for ip in ips:
        assert completion(f"http://{ip}:8000")
    assert get_ms(kubectl, namespace, "chat")["spec"]["replicas"] == 2
