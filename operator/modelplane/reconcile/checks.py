"""Checks that need the cluster's state, which schema and CEL cannot see."""

from __future__ import annotations

from modelplane.api.resource import ModelService
from modelplane.reconcile.observed import Observed


def referenced_secrets(ms: ModelService) -> frozenset[str]:
    """Secrets the serving pods need (optional references excluded)."""
    names = set()
    for env in ms.spec.runtime.env:
        ref = env.value_from.secret_key_ref if env.value_from else None
        if ref is not None and not ref.optional:
            names.add(ref.name)
    return frozenset(names)


def spec_problems(ms: ModelService, observed: Observed) -> list[tuple[str, str]]:
    """(field path, what is wrong and how to fix it) for each problem found."""
    problems = []
    resources = ms.spec.resources
    offered = observed.gpu_products
    if (
        resources.gpus > 0
        and resources.gpu_product
        and offered is not None
        and resources.gpu_product not in offered
    ):
        choices = ", ".join(sorted(offered)) or "none"
        problems.append(
            (
                "spec.resources.gpuProduct",
                f"no node offers GPU product {resources.gpu_product!r} (offered: {choices}); "
                "set spec.resources.gpuProduct to one of them, or add such nodes",
            )
        )
    for i, env in enumerate(ms.spec.runtime.env):
        ref = env.value_from.secret_key_ref if env.value_from else None
        if ref is not None and not ref.optional and ref.name in observed.missing_secrets:
            problems.append(
                (
                    f"spec.runtime.env[{i}].valueFrom.secretKeyRef.name",
                    f"Secret {ref.name!r} not found in namespace {ms.metadata.namespace}; "
                    "create it, or fix the name",
                )
            )
    return problems
