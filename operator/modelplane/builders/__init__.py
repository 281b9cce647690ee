"""Pure builders: a parsed ModelService in, typed lightkube objects out."""

from modelplane.builders.cache import build_cache_claim, build_fetch_job, fetch_job_name
from modelplane.builders.deployment import build_deployment
from modelplane.builders.labels import pod_selector, revision_labels, selector_labels
from modelplane.builders.naming import (
    child_name,
    runtime_image,
    served_name,
    serving_template,
    template_hash,
)
from modelplane.builders.revision import (
    MESSAGE_ANNOTATION,
    OUTCOME_ANNOTATION,
    build_controller_revision,
    revision_data,
    spec_of,
)
from modelplane.builders.service import build_revision_service, build_service, endpoint_url
from modelplane.builders.vllm_args import launcher_args, vllm_args

__all__ = [
    "MESSAGE_ANNOTATION",
    "OUTCOME_ANNOTATION",
    "build_cache_claim",
    "build_controller_revision",
    "build_deployment",
    "build_fetch_job",
    "build_revision_service",
    "build_service",
    "child_name",
    "endpoint_url",
    "fetch_job_name",
    "launcher_args",
    "pod_selector",
    "revision_data",
    "revision_labels",
    "runtime_image",
    "selector_labels",
    "served_name",
    "serving_template",
    "spec_of",
    "template_hash",
    "vllm_args",
]
