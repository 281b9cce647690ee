"""The gateway on the real cluster: discovery from watches, pods on the process node.

The replicas here run the fast fake OpenAI server (tests/fakes) as their
engine, through the image mapping modelplane.test/fake-vllm:* in
hack/localcluster/fleet.yaml: the pods, probes, EndpointSlices, operator and
gateway are all real, only vLLM is replaced, because these tests need
several replicas and readiness flips on demand. test_vllm_e2e.py runs the
gateway in front of real vLLM.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import urllib.request
from collections import Counter
from typing import Any

import pytest
from openai import OpenAI

from .gateway import GatewayProcess
from .kube import Kubectl, condition, wait_for
from .operator import OperatorProcess
from .test_operator import deployments, ready

FAKE_IMAGE = "modelplane.test/fake-vllm:1"


def fake_service(name: str, served: str, replicas: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelplane.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": {
            "model": {"uri": "file:///unused", "servedName": served},
            "runtime": {"image": FAKE_IMAGE, **spec.pop("runtime", {})},
            "resources": {
                "gpus": 0,
                "nodeSelector": {"modelplane.io/node-kind": "local"},
                "tolerations": [
                    {"key": "modelplane.io/local", "operator": "Exists", "effect": "NoSchedule"}
                ],
            },
            "replicas": replicas,
            **spec,
        },
    }


def client(gateway: GatewayProcess, key: str = "unused") -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key=key, timeout=120, max_retries=0)


def chat(gateway: GatewayProcess, model: str, key: str = "unused") -> str:
    """One chat completion; the fake names the pod that served it."""
    out = client(gateway, key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    return str(out.system_fingerprint)


def ready_with(kubectl: Kubectl, namespace: str, name: str, replicas: int) -> Any:
    ms = ready(kubectl, namespace, name)
    return ms if ms and ms["status"].get("readyReplicas") == replicas else None


def serve_ready(kubectl: Kubectl, namespace: str, served: str, replicas: int) -> Any:
    """Apply a fake-engine ModelService `chat` and wait until all its replicas are ready."""
    kubectl.apply(fake_service("chat", served, replicas=replicas), namespace)
    return wait_for(
        f"{replicas} ready",
        lambda: ready_with(kubectl, namespace, "chat", replicas),
        timeout=120,
    )


@pytest.fixture
def served_name() -> str:
    return f"fake-{secrets.token_hex(3)}"  # unique over the session's namespaces


def test_routes_by_model_to_every_ready_replica(
    operator: OperatorProcess,
    gateway: GatewayProcess,
    kubectl: Kubectl,
    namespace: str,
    served_name: str,
) -> None:
    ms = serve_ready(kubectl, namespace, served_name, 2)
    assert ms["status"]["traffic"] == [{"revision": ms["status"]["revision"], "weight": 100}]

    def both_served() -> Counter[str]:
        seen = Counter(chat(gateway, served_name) for _ in range(10))
        return seen if len(seen) == 2 else Counter()

    # The gateway learns of both endpoints from the EndpointSlice watch.
    seen = wait_for("both replicas serving", both_served, timeout=60)
    assert all(pod.startswith(f"chat-{ms['status']['revision']}-") for pod in seen)
    oa = client(gateway)
    assert served_name in [m.id for m in oa.models.list().data]
    text = oa.completions.create(model=served_name, prompt="x", max_tokens=3).choices[0].text
    assert text == "tok tok tok"
    stream = oa.chat.completions.create(
        model=served_name, messages=[{"role": "user", "content": "x"}], max_tokens=4, stream=True
    )
    assert [c.choices[0].delta.content for c in stream] == ["t0 ", "t1 ", "t2 ", "t3 "]
    assert len(oa.embeddings.create(model=served_name, input="x").data[0].embedding) == 8


def test_not_ready_replica_stops_getting_requests(
    operator: OperatorProcess,
    gateway: GatewayProcess,
    kubectl: Kubectl,
    namespace: str,
    served_name: str,
) -> None:
    serve_ready(kubectl, namespace, served_name, 2)
    pods = kubectl.json("-n", namespace, "get", "pods", "-l", "modelplane.io/modelservice=chat")
    sick = pods["items"][0]
    # Its readiness probe starts failing: the kubelet marks it, the slice follows.
    urllib.request.urlopen(
        urllib.request.Request(
            f"http://{sick['status']['podIP']}:8000/fake/unready", method="POST"
        ),
        timeout=5,
    ).read()
    wait_for(
        "2 ready -> 1",
        lambda: (
            ready_with(kubectl, namespace, "chat", 1) is None
            and kubectl.json("-n", namespace, "get", "ms", "chat")["status"].get("readyReplicas")
            == 1
        ),
        timeout=90,
    )

    def only_healthy() -> bool:
        return all(chat(gateway, served_name) != sick["metadata"]["name"] for _ in range(20))

    wait_for("no request to the not-ready replica", only_healthy, timeout=30)
    assert all(chat(gateway, served_name) != sick["metadata"]["name"] for _ in range(30))


def test_scale_from_zero_holds_requests_then_serves(
    operator: OperatorProcess,
    gateway: GatewayProcess,
    kubectl: Kubectl,
    namespace: str,
    served_name: str,
) -> None:
    kubectl.apply(fake_service("chat", served_name, replicas=0), namespace)
    wait_for(
        "scaled to zero",
        lambda: (
            ready_with(kubectl, namespace, "chat", 0)
            or (
                (m := ready(kubectl, namespace, "chat"))
                and not m["status"].get("readyReplicas")
                and m
            )
        ),
        timeout=60,
    )
    wait_for(
        "the gateway knows the model",
        lambda: served_name in [m.id for m in client(gateway).models.list().data],
        timeout=30,
    )
    answers: list[str] = []
    held = threading.Thread(target=lambda: answers.append(chat(gateway, served_name)))
    held.start()
    queued = f'modelplane_gateway_queued_requests{{model="{served_name}"}}'
    wait_for("the request is held", lambda: gateway.metric(queued) == 1, timeout=30)
    assert not answers
    kubectl("-n", namespace, "scale", "ms/chat", "--replicas=1")
    held.join(timeout=120)
    assert answers and answers[0].startswith("chat-")
    assert gateway.metric(queued) == 0
    held_total = f'modelplane_gateway_held_requests_total{{model="{served_name}"}}'
    assert gateway.metric(held_total) == 1


def test_rolling_replacement_under_load_fails_no_request(
    operator: OperatorProcess,
    gateway: GatewayProcess,
    kubectl: Kubectl,
    namespace: str,
    served_name: str,
) -> None:
    first = serve_ready(kubectl, namespace, served_name, 2)
    old = first["status"]["revision"]
    wait_for("routable", lambda: chat(gateway, served_name), timeout=30)
    stop = threading.Event()
    results: Counter[str] = Counter()
    failures: list[str] = []

    def load() -> None:
        while not stop.is_set():
            try:
                results[chat(gateway, served_name).split("-")[1]] += 1
            except Exception as err:
                failures.append(repr(err))

    workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        changed = fake_service(
            "chat",
            served_name,
            replicas=2,
            runtime={"env": [{"name": "FAKE_TOKENS", "value": "3"}]},
        )
        kubectl.apply(changed, namespace)

        def rolled() -> Any:
            ms = ready(kubectl, namespace, "chat")
            done = (
                ms is not None
                and ms["status"]["revision"] != old
                and len(deployments(kubectl, namespace, "chat")) == 1
                and (condition(ms, "Progressing") or {}).get("reason") == "Complete"
            )
            return ms if done else None

        new = wait_for("the new revision alone", rolled, timeout=180, interval=1)["status"][
            "revision"
        ]
        # Old pods drain (preStop, then SIGTERM): keep the load on until they are gone.
        wait_for(
            "old pods gone",
            lambda: (
                not kubectl.json(
                    "-n", namespace, "get", "pods", "-l", f"modelplane.io/revision={old}"
                )["items"]
            ),
            timeout=120,
            interval=1,
        )
        settled = sum(results.values())
        wait_for(
            "requests on the new revision", lambda: sum(results.values()) > settled + 20, timeout=60
        )
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=60)
    assert failures == [], failures[:5]
    assert results[old] > 0 and results[new] > 0, results


def test_per_model_api_keys_from_a_labelled_secret(
    operator: OperatorProcess,
    gateway: GatewayProcess,
    kubectl: Kubectl,
    namespace: str,
    served_name: str,
) -> None:
    kubectl.apply(
        fake_service("chat", served_name, routing={"apiKeySecret": "chat-keys"}), namespace
    )
    wait_for("ready", lambda: ready_with(kubectl, namespace, "chat", 1), timeout=120)
    key = secrets.token_urlsafe(16)
    with pytest.raises(Exception, match="401"):
        chat(gateway, served_name, key)  # the Secret does not exist yet: refused
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "chat-keys", "labels": {"modelplane.io/api-keys": "true"}},
            "data": {"alice": base64.b64encode(key.encode()).decode()},
        },
        namespace,
    )
    assert wait_for("the key accepted", lambda: _accepted(gateway, served_name, key), timeout=30)
    with pytest.raises(Exception, match="401"):
        chat(gateway, served_name, key + "x")
    assert key not in gateway.log_file.read_text(errors="replace")


def _accepted(gateway: GatewayProcess, model: str, key: str) -> bool:
    try:
        return bool(chat(gateway, model, key))
    except Exception as err:
        if "401" in str(err):
            return False
        raise


def test_unknown_model_is_an_openai_404(gateway: GatewayProcess) -> None:
    request = urllib.request.Request(
        gateway.url + "/v1/chat/completions",
        data=json.dumps({"model": "no-such-model", "messages": []}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 404
    assert json.loads(raised.value.read())["error"]["code"] == "model_not_found"
