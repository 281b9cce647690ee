"""Metadata shared by every child: name, namespace, labels, controller reference."""

from __future__ import annotations

from lightkube.models.meta_v1 import ObjectMeta, OwnerReference

from modelplane.api.constants import API_VERSION, KIND
from modelplane.api.resource import ModelService


def owner_reference(ms: ModelService) -> OwnerReference:
    """Makes the ModelService the controller: children are garbage-collected with it."""
    if not ms.metadata.uid:
        raise ValueError(f"ModelService {ms.metadata.name} has no metadata.uid")
    return OwnerReference(
        apiVersion=API_VERSION,
        kind=KIND,
        name=ms.metadata.name,
        uid=ms.metadata.uid,
        controller=True,
        blockOwnerDeletion=True,
    )


def child_meta(ms: ModelService, name: str, labels: dict[str, str]) -> ObjectMeta:
    """Metadata of a child; the ModelService's own labels are not copied."""
    return ObjectMeta(
        name=name,
        namespace=ms.metadata.namespace,
        labels=dict(sorted(labels.items())),
        ownerReferences=[owner_reference(ms)],
    )
