"""The Helm chart: lint, strict schema validation, server-side dry run, the
gateway's objects and read-only RBAC, and a real install whose operator pod
reconciles an example to Ready and whose gateway pods serve it."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import schemas
from .kube import Kubectl, condition, wait_for
from .operator import ROOT, AuditLog, OperatorProcess

CHART = ROOT / "charts" / "modelplane"
LOCAL_NODE_VALUES = [
    "--set",
    "image.tag=test",
    "--set",
    "nodeSelector.modelplane\\.io/node-kind=local",
    "--set",
    "tolerations[0].key=modelplane.io/local",
    "--set",
    "tolerations[0].operator=Exists",
    "--set",
    "tolerations[0].effect=NoSchedule",
]

NAMESPACED = [
    "--set",
    "rbac.clusterWide=false",
    "--set",
    "operator.watchNamespaces={team-a,team-b}",
]
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
GATEWAY = "mp-modelplane-gateway"  # every gateway object of release "mp"
READ_VERBS = {"get", "list", "watch"}
# What the gateway reads (operator/modelplane/gateway/discovery.py), and nothing more.
GATEWAY_READS = {
    ("modelplane.io", "modelservices"),
    ("discovery.k8s.io", "endpointslices"),
    ("", "secrets"),
}
# A 403 in a log line, but not the milliseconds of a timestamp (",403").
FORBIDDEN = re.compile(r"forbidden|(?<![\d,.:])403(?!\d)", re.IGNORECASE)


def run(*argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed:\n{result.stdout}{result.stderr}")
    return result


@pytest.fixture(scope="module")
def schema_dir(
    kubectl: Kubectl, operator_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Strict schemas of every kind the API server serves (the CRD is installed)."""
    directory = tmp_path_factory.mktemp("schemas")
    openapi = json.loads(kubectl("get", "--raw", "/openapi/v2").stdout)
    # OpenAPI v2 types IntOrString as a string (format int-or-string), which would
    # refuse e.g. `maxUnavailable: 1`; the API server takes both.
    openapi["definitions"][INT_OR_STRING] = {"type": ["integer", "string"]}
    assert schemas.write(openapi, directory) > 100
    assert (directory / "modelservice-modelplane.io-v1alpha1.json").exists()
    return directory


def kubeconform(
    bin_dir: Path, schema_dir: Path, manifests: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(bin_dir / "kubeconform"),
            "-strict",
            "-summary",
            "-output",
            "text",
            "-schema-location",
            f"{schema_dir}/{schemas.LOCATION}",
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=120,
    )


