"""Bad ModelServices are refused at admission, or reported as InvalidSpec, and
never disturb a good one in the same namespace.

The CRD's schema and CEL rules are exercised on the real API server (never
re-implemented in Python): each case mutates a valid manifest, `kubectl apply`
must fail, and the message must name the field and the fix. What only the
cluster's state can reveal (a GPU product no node offers, a missing Secret)
is reported by the operator as `Ready=False, reason=InvalidSpec`.

The tests in this module share one namespace and run in file order: the good
ModelService first, the table, then the check that it was left untouched.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .kube import Kubectl, condition, wait_for
from .operator import ROOT, OperatorProcess
from .test_operator import deployments, get_ms, modelservice, ready

Manifest = dict[str, Any]

GOOD = "good"

# Fragments of the rule messages (crds/modelplane.io_modelservices.yaml),
# field first, then the fix.
URI_SCHEME = ("spec.model.uri must start with hf://, s3://, pvc:// or file://",)
URI_HF = ("spec.model.uri", "write a Hugging Face model as hf://<org>/<name>[@<revision>]")
URI_S3 = ("spec.model.uri", "write an S3 model as s3://<bucket>[/<prefix>] with a valid bucket")
URI_PVC = ("spec.model.uri", "write a volume model as pvc://<claim>[/<path>]", "without '..'")
URI_FILE = ("spec.model.uri", "write a local model as file:///<absolute path>")
ARG_REPEATS = "repeats a flag the operator sets"
ARG_FIX_MODEL = "set the model with spec.model.uri and spec.model.servedName"
ARG_FIX_TYPED = "with the fields of the same name in spec.runtime"
ARG_FIX_OWNED = "--host, --port, --shutdown-timeout, --revision and --load-format are set by"
ENV_FIX = "are reserved for the operator; remove it from spec.runtime.env"
NAME_LENGTH = ("metadata.name must be at most 52 characters", "choose a shorter name")
NAME_FORMAT = ("metadata.name must be a DNS-1035 label", "choose a name like 'llama-8b'")


@dataclass(frozen=True)
class Case:
    """A manifest, and what the API server's refusal must contain (if it must refuse)."""

    id: str
    manifest: Manifest
    expect: tuple[str, ...]


def variant(case_id: str, edits: dict[str, Any], *expect: str, name: str | None = None) -> Case:
    """A valid ModelService with `edits` ({"spec.runtime.dtype": ...}) applied.

    Named after the case, so an unexpectedly admitted one is easy to spot.
    """
    manifest = modelservice(name or case_id[:52].rstrip("-"))
    for path, value in edits.items():
        *parents, leaf = path.split(".")
        node = manifest
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return Case(case_id, manifest, expect)


def arg(case_id: str, *args: str, fix: str) -> Case:
    """extraArgs repeating an owned flag: the message quotes it and says where it belongs."""
    return variant(
        case_id,
        {"spec.runtime.extraArgs": ["--enable-prefix-caching", *args]},
        "spec.runtime.extraArgs[1]: Invalid value",
        f"'{args[0]}' {ARG_REPEATS}",
        fix,
    )


def reserved_env(case_id: str, name: str) -> Case:
    """A variable the operator injects or reserves: the message names it and the fix."""
    return variant(
        case_id,
        {"spec.runtime.env": [{"name": "OK", "value": "1"}, {"name": name, "value": "x"}]},
        "spec.runtime.env[1]",
        f"spec.runtime.env: {name} cannot be set",
        ENV_FIX,
    )


SECRET_REF = {"secretKeyRef": {"name": "hf-token", "key": "token"}}

