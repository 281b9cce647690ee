"""The ModelService CustomResourceDefinition, generated from the pydantic models.

`python -m modelplane.api.crd` prints it as YAML; `hack/gen-crds.py` writes
the committed copies.
"""

from __future__ import annotations

from typing import Any

import yaml

from modelplane.api import constants as c
from modelplane.api import rules
from modelplane.api.resource import ModelService
from modelplane.api.schema import Schema, structural
from modelplane.api.spec import ModelServiceSpec
from modelplane.api.status import READY, ModelServiceStatus

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.uri"},
    {
        "name": "Ready",
        "type": "integer",
        "jsonPath": ".status.readyReplicas",
        "description": "Ready serving pods.",
    },
    {
        "name": "Desired",
        "type": "integer",
        "jsonPath": ".spec.replicas",
        "description": "Desired serving pods.",
    },
    {
        "name": "Status",
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{READY}")].reason',
        "description": "Reason of the Ready condition.",
    },
    {
        "name": "Stable",
        "type": "string",
        "jsonPath": ".status.stableRevision",
        "description": "The revision serving as stable.",
    },
    {
        "name": "Rollout",
        "type": "string",
        "jsonPath": ".status.rollout.phase",
        "description": "Phase of the latest rollout.",
    },
    {
        "name": "Canary",
        "type": "integer",
        "jsonPath": ".status.rollout.weight",
        "description": "Percent of traffic on the revision rolling out.",
    },
    {
        "name": "Revision",
        "type": "string",
        "jsonPath": ".status.revision",
        "priority": 1,
        "description": "Template hash of the spec.",
    },
    {
        "name": "Endpoint",
        "type": "string",
        "jsonPath": ".status.endpoint",
        "priority": 1,
        "description": "In-cluster OpenAI base URL.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _model_schema(model: type[ModelServiceSpec] | type[ModelServiceStatus]) -> Schema:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def openapi_schema() -> Schema:
    """The openAPIV3Schema of the version: envelope, spec, status and root rules."""
    # metadata may only restrict name and generateName (and carry nothing
    # else, not even a description); the bounds let the CEL cost estimator
    # price the root rules.
    name_bound = {"type": "string", "maxLength": 253}
    return {
        "type": "object",
        "description": ModelService.__doc__,
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": f"API version of the object: {c.API_VERSION}.",
            },
            "kind": {"type": "string", "description": f"Kind of the object: {c.KIND}."},
            "metadata": {
                "type": "object",
                "properties": {"name": name_bound, "generateName": dict(name_bound)},
            },
            "spec": _model_schema(ModelServiceSpec),
            "status": _model_schema(ModelServiceStatus),
        },
        "x-kubernetes-validations": [rules.NAME_LENGTH_RULE, rules.NAME_FORMAT_RULE],
    }


def crd() -> dict[str, Any]:
    """The CRD as a plain dict (apiextensions.k8s.io/v1)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": c.CRD_NAME,
            "labels": {c.LABEL_MANAGED_BY: c.MANAGED_BY},
        },
        "spec": {
            "group": c.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": c.KIND,
                "listKind": c.LIST_KIND,
                "plural": c.PLURAL,
                "singular": c.SINGULAR,
                "shortNames": list(c.SHORT_NAMES),
                "categories": list(c.CATEGORIES),
            },
            "versions": [
                {
                    "name": c.VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


def crd_yaml() -> str:
    """The CRD as YAML, keys sorted so the output is stable."""
    return yaml.safe_dump(crd(), sort_keys=True, width=100)


if __name__ == "__main__":
    import sys

    sys.stdout.write(crd_yaml())
