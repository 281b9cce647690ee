"""The Helm chart: lint, strict schema validation, server-side dry run, and a
real install whose operator pod reconciles an example to Ready."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import schemas
from .kube import Kubectl, condition, wait_for
from .operator import ROOT, OperatorProcess

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


def test_helm_lint(helm: Path) -> None:
    result = run(helm, "lint", "--strict", CHART)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    "values",
    [[], ["--set", "rbac.clusterWide=false", "--set", "operator.watchNamespaces={team-a,team-b}"]],
    ids=["cluster-wide", "namespaced"],
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


def test_server_side_dry_run_accepts_the_chart(helm: Path, kubectl: Kubectl) -> None:
    rendered = run(helm, "template", "mp", CHART, "-n", "default").stdout
    kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)


@pytest.fixture
def operator_paused(operator: OperatorProcess) -> Iterator[None]:
    """The installed operator must be the only one acting during the test."""
    operator.stop()
    yield
    operator.start()


def test_helm_install_runs_the_operator_in_cluster(
    helm: Path, kubectl: Kubectl, namespace: str, operator_paused: None
) -> None:
    release = f"mp-{namespace[-4:]}"
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
        *LOCAL_NODE_VALUES,
    )
    try:
        pod = wait_for(
            "the operator pod Ready on the process node",
            lambda: next(
                (
                    p
                    for p in kubectl.json(
                        "-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=operator"
                    )["items"]
                    if (condition(p, "Ready") or {}).get("status") == "True"
                ),
                None,
            ),
            timeout=120,
        )
        assert pod["spec"]["nodeName"] == "local-0"
        assert pod["spec"]["serviceAccountName"] == f"{release}-modelplane"
        example = (ROOT / "examples" / "llama-70b-h100.yaml").read_text()
        kubectl("-n", namespace, "apply", "-f", "-", input=example)
        kubectl("-n", namespace, "wait", "ms/llama-70b", "--for=condition=Ready", "--timeout=120s")
        logs = kubectl("-n", namespace, "logs", pod["metadata"]["name"]).stdout
        assert "Forbidden" not in logs and "403" not in logs, logs[-3000:]
        ms: dict[str, Any] = kubectl.json("-n", namespace, "get", "ms", "llama-70b")
        assert ms["status"]["readyReplicas"] == 1
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