REFUSALS = [
    # spec.model.uri, one rule per scheme
    variant("uri-unknown-scheme", {"spec.model.uri": "gs://bucket/llama"}, *URI_SCHEME),
    variant("uri-without-scheme", {"spec.model.uri": "meta-llama/Llama-3.1-8B"}, *URI_SCHEME),
    variant("uri-hf-without-org", {"spec.model.uri": "hf://Llama-3.1-8B-Instruct"}, *URI_HF),
    variant("uri-hf-empty-revision", {"spec.model.uri": "hf://org/tiny@"}, *URI_HF),
    variant("uri-s3-without-bucket", {"spec.model.uri": "s3:///prefix/llama"}, *URI_S3),
    variant("uri-s3-uppercase-bucket", {"spec.model.uri": "s3://Models/llama"}, *URI_S3),
    variant("uri-pvc-without-claim", {"spec.model.uri": "pvc:///llama"}, *URI_PVC),
    variant("uri-pvc-empty", {"spec.model.uri": "pvc://"}, *URI_PVC),
    variant("uri-pvc-dot-dot", {"spec.model.uri": "pvc://weights/../etc"}, *URI_PVC),
    variant("uri-file-relative-path", {"spec.model.uri": "file://models/llama"}, *URI_FILE),
    variant("uri-empty", {"spec.model.uri": ""}, "spec.model.uri", "at least 1 chars long"),
    variant("model-missing", {"spec.model": {}}, "spec.model.uri: Required value"),
    # tensor parallelism against the GPU count
    variant(
        "tp-does-not-divide-gpus",
        {"spec.runtime.tensorParallelSize": 3, "spec.resources.gpus": 4},
        "spec.runtime.tensorParallelSize must divide spec.resources.gpus",
        "set gpus to a multiple of tensorParallelSize",
    ),
    variant(
        "tp-2-with-default-single-gpu",
        {"spec.runtime.tensorParallelSize": 2},
        "spec.runtime.tensorParallelSize must divide spec.resources.gpus",
        "set gpus to a multiple of tensorParallelSize",
    ),
    variant(
        "tp-above-1-with-gpus-0",
        {"spec.runtime.tensorParallelSize": 2, "spec.resources": {"gpus": 0}},
        "spec.resources.gpus must be at least 1 when spec.runtime.tensorParallelSize > 1",
        "or tensorParallelSize to 1 for CPU serving",
    ),
    variant(
        "tp-zero",
        {"spec.runtime.tensorParallelSize": 0},
        "spec.runtime.tensorParallelSize",
        "should be greater than or equal to 1",
    ),
    # gpuMemoryUtilization in (0, 1]
    variant(
        "gpu-memory-utilization-zero",
        {"spec.runtime.gpuMemoryUtilization": 0},
        "spec.runtime.gpuMemoryUtilization",
        "should be greater than 0",
    ),
    variant(
        "gpu-memory-utilization-above-1",
        {"spec.runtime.gpuMemoryUtilization": 1.1},
        "spec.runtime.gpuMemoryUtilization",
        "should be less than or equal to 1",
    ),
    # extraArgs repeating a typed or owned setting, in every spelling vLLM accepts
    arg("arg-model", "--model", "org/other", fix=ARG_FIX_MODEL),
    arg("arg-model-equals", "--model=org/other", fix=ARG_FIX_MODEL),
    arg("arg-served-model-name", "--served-model-name=chat", fix=ARG_FIX_MODEL),
    arg("arg-tensor-parallel-size", "--tensor-parallel-size", "2", fix=ARG_FIX_TYPED),
    arg("arg-tensor-parallel-size-underscores", "--tensor_parallel_size=2", fix=ARG_FIX_TYPED),
    arg("arg-tp-short", "-tp", "2", fix=ARG_FIX_TYPED),
    arg("arg-tp-short-joined", "-tp2", fix=ARG_FIX_TYPED),
    arg("arg-max-model-len-underscores", "--max_model_len=4096", fix=ARG_FIX_TYPED),
    arg("arg-max-model-len", "--max-model-len", "4096", fix=ARG_FIX_TYPED),
    arg("arg-dtype", "--dtype=half", fix=ARG_FIX_TYPED),
    arg("arg-quantization", "--quantization", "awq", fix=ARG_FIX_TYPED),
    arg("arg-quantization-short", "-q=awq", fix=ARG_FIX_TYPED),
    arg("arg-gpu-memory-utilization", "--gpu-memory-utilization=0.5", fix=ARG_FIX_TYPED),
    arg("arg-port", "--port=9000", fix=ARG_FIX_OWNED),
    arg("arg-host", "--host", "0.0.0.0", fix=ARG_FIX_OWNED),
    arg("arg-shutdown-timeout", "--shutdown-timeout=5", fix=ARG_FIX_OWNED),
    arg("arg-revision", "--revision=main", fix=ARG_FIX_OWNED),
    arg("arg-load-format", "--load-format", "dummy", fix=ARG_FIX_OWNED),
    # env must not override what the operator injects
    reserved_env("env-hf-home", "HF_HOME"),
    reserved_env("env-vllm-no-usage-stats", "VLLM_NO_USAGE_STATS"),
    reserved_env("env-home", "HOME"),
    reserved_env("env-vllm-port", "VLLM_PORT"),
    reserved_env("env-modelplane-prefix", "MODELPLANE_X"),
    variant(
        "env-value-and-value-from",
        {"spec.runtime.env": [{"name": "HF_TOKEN", "value": "x", "valueFrom": SECRET_REF}]},
        "spec.runtime.env[0]",
        "spec.runtime.env: set either value or valueFrom, not both",
    ),
    variant(
        "env-value-from-without-source",
        {"spec.runtime.env": [{"name": "HF_TOKEN", "valueFrom": {}}]},
        "spec.runtime.env[0].valueFrom",
        "set exactly one of secretKeyRef or configMapKeyRef",
    ),
    variant(
        "env-duplicate-name",
        {"spec.runtime.env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]},
        "spec.runtime.env[1]",
        "Duplicate value",
        '"name":"A"',
    ),
    variant(
        "env-name-not-an-identifier",
        {"spec.runtime.env": [{"name": "1 A", "value": "1"}]},
        "spec.runtime.env[0].name",
        "should match",
    ),
    # counts and enums
    variant(
        "replicas-negative",
        {"spec.replicas": -1},
        "spec.replicas",
        "should be greater than or equal to 0",
    ),
    variant(
        "gpus-negative",
        {"spec.resources.gpus": -1},
        "spec.resources.gpus",
        "should be greater than or equal to 0",
    ),
    variant(
        "max-model-len-zero",
        {"spec.runtime.maxModelLen": 0},
        "spec.runtime.maxModelLen",
        "should be greater than or equal to 1",
    ),
    variant(
        "dtype-not-in-enum",
        {"spec.runtime.dtype": "int4"},
        'spec.runtime.dtype: Unsupported value: "int4"',
        'supported values: "auto"',
    ),
    variant(
        "cpu-negative",
        {"spec.resources.cpu": "-1"},
        "spec.resources.cpu",
        "should match",
    ),
    variant(
        "gpu-product-with-space",
        {"spec.resources.gpuProduct": "NVIDIA L4"},
        "spec.resources.gpuProduct",
        "should match",
    ),
    # strict field validation refuses what the structural schema would silently prune
    variant("unknown-runtime-field", {"spec.runtime.foo": 1}, 'unknown field "spec.runtime.foo"'),
    # pod labels the operator selects on
    variant(
        "pod-label-modelplane-prefix",
        {"spec.podMetadata": {"labels": {"modelplane.io/team": "a"}}},
        "spec.podMetadata.labels: modelplane.io/* and app.kubernetes.io/managed-by are set by",
        "use another label key",
    ),
    variant(
        "pod-label-managed-by",
        {"spec.podMetadata": {"labels": {"app.kubernetes.io/managed-by": "helm"}}},
        "spec.podMetadata.labels",
        "use another label key",
    ),
    # spec.rollout and spec.routing
    variant(
        "canary-without-steps",
        {"spec.rollout": {"strategy": "Canary"}},
        "spec.rollout.canary: strategy Canary needs canary.steps",
    ),
    variant(
        "canary-step-two-gates",
        {
            "spec.rollout": {
                "strategy": "Canary",
                "canary": {"steps": [{"weight": 10, "pauseSeconds": 5, "manual": True}]},
            }
        },
        "a step has at most one gate",
        "choose one of pauseSeconds, manual or analysis",
    ),
    variant(
        "analysis-step-without-analysis",
        {
            "spec.rollout": {
                "strategy": "Canary",
                "canary": {"steps": [{"weight": 10, "analysis": True}]},
            }
        },
        "needs spec.rollout.analysis",
    ),
    variant(
        "analysis-without-a-check",
        {"spec.rollout": {"analysis": {"intervalSeconds": 10}}},
        "spec.rollout.analysis: set at least one check",
    ),
    variant(
        "rolling-that-cannot-move",
        {"spec.rollout": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}},
        "maxSurge and maxUnavailable cannot both be 0",
    ),
    variant(
        "canary-weight-over-100",
        {"spec.rollout": {"strategy": "Canary", "canary": {"steps": [{"weight": 150}]}}},
        "spec.rollout.canary.steps[0].weight",
    ),
    variant(
        "prefix-hash-settings-without-prefix-hash",
        {"spec.routing": {"prefixHash": {"prefixLength": 64}}},
        "spec.routing.prefixHash: only used with loadBalancing: PrefixHash",
    ),
    variant("history-limit-zero", {"spec.revisionHistoryLimit": 0}, "spec.revisionHistoryLimit"),
    # names: every child <name>-<hash> must stay a valid DNS-1035 label
    variant("name-53-characters", {}, *NAME_LENGTH, name="a" * 53),
    variant("name-with-dot", {}, *NAME_FORMAT, name="chat.v2"),
    variant("name-starting-with-digit", {}, *NAME_FORMAT, name="8b-chat"),
]

