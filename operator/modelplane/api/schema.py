"""Turn pydantic's JSON Schema into a Kubernetes structural schema.

The API server accepts only a subset of OpenAPI v3: no $ref, no nullable
anyOf, boolean exclusiveMinimum, no additionalProperties next to properties.
Anything this module does not know how to convert raises, so a new field type
fails `make crds` instead of producing a CRD the API server rejects.
"""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]

_DROP = ("title",)
_REF_PREFIX = "#/$defs/"


class SchemaError(ValueError):
    """The JSON Schema uses a construct a structural schema cannot express."""


def structural(schema: Schema) -> Schema:
    """Inline $defs and convert one pydantic JSON Schema (a model's) to structural form."""
    defs = schema.get("$defs", {})
    root = {k: v for k, v in schema.items() if k != "$defs"}
    return _convert(root, defs, "")


def _resolve(node: Schema, defs: Schema, path: str) -> Schema:
    ref = node["$ref"]
    if not ref.startswith(_REF_PREFIX) or ref[len(_REF_PREFIX) :] not in defs:
        raise SchemaError(f"{path}: unresolvable $ref {ref}")
    target: Schema = copy.deepcopy(defs[ref[len(_REF_PREFIX) :]])
    # Keys next to the $ref (the field's description, default) win over the model's.
    target.update({k: v for k, v in node.items() if k != "$ref"})
    return target


def _strip_null(node: Schema, path: str) -> Schema:
    options = [o for o in node["anyOf"] if o != {"type": "null"}]
    if len(options) != 1:
        raise SchemaError(f"{path}: a union of several types has no structural form")
    merged = {k: v for k, v in node.items() if k != "anyOf"}
    merged.update({k: v for k, v in options[0].items() if k not in merged})
    if merged.get("default", 0) is None:
        del merged["default"]
    return merged


def _convert(node: Schema, defs: Schema, path: str) -> Schema:
    if "$ref" in node:
        node = _resolve(node, defs, path)
    if "anyOf" in node:
        node = _strip_null(node, path)
        if "$ref" in node:
            node = _resolve(node, defs, path)
    for forbidden in ("allOf", "oneOf", "not", "$ref", "anyOf", "const"):
        if forbidden in node:
            raise SchemaError(f"{path}: {forbidden} has no structural form")
    out: Schema = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {k: _convert(v, defs, f"{path}.{k}") for k, v in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = _convert(value, defs, f"{path}{{}}")
            # `false` (extra="forbid") is implied: the API server prunes unknown fields.
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        else:
            out[key] = value
    return out
