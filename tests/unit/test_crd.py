"""The generated CRD is a valid structural schema that documents every field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.api.crd import crd, crd_yaml, openapi_schema
from modelplane.api.schema import SchemaError, structural

FORBIDDEN = ("$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "const")


def _walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, prop in node.get("properties", {}).items():
        yield from _walk(prop, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def _version() -> dict[str, Any]:
    versions: list[dict[str, Any]] = crd()["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def _validations(schema: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(p, r) for p, n in _walk(schema) for r in n.get("x-kubernetes-validations", [])]


def test_identity() -> None:
    doc = crd()
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["metadata"]["name"] == "modelservices.modelplane.io"
    spec = doc["spec"]
    assert spec["group"] == "modelplane.io" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "ModelService",
        "listKind": "ModelServiceList",
        "plural": "modelservices",
        "singular": "modelservice",
        "shortNames": ["ms"],
        "categories": ["modelplane"],
    }
    version = _version()
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


def test_structural() -> None:
    for path, node in _walk(openapi_schema()):
        for key in FORBIDDEN:
            assert key not in node, f"{path} has {key}"
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        assert not node.get("x-kubernetes-preserve-unknown-fields"), path
        if "properties" in node:
            assert "additionalProperties" not in node, path
        if node.get("type") == "array":
            assert "maxItems" in node, f"{path}: unbounded list"
        if node.get("exclusiveMinimum") is not None:
            assert isinstance(node["exclusiveMinimum"], bool), path
        assert node.get("nullable") is not True, path


def test_every_property_has_a_description() -> None:
    schema = openapi_schema()
    for path, node in _walk(schema):
        if path.startswith(".metadata") or path.endswith("{}"):
            continue  # metadata may not carry one; map values are described by their map
        assert node.get("description"), f"{path} has no description"


def test_spec_shape_and_defaults() -> None:
    spec = openapi_schema()["properties"]["spec"]
    assert spec["required"] == ["model"]
    runtime = spec["properties"]["runtime"]
    resources = spec["properties"]["resources"]
    # Objects default to {} so their fields' defaults apply when they are omitted.
    assert runtime["default"] == {} and resources["default"] == {}
    props = runtime["properties"]
    assert props["tensorParallelSize"] == {
        **props["tensorParallelSize"],
        "default": 1,
        "minimum": 1,
    }
    assert props["dtype"]["enum"] == ["auto", "half", "float16", "bfloat16", "float", "float32"]
    gmu = props["gpuMemoryUtilization"]
    assert (gmu["minimum"], gmu["exclusiveMinimum"], gmu["maximum"]) == (0, True, 1)
    assert props["env"]["x-kubernetes-list-type"] == "map"
    assert props["env"]["x-kubernetes-list-map-keys"] == ["name"]
    for quantity in ("cpu", "memory", "shmSize"):
        node = resources["properties"][quantity]
        assert node["x-kubernetes-int-or-string"] is True and "type" not in node
    assert spec["properties"]["replicas"]["default"] == 1


def test_cel_rules_have_messages_naming_the_field() -> None:
    rules = _validations(openapi_schema())
    assert len(rules) >= 11
    for path, rule in rules:
        assert rule["rule"] and rule["message"], path
        assert rule["message"].split(" ")[0].rstrip(":").startswith(("spec.", "metadata.")), rule
        assert "\\" not in rule["rule"], rule


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("", "size(self.metadata.name) <= 52"),
        ("", "self.metadata.name.matches("),
        (".spec", "self.resources.gpus % self.runtime.tensorParallelSize == 0"),
        (".spec", "self.resources.gpus >= 1"),
        (".spec.model.uri", "self.startsWith('hf://')"),
        (".spec.runtime.extraArgs[]", "--(model|served[-_]model[-_]name|"),
        (".spec.runtime.env[]", "'VLLM_PORT'"),
        (".spec.runtime.env[]", "startsWith('MODELPLANE_')"),
        (".spec.runtime.env[].valueFrom", "has(self.secretKeyRef) != has(self.configMapKeyRef)"),
    ],
)
def test_cel_rule_present(path: str, fragment: str) -> None:
    assert any(p == path and fragment in r["rule"] for p, r in _validations(openapi_schema()))


def test_cel_inputs_are_bounded() -> None:
    """The cost estimator multiplies by list and string bounds: every rule input has them."""
    props = openapi_schema()["properties"]["spec"]["properties"]
    runtime = props["runtime"]["properties"]
    assert runtime["extraArgs"]["maxItems"] and runtime["extraArgs"]["items"]["maxLength"]
    assert runtime["env"]["maxItems"] and runtime["env"]["items"]["properties"]["name"]["maxLength"]
    assert props["model"]["properties"]["uri"]["maxLength"]
    meta = openapi_schema()["properties"]["metadata"]
    assert meta == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 253},
            "generateName": {"type": "string", "maxLength": 253},
        },
    }


def test_subresources_and_columns() -> None:
    version = _version()
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == [
        "Model",
        "Ready",
        "Desired",
        "Status",
        "Stable",
        "Rollout",
        "Canary",
        "Revision",
        "Endpoint",
        "Age",
    ]
    assert columns["Status"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert columns["Endpoint"]["priority"] == 1
    assert columns["Age"]["type"] == "date"
    status = openapi_schema()["properties"]["status"]["properties"]
    for column in columns.values():
        parts = column["jsonPath"].split(".")
        if parts[1] == "status":
            assert parts[2].split("[")[0] in status


def test_status_conditions_are_a_map_by_type() -> None:
    conditions = openapi_schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) == {"type", "status", "reason", "lastTransitionTime"}
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"


def test_yaml_is_stable_and_round_trips() -> None:
    text = crd_yaml()
    assert text == crd_yaml()
    assert yaml.safe_load(text) == crd()


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        {"allOf": [{"type": "string"}]},
        {"$ref": "#/$defs/Missing"},
    ],
)
def test_converter_refuses_what_has_no_structural_form(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        structural({"type": "object", "properties": {"x": schema}})


def test_committed_copies_are_current() -> None:
    """What `make crds-check` enforces, caught earlier."""
    root = Path(__file__).resolve().parents[2]
    for rel in ("crds", "charts/modelplane/crds"):
        text = (root / rel / "modelplane.io_modelservices.yaml").read_text()
        assert text.split("\n", 1)[1] == crd_yaml(), f"{rel}: run make crds"
        assert "do not edit" in text.split("\n", 1)[0]
