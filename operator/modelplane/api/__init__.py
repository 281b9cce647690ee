"""The ModelService API: pydantic models, the single source of truth of the CRD."""

from modelplane.api.config import ConfigError, GatewayConfig, OperatorConfig
from modelplane.api.errors import SpecError
from modelplane.api.resource import ModelService, ObjectMeta
from modelplane.api.spec import (
    ConfigMapKeySelector,
    EnvVar,
    EnvVarSource,
    ModelServiceSpec,
    ModelSpec,
    ResourcesSpec,
    RuntimeSpec,
    SecretKeySelector,
    Toleration,
)
from modelplane.api.status import Condition, ModelServiceStatus
from modelplane.api.uri import (
    FileSource,
    HuggingFaceSource,
    ModelSource,
    PVCSource,
    S3Source,
    parse_model_uri,
)

__all__ = [
    "Condition",
    "ConfigError",
    "ConfigMapKeySelector",
    "EnvVar",
    "EnvVarSource",
    "FileSource",
    "GatewayConfig",
    "HuggingFaceSource",
    "ModelService",
    "ModelServiceSpec",
    "ModelServiceStatus",
    "ModelSource",
    "ModelSpec",
    "ObjectMeta",
    "OperatorConfig",
    "PVCSource",
    "ResourcesSpec",
    "RuntimeSpec",
    "S3Source",
    "SecretKeySelector",
    "SpecError",
    "Toleration",
    "parse_model_uri",
]
