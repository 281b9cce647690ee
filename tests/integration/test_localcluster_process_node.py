"""The process node: pods that really run, with real networking and probes."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .kube import Kubectl, condition, wait_for

PROGRAMS = Path(__file__).parent / "podprogs"
LOCAL = {
    "nodeSelector": {"modelplane.io/node-kind": "local"},
    "tolerations": [{"key": "modelplane.io/local", "operator": "Exists", "effect": "NoSchedule"}],
}


def programs_configmap(kubectl: Kubectl, namespace: str) -> None:
    kubectl(
        "-n",
        namespace,
        "create",
        "configmap",
        "programs",
        *(f"--from-file={p}" for p in sorted(PROGRAMS.glob("*.py"))),
    )


def server_pod(name: str, events_dir: Path | None = None, grace: int = 30) -> dict[str, Any]:
    mounts = [{"name": "programs", "mountPath": "/app"}]
    volumes: list[dict[str, Any]] = [{"name": "programs", "configMap": {"name": "programs"}}]
    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    container: dict[str, Any] = {
        "name": "server",
        "image": "python:3.11-slim",
        "command": ["python3", "-u", "/app/server.py"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
        "volumeMounts": mounts,
        "env": env,
    }
    if events_dir is not None:
        volumes.append(
            {"name": "events", "hostPath": {"path": str(events_dir), "type": "Directory"}}
        )
        mounts.append({"name": "events", "mountPath": "/events"})
        env.append({"name": "EVENTS_FILE", "value": "/events/log"})
        container["lifecycle"] = {
            "preStop": {
                "exec": {"command": ["sh", "-c", 'echo "prestop $(date +%s.%N)" >> /events/log']}
            }
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            **LOCAL,
            "terminationGracePeriodSeconds": grace,
            "containers": [container],
            "volumes": volumes,
        },
    }


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:  # not listening yet, or gone
        return 0, ""


def pod(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return kubectl.json("-n", namespace, "get", "pod", name)


def is_ready(p: dict[str, Any]) -> bool:
    return (condition(p, "Ready") or {}).get("status") == "True"


def test_process_pod_is_ready_only_when_its_probe_passes(kubectl: Kubectl, namespace: str) -> None:
    programs_configmap(kubectl, namespace)
    kubectl.apply(server_pod("web"), namespace)
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
        namespace,
    )
    running = wait_for(
        "the server answering on its pod IP",
        lambda: (
            (p := pod(kubectl, namespace, "web"))["status"].get("podIP")
            and get(f"http://{p['status']['podIP']}:8080/")[0] == 200
            and p
        ),
    )
    ip = running["status"]["podIP"]
    assert ip.startswith("10.244.0.")
    assert running["spec"]["nodeName"] == "local-0"
    # The probe keeps failing until /arm: several probe periods pass, still not Ready.
    for _ in range(3):
        wait_for("another failed probe", lambda: get(f"http://{ip}:8080/ready")[0] == 503)
        assert not is_ready(pod(kubectl, namespace, "web"))
    status, body = get(f"http://{ip}:8080/")
    assert status == 200 and body == f"hello from web at {ip}\n"

    get(f"http://{ip}:8080/arm")
    ready = wait_for("pod Ready", lambda: is_ready(p := pod(kubectl, namespace, "web")) and p)
    container = ready["status"]["containerStatuses"][0]
    assert container["ready"] is True and container["started"] is True
    assert container["state"]["running"]

    def endpoint() -> dict[str, Any] | None:
        slices = kubectl.json(
            "-n", namespace, "get", "endpointslices", "-l", "kubernetes.io/service-name=web"
        )
        eps = [ep for s in slices["items"] for ep in s.get("endpoints") or []]
        return next((ep for ep in eps if ep["conditions"].get("ready")), None)

    ep = wait_for("a ready endpoint in the Service's EndpointSlice", endpoint)
    assert ep["addresses"] == [ip]
    logs = kubectl("-n", namespace, "logs", "web").stdout
    assert "serving on :8080 as web" in logs


def test_delete_runs_prestop_then_sigterm_within_grace(
    kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    tmp_path.chmod(0o777)
    programs_configmap(kubectl, namespace)
    kubectl.apply(server_pod("stopper", events_dir=tmp_path, grace=30), namespace)
    p = wait_for(
        "pod Running",
        lambda: (p := pod(kubectl, namespace, "stopper"))["status"].get("podIP") and p,
    )
    wait_for("server up", lambda: get(f"http://{p['status']['podIP']}:8080/")[0] == 200)
    kubectl("-n", namespace, "delete", "pod", "stopper", "--wait=true", timeout=60)
    events = [line.split() for line in (tmp_path / "log").read_text().splitlines()]
    assert [e[0] for e in events] == ["prestop", "sigterm"]
    assert float(events[0][1]) <= float(events[1][1])
    # The process is gone with its pod: nothing answers on the old address.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{p['status']['podIP']}:8080/", timeout=2)


def test_failing_process_goes_to_crash_loop_back_off(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "failing"},
            "spec": {
                **LOCAL,
                "containers": [
                    {
                        "name": "main",
                        "image": "python:3.11-slim",
                        "command": ["python3", "-c", "import sys; sys.exit(3)"],
                    }
                ],
            },
        },
        namespace,
    )

    def status() -> dict[str, Any]:
        statuses = pod(kubectl, namespace, "failing")["status"].get("containerStatuses") or [{}]
        return dict(statuses[0])

    wait_for(
        "CrashLoopBackOff",
        lambda: status().get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff",
    )
    first = status()["restartCount"]
    wait_for("restartCount rising", lambda: status()["restartCount"] > first, timeout=120)
    last = status()["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"


def test_unmapped_image_waits_like_a_pull_failure(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "unknown-image"},
            "spec": {
                **LOCAL,
                "containers": [
                    {"name": "main", "image": "example.com/nope:1", "command": ["true"]}
                ],
            },
        },
        namespace,
    )
    reason = wait_for(
        "a pull-failure waiting reason",
        lambda: (
            (pod(kubectl, namespace, "unknown-image")["status"].get("containerStatuses") or [{}])[0]
            .get("state", {})
            .get("waiting", {})
            .get("reason")
        ),
    )
    assert reason in ("ErrImagePull", "ImagePullBackOff")


def test_in_cluster_client_gets_what_its_rbac_allows(kubectl: Kubectl, namespace: str) -> None:
    programs_configmap(kubectl, namespace)
    kubectl("-n", namespace, "create", "serviceaccount", "reader")
    kubectl("-n", namespace, "create", "role", "pod-reader", "--verb=list", "--resource=pods")
    kubectl(
        "-n",
        namespace,
        "create",
        "rolebinding",
        "reader",
        "--role=pod-reader",
        f"--serviceaccount={namespace}:reader",
    )
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "whoami"},
            "spec": {
                **LOCAL,
                "serviceAccountName": "reader",
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "client",
                        "image": "python:3.11-slim",
                        "command": ["python3", "-u", "/app/whoami.py"],
                        "volumeMounts": [{"name": "programs", "mountPath": "/app"}],
                    }
                ],
                "volumes": [{"name": "programs", "configMap": {"name": "programs"}}],
            },
        },
        namespace,
    )
    wait_for(
        "pod Succeeded",
        lambda: pod(kubectl, namespace, "whoami")["status"].get("phase") == "Succeeded",
    )
    logs = kubectl("-n", namespace, "logs", "whoami").stdout.split("\n")
    assert "pods: 200 1" in logs, logs
    assert "secrets: 403" in logs, logs


def test_local_pods_have_no_route_beyond_the_bridge(kubectl: Kubectl, namespace: str) -> None:
    """Traffic safety: a pod reaching for anything but its bridge fails locally."""
    script = (
        "import socket\n"
        "for ip in ('10.96.0.1', '10.245.0.5', '8.8.8.8'):\n"
        "    s = socket.socket(); s.settimeout(3)\n"
        "    try:\n"
        "        s.connect((ip, 443)); print(ip, 'connected')\n"
        "    except OSError as e:\n"
        "        print(ip, e.errno)\n"
    )
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe-net"},
            "spec": {
                **LOCAL,
                "restartPolicy": "Never",
                "containers": [
                    {"name": "c", "image": "python:3.11-slim", "command": ["python3", "-c", script]}
                ],
            },
        },
        namespace,
    )
    wait_for(
        "pod Succeeded",
        lambda: pod(kubectl, namespace, "probe-net")["status"].get("phase") == "Succeeded",
    )
    lines = kubectl("-n", namespace, "logs", "probe-net").stdout.split()
    # errno 101 = ENETUNREACH: refused inside the namespace, nothing sent.
    assert lines == ["10.96.0.1", "101", "10.245.0.5", "101", "8.8.8.8", "101"], lines


def test_host_routes_fake_ranges_to_unreachable(cluster: Any) -> None:
    import subprocess

    routes = subprocess.run(
        ["ip", "route", "show", "type", "unreachable"], capture_output=True, text=True
    ).stdout
    for cidr in cluster.fleet.fake_ranges():
        assert f"unreachable {cidr}" in routes
    assert json.loads(Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() or "0") == 0
