"""kubeconform schemas from the local API server's own OpenAPI document.

kubeconform fetches schemas from the internet by default, which this machine
cannot reach; the API server publishes the same definitions (and, once the
CRD is installed, the ModelService schema too) at /openapi/v2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Schema = dict[str, Any]


def _inline(node: Any, defs: dict[str, Schema], stack: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in stack:  # recursive types (JSONSchemaProps): accept anything below
            return {}
        return _inline(defs[name], defs, (*stack, name))
    out = {key: _inline(value, defs, stack) for key, value in node.items()}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False  # strict: unknown fields are errors
    return out


def write(openapi: Schema, directory: Path) -> int:
    """Write one standalone strict schema per kind; return how many."""
    directory.mkdir(parents=True, exist_ok=True)
    defs = openapi["definitions"]
    count = 0
    for name, definition in defs.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group = gvk["group"] or gvk["version"]
            schema = _inline(definition, defs, (name,))
            path = directory / f"{gvk['kind'].lower()}-{group}-{gvk['version']}.json"
            path.write_text(json.dumps(schema))
            count += 1
    return count


LOCATION = "{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json"
