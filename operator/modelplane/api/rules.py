"""CEL rules that the schema alone cannot express, kept next to their constants.

Each rule carries a `message` naming the field and the fix; where the
offending value helps, a `messageExpression` quotes it. Every list and string
a rule reads is bounded (maxItems/maxLength) so the API server's cost
estimator accepts the CRD.
"""

from __future__ import annotations

from typing import Final

from pydantic import JsonValue

from modelplane.api.constants import (
    MAX_NAME_LENGTH,
    OWNED_VLLM_FLAGS,
    OWNED_VLLM_SHORT_FLAGS,
    RESERVED_ENV_NAMES,
    RESERVED_ENV_PREFIX,
    TEMPLATE_HASH_LENGTH,
)

Rule = dict[str, str]


def validations(*rules: Rule) -> dict[str, JsonValue]:
    """The `json_schema_extra` that attaches CEL rules to a field or model."""
    items: list[JsonValue] = [{**rule} for rule in rules]
    return {"x-kubernetes-validations": items}


def _long_flag(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "[-_]")


# Matches an argument that sets an owned flag: `--flag`, `--flag=value`, the
# underscore spelling vLLM also accepts, and the short forms (`-tp2`, `-q=awq`).
OWNED_FLAG_PATTERN: Final = (
    "^(--("
    + "|".join(_long_flag(f) for f in OWNED_VLLM_FLAGS)
    + ")(=|$)|-("
    + "|".join(f.removeprefix("-") for f in OWNED_VLLM_SHORT_FLAGS)
    + "))"
)

_FLAG_FIX: Final = (
    "set the model with spec.model.uri and spec.model.servedName, and "
    "--tensor-parallel-size, --max-model-len, --dtype, --quantization and "
    "--gpu-memory-utilization with the fields of the same name in spec.runtime; "
    "--host, --port, --shutdown-timeout, --revision and --load-format are set by the operator"
)
EXTRA_ARG_RULE: Final[Rule] = {
    "rule": f"!self.matches('{OWNED_FLAG_PATTERN}')",
    "message": f"spec.runtime.extraArgs must not repeat a flag the operator sets: {_FLAG_FIX}",
    "messageExpression": (
        f'"spec.runtime.extraArgs: \'" + self + "\' repeats a flag the operator sets: {_FLAG_FIX}"'
    ),
}

_RESERVED_LIST: Final = ", ".join(f"'{n}'" for n in RESERVED_ENV_NAMES)
_ENV_FIX: Final = (
    ", ".join(RESERVED_ENV_NAMES)
    + f" and {RESERVED_ENV_PREFIX}* are reserved for the operator; remove it from spec.runtime.env"
)
ENV_NAME_RULE: Final[Rule] = {
    "rule": (
        f"!(self.name in [{_RESERVED_LIST}]) && !self.name.startsWith('{RESERVED_ENV_PREFIX}')"
    ),
    "message": f"spec.runtime.env must not set a reserved variable: {_ENV_FIX}",
    "messageExpression": f"'spec.runtime.env: ' + self.name + ' cannot be set: {_ENV_FIX}'",
}
ENV_VALUE_RULE: Final[Rule] = {
    "rule": "!(has(self.value) && has(self.valueFrom))",
    "message": "spec.runtime.env: set either value or valueFrom, not both",
}
ENV_SOURCE_RULE: Final[Rule] = {
    "rule": "has(self.secretKeyRef) != has(self.configMapKeyRef)",
    "message": "spec.runtime.env[].valueFrom: set exactly one of secretKeyRef or configMapKeyRef",
}

CACHE_SOURCE_RULE: Final[Rule] = {
    "rule": "has(self.size) != has(self.claimName)",
    "message": (
        "spec.model.cache: set exactly one of size (create a claim) or claimName "
        "(use an existing one)"
    ),
}
CACHE_NEEDS_REMOTE_RULE: Final[Rule] = {
    "rule": "!has(self.cache) || self.uri.startsWith('hf://') || self.uri.startsWith('s3://')",
    "message": (
        "spec.model.cache: only hf:// and s3:// models are downloaded; pvc:// and file:// "
        "are already local, remove spec.model.cache"
    ),
}
POD_LABELS_RULE: Final[Rule] = {
    "rule": ("self.all(k, !k.startsWith('modelplane.io/') && k != 'app.kubernetes.io/managed-by')"),
    "message": (
        "spec.podMetadata.labels: modelplane.io/* and app.kubernetes.io/managed-by are set by "
        "the operator (they select the serving pods); use another label key"
    ),
}