# Near misses that must be admitted, so the rules above are not over-broad.
ADMITTED = [
    variant("uri-pvc-claim-root", {"spec.model.uri": "pvc://weights"}),
    variant("uri-s3-bucket-only", {"spec.model.uri": "s3://models"}),
    variant("arg-model-impl-is-not-model", {"spec.runtime.extraArgs": ["--model-impl=vllm"]}),
    variant("arg-pp-is-not-tp", {"spec.runtime.extraArgs": ["-pp", "2"]}),
    variant(
        "env-home-prefix-is-not-home", {"spec.runtime.env": [{"name": "HOMEPAGE", "value": "x"}]}
    ),
    variant("name-52-characters", {}, name="a" * 52),
    variant("tp-2-on-4-gpus", {"spec.runtime.tensorParallelSize": 2, "spec.resources.gpus": 4}),
    variant(
        "canary-analysis-with-checks",
        {
            "spec.rollout": {
                "strategy": "Canary",
                "canary": {"steps": [{"weight": 10, "analysis": True}, {"weight": 50}]},
                "analysis": {"maxErrorRate": 0.01},
            }
        },
    ),
    variant(
        "rolling-unavailable-only",
        {"spec.rollout": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}},
    ),
]


@dataclass(frozen=True)
class Good:
    """The good ModelService and its Deployment as they were before the bad ones."""

    namespace: str
    generation: int
    deployment_uid: str
    deployment_generation: int
    revision: str