def render(helm: Path, *values: str) -> list[dict[str, Any]]:
    text = run(helm, "template", "mp", CHART, "-n", "modelplane-system", *values).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]], name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The objects called ``name``, by (kind, namespace)."""
    return {
        (d["kind"], d["metadata"].get("namespace", "")): d
        for d in docs
        if d["metadata"]["name"] == name
    }


def gateway_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = by_kind(docs, GATEWAY)[("Deployment", "modelplane-system")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_helm_lint(helm: Path) -> None:
    result = run(helm, "lint", "--strict", CHART)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    "values",
    [
        [],
        NAMESPACED,
        ["--set", "gateway.apiKeys.existingSecret=gateway-keys"],
        ["--set", "gateway.enabled=false"],
    ],
    ids=["cluster-wide", "namespaced", "gateway-api-keys", "gateway-disabled"],
)
def test_rendered_chart_is_strictly_valid(helm: Path, schema_dir: Path, values: list[str]) -> None:
    rendered = run(
        helm, "template", "mp", CHART, "-n", "modelplane-system", "--include-crds", *values
    ).stdout
    result = kubeconform(helm.parent, schema_dir, rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0" in result.stdout


def test_kubeconform_catches_a_wrong_field(helm: Path, schema_dir: Path) -> None:
    """The check above can fail: a misspelt field is refused."""
    rendered = run(helm, "template", "mp", CHART, "-n", "modelplane-system").stdout
    broken = rendered.replace("serviceAccountName:", "serviceAcountName:", 1)
    result = kubeconform(helm.parent, schema_dir, broken)
    assert result.returncode != 0 and "serviceAcountName" in result.stdout


def test_values_schema_refuses_bad_values(helm: Path) -> None:
    result = run(helm, "template", "mp", CHART, "--set", "operator.logFormat=xml", check=False)
    assert result.returncode != 0 and "logFormat" in result.stderr
    result = run(helm, "template", "mp", CHART, "--set", "rbac.clusterWide=false", check=False)
    assert result.returncode != 0 and "watchNamespaces" in result.stderr
    for bad, field in [
        ("gateway.replicas=-1", "/gateway/replicas"),
        ("gateway.maxBodyBytes=10", "/gateway/maxBodyBytes"),
        ("gateway.holdTimeoutSeconds=0", "/gateway/holdTimeoutSeconds"),
        ("gateway.service.type=ExternalName", "/gateway/service/type"),
        ("gateway.podDisruptionBudget.maxUnavailable=0", "/gateway/podDisruptionBudget"),
        ("gateway.replica=2", "replica"),  # a misspelt key: additionalProperties is false
    ]:
        result = run(helm, "template", "mp", CHART, "--set", bad, check=False)
        assert result.returncode != 0 and field in result.stderr, (bad, result.stderr)
    result = run(helm, "template", "mp", CHART, "--set", "gateway.adminPort=8000", check=False)
    assert result.returncode != 0 and "must differ" in result.stderr


@pytest.mark.parametrize("values", [[], NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_chart_renders_the_gateway(helm: Path, values: list[str]) -> None:
    docs = render(helm, *values)
    gateway = by_kind(docs, GATEWAY)
    namespaced = bool(values)
    rbac = (
        {(kind, ns) for kind in ("Role", "RoleBinding") for ns in ("team-a", "team-b")}
        if namespaced
        else {("ClusterRole", ""), ("ClusterRoleBinding", "")}
    )
    assert set(gateway) == {
        ("Deployment", "modelplane-system"),
        ("Service", "modelplane-system"),
        ("ServiceAccount", "modelplane-system"),
        ("PodDisruptionBudget", "modelplane-system"),
        *rbac,
    }
    deployment = gateway[("Deployment", "modelplane-system")]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = gateway_container(docs)
    assert container["command"] + container["args"] == ["modelplane", "gateway"]
    assert container["image"].startswith("ghcr.io/modelplane/modelplane:")
    assert pod["serviceAccountName"] == GATEWAY
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["terminationGracePeriodSeconds"] == 75
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8000,
        "admin": 9090,
    }
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }
    # The same hardening as the operator's pod.
    operator_pod = by_kind(docs, "mp-modelplane")[("Deployment", "modelplane-system")]["spec"][
        "template"
    ]["spec"]
    assert pod["securityContext"] == operator_pod["securityContext"]
    assert container["securityContext"] == operator_pod["containers"][0]["securityContext"]
    # The gateway serves what the operator watches (one chart value configures both).
    env = {e["name"]: e.get("value") for e in container["env"]}
    operator_env = {e["name"]: e.get("value") for e in operator_pod["containers"][0]["env"]}
    assert env["MODELPLANE_NAMESPACES"] == operator_env["MODELPLANE_NAMESPACES"]
    assert env["MODELPLANE_NAMESPACES"] == ("team-a,team-b" if namespaced else "")
    assert env["MODELPLANE_GATEWAY_PORT"] == "8000"
    assert env["MODELPLANE_GATEWAY_ADMIN_PORT"] == "9090"
    assert "MODELPLANE_GATEWAY_API_KEYS_FILE" not in env and "volumes" not in pod
    # The Service and the PodDisruptionBudget select the gateway's pods, not the operator's.
    labels = spec["template"]["metadata"]["labels"]
    service = gateway[("Service", "modelplane-system")]["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["selector"] == spec["selector"]["matchLabels"] == labels
    pdb = gateway[("PodDisruptionBudget", "modelplane-system")]["spec"]
    assert pdb == {"maxUnavailable": 1, "selector": {"matchLabels": labels}}
    operator_labels = by_kind(docs, "mp-modelplane")[("Deployment", "modelplane-system")]["spec"][
        "template"
    ]["metadata"]["labels"]
    assert not set(labels.items()) <= set(operator_labels.items())
    assert not set(operator_labels.items()) <= set(labels.items())


@pytest.mark.parametrize("values", [[], NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_gateway_rbac_only_reads(helm: Path, values: list[str]) -> None:
    docs = render(helm, *values)
    roles = [d for d in docs if d["kind"] in ("Role", "ClusterRole")]
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    gateway_roles = [r for r in roles if r["metadata"]["name"] == GATEWAY]
    assert len(gateway_roles) == (2 if values else 1)
    for role in gateway_roles:
        granted = set()
        for rule in role["rules"]:
            assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no resourceNames
            assert set(rule["verbs"]) <= READ_VERBS, rule
            granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
        assert granted == GATEWAY_READS
    # The gateway's ServiceAccount is bound to its read-only roles and to nothing else.
    gateway_sa = {"kind": "ServiceAccount", "name": GATEWAY, "namespace": "modelplane-system"}
    for binding in bindings:
        bound = gateway_sa in binding["subjects"]
        assert bound == (binding["roleRef"]["name"] == GATEWAY), binding["metadata"]
        if bound:
            assert binding["subjects"] == [gateway_sa]
            assert binding["roleRef"]["kind"] == binding["kind"].removesuffix("Binding")


def test_gateway_can_be_disabled(helm: Path) -> None:
    docs = render(helm, "--set", "gateway.enabled=false")
    assert not [
        (d["kind"], d["metadata"]["name"]) for d in docs if "gateway" in json.dumps(d["metadata"])
    ]
    assert ("Deployment", "modelplane-system") in by_kind(docs, "mp-modelplane")


def test_gateway_mounts_the_api_keys_secret(helm: Path) -> None:
    docs = render(
        helm,
        "--set",
        "gateway.apiKeys.existingSecret=gateway-keys",
        "--set",
        "gateway.apiKeys.key=tokens",
    )
    pod = by_kind(docs, GATEWAY)[("Deployment", "modelplane-system")]["spec"]["template"]["spec"]
    container = gateway_container(docs)
    (volume,) = pod["volumes"]
    assert volume["secret"]["secretName"] == "gateway-keys"
    assert volume["secret"]["items"] == [{"key": "tokens", "path": "tokens"}]
    assert not volume["secret"].get("optional")  # missing keys: the pod waits, never open
    (mount,) = container["volumeMounts"]
    assert mount["name"] == volume["name"] and mount["readOnly"] is True
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELPLANE_GATEWAY_API_KEYS_FILE"] == f"{mount['mountPath']}/tokens"


def test_server_side_dry_run_accepts_the_chart(helm: Path, kubectl: Kubectl) -> None:
    rendered = run(helm, "template", "mp", CHART, "-n", "default").stdout
    kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)


@pytest.fixture
def operator_paused(operator: OperatorProcess) -> Iterator[None]:
    """The installed operator must be the only one acting during the test."""
    operator.stop()
    yield
    operator.start()


# Run inside a gateway pod (its network namespace): GET a URL, print status and body.
HTTP_GET = """
import json, sys, urllib.error, urllib.request
url, key = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
headers = {"Authorization": "Bearer " + key} if key else {}
try:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        status, body = r.status, r.read().decode()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read().decode()
print(json.dumps({"status": status, "body": body}))
"""


def ready_pods(kubectl: Kubectl, namespace: str, component: str) -> list[dict[str, Any]]:
    pods = kubectl.json(
        "-n", namespace, "get", "pods", "-l", f"app.kubernetes.io/component={component}"
    )["items"]
    return [p for p in pods if (condition(p, "Ready") or {}).get("status") == "True"]


def test_helm_install_runs_the_operator_in_cluster(
    helm: Path, kubectl: Kubectl, audit: AuditLog, namespace: str, operator_paused: None
) -> None:
    release = f"mp-{namespace[-4:]}"
    gateway_sa = f"{release}-modelplane-gateway"
    api_key = f"sk-chart-{namespace[-4:]}"
    # The gateway's global keys: its pods start only once this Secret exists.
    kubectl(
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "gateway-keys",
        f"--from-literal=keys=# chart test\n{api_key}\n",
    )
    mark = audit.mark()
    run(
        helm,
        "install",
        release,
        CHART,
        "-n",
        namespace,
        "--kubeconfig",
        kubectl.kubeconfig,
        "--set",
        "rbac.clusterWide=false",
        "--set",
        f"operator.watchNamespaces={{{namespace}}}",
        "--set",
        "rbac.readNodes=true",
        "--set",
        "operator.logFormat=text",
        "--set",
        "gateway.logFormat=text",
        "--set",
        "gateway.apiKeys.existingSecret=gateway-keys",
        *LOCAL_NODE_VALUES,
    )
    try:
        (pod,) = wait_for(
            "the operator pod Ready on the process node",
            lambda: ready_pods(kubectl, namespace, "operator"),
            timeout=120,
        )
        assert pod["spec"]["nodeName"] == "local-0"
        assert pod["spec"]["serviceAccountName"] == f"{release}-modelplane"
        # Ready means /readyz answered 200: every watch of the gateway has listed,
        # which its namespaced Role must allow.
        gateways = wait_for(
            "both gateway pods Ready on the process node",
            lambda: len(ready := ready_pods(kubectl, namespace, "gateway")) == 2 and ready,
            timeout=120,
        )
        for gateway in gateways:
            assert gateway["spec"]["nodeName"] == "local-0"
            assert gateway["spec"]["serviceAccountName"] == gateway_sa
        example = (ROOT / "examples" / "llama-70b-h100.yaml").read_text()
        kubectl("-n", namespace, "apply", "-f", "-", input=example)
        kubectl("-n", namespace, "wait", "ms/llama-70b", "--for=condition=Ready", "--timeout=120s")
        logs = kubectl("-n", namespace, "logs", pod["metadata"]["name"]).stdout
        assert not FORBIDDEN.search(logs), logs[-3000:]
        ms: dict[str, Any] = kubectl.json("-n", namespace, "get", "ms", "llama-70b")
        assert ms["status"]["readyReplicas"] == 1

        def get(gateway: dict[str, Any], url: str, key: str = "") -> dict[str, Any]:
            name = gateway["metadata"]["name"]
            out = kubectl("-n", namespace, "exec", name, "--", "python", "-c", HTTP_GET, url, key)
            return dict(json.loads(out.stdout))

        models = "http://127.0.0.1:8000/v1/models"
        for gateway in gateways:
            # The mounted keys file is in force: no key, no answer; a key that is
            # not a global one (it might be a model's own) sees no model here.
            assert get(gateway, models)["status"] == 401
            other = get(gateway, models, "sk-wrong")
            assert other["status"] == 200 and json.loads(other["body"])["data"] == [], other
            # With the key: the ModelService (watched) with its ready replica (the
            # EndpointSlice, watched) in the routing table.
            listed = get(gateway, models, api_key)
            assert listed["status"] == 200, listed
            assert [m["id"] for m in json.loads(listed["body"])["data"]] == ["llama-70b"]
            wait_for(
                "the gateway to route to the model's ready replica",
                lambda gateway=gateway: re.search(
                    r'^modelplane_gateway_endpoints\{model="llama-70b",[^}]*\} 1\.0$',
                    get(gateway, "http://127.0.0.1:9090/metrics")["body"],
                    re.MULTILINE,
                ),
                timeout=60,
                interval=1,
            )
            logs = kubectl("-n", namespace, "logs", gateway["metadata"]["name"]).stdout
            assert "gateway serving the OpenAI API" in logs, logs[-3000:]
            assert not FORBIDDEN.search(logs), logs[-3000:]
        # The gateway only reads: the API server recorded no write of its account
        # (and did record the operator's, so the audit log is being written).
        account = f"system:serviceaccount:{namespace}:"
        assert audit.writes_since(mark, user=f"{account}{release}-modelplane")
        assert audit.writes_since(mark, user=f"{account}{gateway_sa}") == []
    finally:
        run(
            helm,
            "uninstall",
            release,
            "-n",
            namespace,
            "--kubeconfig",
            kubectl.kubeconfig,
            "--wait",
            check=False,
        )
