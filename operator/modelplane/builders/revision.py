"""ControllerRevisions: the immutable record of each revision, as StatefulSets keep them.

`data` holds the parts of the spec that define the revision (model, runtime
with its resolved image, resources, pod metadata), so any kept revision can
be rebuilt - its Deployment scaled, or the spec rolled back to it - without
the spec that created it. What happened to the revision (its outcome) is
mutable and lives in annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube.resources.apps_v1 import ControllerRevision

from modelplane.api.config import OperatorConfig
from modelplane.api.constants import GROUP
from modelplane.api.resource import ModelService
from modelplane.builders.labels import revision_labels
from modelplane.builders.meta import child_meta
from modelplane.builders.naming import child_name, runtime_image

OUTCOME_ANNOTATION = f"{GROUP}/outcome"
MESSAGE_ANNOTATION = f"{GROUP}/outcome-message"
TEMPLATE_PARTS = ("model", "runtime", "resources", "podMetadata")


def revision_data(ms: ModelService, config: OperatorConfig) -> dict[str, Any]:
    """The spec parts that define this revision, with the runtime image made explicit."""
    spec = ms.spec.model_copy(
        update={"runtime": ms.spec.runtime.model_copy(update={"image": runtime_image(ms, config)})}
    )
    wire = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"spec": {part: wire[part] for part in TEMPLATE_PARTS if part in wire}}


def build_controller_revision(
    ms: ModelService,
    template_hash: str,
    number: int,
    data: Mapping[str, Any],
    outcome: str,
    message: str,
) -> ControllerRevision:
    meta = child_meta(
        ms, child_name(ms, template_hash), revision_labels(ms.metadata.name, template_hash)
    )
    meta.annotations = {OUTCOME_ANNOTATION: outcome, MESSAGE_ANNOTATION: message[:1024]}
    return ControllerRevision(metadata=meta, revision=number, data=dict(data))


def spec_of(ms: ModelService, data: Mapping[str, Any]) -> ModelService:
    """The ModelService as it was at a kept revision (for its Deployment, or undo)."""
    parts = dict(data.get("spec") or {})
    wire = ms.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    for part in TEMPLATE_PARTS:
        wire.pop(part, None)
    spec = type(ms.spec).model_validate({**wire, **parts})
    return ms.model_copy(update={"spec": spec})