@pytest.fixture(scope="module")
def shared_namespace(kubectl: Kubectl) -> Iterator[str]:
    """One namespace for the whole table: admission refusals create nothing."""
    name = f"t-admission-{secrets.token_hex(2)}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def good(operator: OperatorProcess, kubectl: Kubectl, shared_namespace: str) -> Good:
    """The good ModelService, Ready before any bad manifest arrives.

    It serves on CPU: the fleet has two L4 GPUs in all, and other tests (or a
    `make demo`) on the same cluster may hold them.
    """
    kubectl.apply(modelservice(GOOD, gpus=0), shared_namespace)
    ms = wait_for("the good ModelService Ready", lambda: ready(kubectl, shared_namespace, GOOD))
    (deploy,) = deployments(kubectl, shared_namespace, GOOD)
    return Good(
        namespace=shared_namespace,
        generation=ms["metadata"]["generation"],
        deployment_uid=deploy["metadata"]["uid"],
        deployment_generation=deploy["metadata"]["generation"],
        revision=ms["status"]["revision"],
    )


def apply(
    kubectl: Kubectl, namespace: str, manifest: Manifest, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply` with strict server-side field validation; the result, never raising."""
    return kubectl(
        "-n",
        namespace,
        "apply",
        "--validate=strict",
        *extra,
        "-f",
        "-",
        input=json.dumps(manifest),
        check=False,
    )


@pytest.mark.parametrize("case", REFUSALS, ids=[c.id for c in REFUSALS])
def test_refused_at_admission_naming_field_and_fix(
    case: Case, good: Good, kubectl: Kubectl
) -> None:
    """The API server says no, and says which field to change and how."""
    result = apply(kubectl, good.namespace, case.manifest)
    if result.returncode == 0:  # admitted by mistake: leave the namespace as the others expect
        kubectl("-n", good.namespace, "delete", "ms", case.manifest["metadata"]["name"])
    assert result.returncode != 0, f"admitted: {result.stdout}"
    message = " ".join(result.stderr.split())  # kubectl may wrap long messages
    missing = [fragment for fragment in case.expect if fragment not in message]
    assert not missing, f"{missing} not in: {message}"


@pytest.mark.parametrize("case", ADMITTED, ids=[c.id for c in ADMITTED])
def test_near_misses_are_admitted(case: Case, good: Good, kubectl: Kubectl) -> None:
    """A server-side dry run: the rules refuse what they should, and only that."""
    result = apply(kubectl, good.namespace, case.manifest, "--dry-run=server")
    assert result.returncode == 0, result.stderr


INVALID_SPECS = [
    pytest.param(
        modelservice("no-such-gpu", gpus=1, gpuProduct="NVIDIA-B200"),
        ("spec.resources.gpuProduct", "'NVIDIA-B200'", "NVIDIA-H100-80GB-HBM3, NVIDIA-L4"),
        id="gpu-product-no-node-offers",
    ),
    pytest.param(
        variant(
            "missing-secret",
            {
                "spec.runtime.env": [
                    {"name": "OK", "value": "1"},
                    {"name": "T", "valueFrom": SECRET_REF},
                ]
            },
        ).manifest,
        ("spec.runtime.env[1].valueFrom.secretKeyRef.name", "'hf-token' not found", "create it"),
        id="env-secret-does-not-exist",
    ),
]


@pytest.mark.parametrize(("manifest", "expect"), INVALID_SPECS)
def test_invalid_spec_in_status_naming_the_field(
    manifest: Manifest, expect: tuple[str, ...], good: Good, kubectl: Kubectl
) -> None:
    """Admitted (CEL cannot see the cluster), then refused by the operator, in status."""
    name = manifest["metadata"]["name"]
    kubectl.apply(manifest, good.namespace)

    def invalid() -> dict[str, Any] | None:
        ms = get_ms(kubectl, good.namespace, name)
        cond = condition(ms, "Ready") or {}
        current = ms.get("status", {}).get("observedGeneration") == ms["metadata"]["generation"]
        return cond if current and cond.get("reason") == "InvalidSpec" else None

    cond = wait_for(f"{name}: Ready=False, reason=InvalidSpec", invalid)
    assert cond["status"] == "False"
    missing = [fragment for fragment in expect if fragment not in cond["message"]]
    assert not missing, f"{missing} not in: {cond['message']}"
    assert deployments(kubectl, good.namespace, name) == []


def test_good_modelservice_untouched(good: Good, kubectl: Kubectl) -> None:
    """Runs last: after every bad manifest the good one still serves, unchanged."""
    ms = wait_for("the good ModelService still Ready", lambda: ready(kubectl, good.namespace, GOOD))
    assert ms["metadata"]["generation"] == good.generation
    assert ms["status"]["observedGeneration"] == good.generation
    assert ms["status"]["revision"] == good.revision
    (deploy,) = deployments(kubectl, good.namespace, GOOD)
    assert deploy["metadata"]["uid"] == good.deployment_uid
    assert deploy["metadata"]["generation"] == good.deployment_generation
    names = {
        m["metadata"]["name"] for m in kubectl.json("-n", good.namespace, "get", "ms")["items"]
    }
    admitted = names & {case.manifest["metadata"]["name"] for case in REFUSALS + ADMITTED}
    assert not admitted, f"admitted and kept: {admitted}"


def test_every_example_is_admitted(kubectl: Kubectl, namespace: str) -> None:
    """The manifests under examples/ pass the real API server's validation."""
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    assert len(examples) >= 4
    for path in examples:
        kubectl("-n", namespace, "apply", "--dry-run=server", "-f", str(path))
