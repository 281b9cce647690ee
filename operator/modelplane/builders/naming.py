"""Revision identity: the template hash and the names derived from it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

from modelplane.api.config import OperatorConfig
from modelplane.api.constants import TEMPLATE_HASH_LENGTH
from modelplane.api.resource import ModelService


def served_name(ms: ModelService) -> str:
    """The name clients request: spec.model.servedName, else metadata.name."""
    return ms.spec.model.served_name or ms.metadata.name


def runtime_image(ms: ModelService, config: OperatorConfig) -> str:
    """spec.runtime.image, else the operator's configured runtime image."""
    return ms.spec.runtime.image or config.runtime_image


def serving_template(ms: ModelService, config: OperatorConfig) -> dict[str, Any]:
    """What defines a revision: model, runtime and resources with defaults resolved.

    Fields equal to their default are left out, so a field added with a
    default in a later version keeps existing hashes (no surprise rollout on
    operator upgrade), and `gpus: 1` hashes like an omitted `gpus`.
    Replicas are not part of it: scaling is not a new revision.
    """
    spec = ms.spec
    model = spec.model.model_copy(update={"served_name": served_name(ms)})
    runtime = spec.runtime.model_copy(update={"image": runtime_image(ms, config)})
    template = {
        "model": _non_default(model),
        "runtime": _non_default(runtime),
        "resources": _non_default(spec.resources),
    }
    if pod_metadata := _non_default(spec.pod_metadata):
        template["podMetadata"] = pod_metadata  # absent when empty: older hashes hold
    return template


def _non_default(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def template_hash(ms: ModelService, config: OperatorConfig) -> str:
    """First 10 hex chars of the sha256 of the canonical JSON of the serving template."""
    canonical = json.dumps(
        serving_template(ms, config), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:TEMPLATE_HASH_LENGTH]


def child_name(ms: ModelService, template_hash: str) -> str:
    """`<name>-<hash>`: a revision's Deployment and Service."""
    return f"{ms.metadata.name}-{template_hash}"
