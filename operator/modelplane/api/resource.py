"""The ModelService object as the operator reads it from the API server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from modelplane.api._base import WireModel
from modelplane.api.constants import API_VERSION, KIND
from modelplane.api.errors import SpecError
from modelplane.api.spec import ModelServiceSpec
from modelplane.api.status import ModelServiceStatus


class ObjectMeta(WireModel):
    """The metadata fields the operator uses; the API server's others are ignored."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, description="Name, unique in the namespace.")
    namespace: str | None = Field(default=None, description="Namespace of the object.")
    uid: str | None = Field(default=None, description="UID, for owner references.")
    generation: int | None = Field(default=None, description="Spec generation.")
    resource_version: str | None = Field(default=None, description="Version for updates.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    deletion_timestamp: str | None = Field(default=None, description="Set when deleting.")


class ModelService(WireModel):
    """A model served by vLLM behind a stable in-cluster endpoint."""

    api_version: Literal["modelplane.io/v1alpha1"] = Field(
        default=API_VERSION, description="modelplane.io/v1alpha1."
    )
    kind: Literal["ModelService"] = Field(default=KIND, description="ModelService.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: ModelServiceSpec = Field(description="Desired state.")
    status: ModelServiceStatus = Field(
        default_factory=ModelServiceStatus, description="Observed state."
    )

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ModelService:
        """Validate an object from the API (or a manifest); SpecError names the field."""
        try:
            return cls.model_validate(dict(obj))
        except ValidationError as error:
            raise SpecError.from_validation_error(error) from error