# Both read fields defaulted by the schema (runtime and resources default to
# {}), so they are always present when the rules run.
TP_DIVIDES_GPUS_RULE: Final[Rule] = {
    "rule": (
        "self.runtime.tensorParallelSize < 1 || "
        "self.resources.gpus % self.runtime.tensorParallelSize == 0"
    ),
    "fieldPath": ".runtime.tensorParallelSize",
    "message": (
        "spec.runtime.tensorParallelSize must divide spec.resources.gpus: "
        "set gpus to a multiple of tensorParallelSize"
    ),
}
TP_NEEDS_GPUS_RULE: Final[Rule] = {
    "rule": "self.runtime.tensorParallelSize <= 1 || self.resources.gpus >= 1",
    "fieldPath": ".resources.gpus",
    "message": (
        "spec.resources.gpus must be at least 1 when spec.runtime.tensorParallelSize > 1: "
        "set gpus to a multiple of tensorParallelSize, or tensorParallelSize to 1 for CPU serving"
    ),
}

DNS_1035_LABEL: Final = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_LENGTH_RULE: Final[Rule] = {
    "rule": f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
    "fieldPath": ".metadata.name",
    "message": (
        f"metadata.name must be at most {MAX_NAME_LENGTH} characters: the operator names "
        f"children <name>-<{TEMPLATE_HASH_LENGTH}-character hash>, which must fit in 63; "
        "choose a shorter name"
    ),
}
NAME_FORMAT_RULE: Final[Rule] = {
    "rule": f"self.metadata.name.matches('{DNS_1035_LABEL}')",
    "fieldPath": ".metadata.name",
    "message": (
        "metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', "
        "starting with a letter and ending with a letter or digit) because it also names "
        "the ModelService's Service; choose a name like 'llama-8b'"
    ),
}

PREFIX_HASH_RULE: Final[Rule] = {
    "rule": "!has(self.prefixHash) || self.loadBalancing == 'PrefixHash'",
    "message": (
        "spec.routing.prefixHash: only used with loadBalancing: PrefixHash; set that or "
        "remove prefixHash"
    ),
}

ROLLING_PROGRESS_RULE: Final[Rule] = {
    # has(): the CRD's default {} is checked before its fields are defaulted.
    "rule": (
        "(has(self.maxSurge) ? self.maxSurge : 1) > 0"
        " || (has(self.maxUnavailable) ? self.maxUnavailable : 0) > 0"
    ),
    "message": (
        "spec.rollout.rollingUpdate: maxSurge and maxUnavailable cannot both be 0 "
        "(nothing could move); set maxSurge: 1"
    ),
}
CANARY_GATE_RULE: Final[Rule] = {
    "rule": (
        "(has(self.pauseSeconds) ? 1 : 0) + (has(self.manual) && self.manual ? 1 : 0)"
        " + (has(self.analysis) && self.analysis ? 1 : 0) <= 1"
    ),
    "message": (
        "spec.rollout.canary.steps[]: a step has at most one gate; choose one of "
        "pauseSeconds, manual or analysis"
    ),
}
ANALYSIS_GATE_NEEDS_ANALYSIS_RULE: Final[Rule] = {
    "rule": (
        "has(self.analysis) || ((!has(self.canary)"
        " || !self.canary.steps.exists(s, has(s.analysis) && s.analysis))"
        " && (!has(self.blueGreen) || !has(self.blueGreen.promotion)"
        " || self.blueGreen.promotion != 'Analysis'))"
    ),
    "message": (
        "spec.rollout.analysis: a canary step with analysis: true or blueGreen.promotion: "
        "Analysis needs spec.rollout.analysis (the checks to run)"
    ),
}
CANARY_NEEDS_STEPS_RULE: Final[Rule] = {
    "rule": "!has(self.strategy) || self.strategy != 'Canary' || has(self.canary)",
    "message": "spec.rollout.canary: strategy Canary needs canary.steps, e.g. [{weight: 10}]",
}
ANALYSIS_METRIC_RULE: Final[Rule] = {
    "rule": (
        "has(self.maxErrorRate) || has(self.maxTtftP95Seconds) || has(self.maxLatencyP95Seconds)"
        " || has(self.maxTtftP95Ratio) || has(self.maxLatencyP95Ratio) || has(self.prometheus)"
    ),
    "message": ("spec.rollout.analysis: set at least one check, e.g. maxErrorRate: 0.05"),
}
