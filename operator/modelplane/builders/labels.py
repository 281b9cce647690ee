"""Labels on every child, and the selectors built from them."""

from __future__ import annotations

from modelplane.api.constants import (
    LABEL_MANAGED_BY,
    LABEL_MODELSERVICE,
    LABEL_REVISION,
    MANAGED_BY,
)
from modelplane.api.resource import ModelService


def selector_labels(name: str) -> dict[str, str]:
    """Labels that select all of a ModelService's pods, over every revision."""
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_MODELSERVICE: name}


def revision_labels(name: str, template_hash: str) -> dict[str, str]:
    """Labels that select one revision's pods."""
    return dict(sorted({**selector_labels(name), LABEL_REVISION: template_hash}.items()))


def pod_selector(ms: ModelService) -> str:
    """status.selector for the scale subresource: autoscalers list pods with it."""
    labels = selector_labels(ms.metadata.name)
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
