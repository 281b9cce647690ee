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
from modelplane.builders.service import build_revision_service, build_service, endpoint_url
from modelplane.builders.vllm_args import launcher_args, vllm_args

__all__ = [
    "build_cache_claim",
    "build_deployment",
    "build_fetch_job",
    "build_revision_service",
    "build_service",
    "child_name",
    "endpoint_url",
    "fetch_job_name",
    "launcher_args",
    "pod_selector",
    "revision_labels",
    "runtime_image",
    "selector_labels",
    "served_name",
    "serving_template",
    "template_hash",
    "vllm_args",
]
