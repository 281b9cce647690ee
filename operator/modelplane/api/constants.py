"""Names shared by the CRD, the operator and every object it creates.

They live in `api` because the CRD's CEL rules and the builders must agree on
them: a flag or env name reserved here is both refused at admission and set by
the builders.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "modelplane.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "modelplane.io/v1alpha1"  # f"{GROUP}/{VERSION}", literal for typing
KIND: Final = "ModelService"
LIST_KIND: Final = "ModelServiceList"
PLURAL: Final = "modelservices"
SINGULAR: Final = "modelservice"
SHORT_NAMES: Final = ("ms",)
CATEGORIES: Final = ("modelplane",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

FIELD_MANAGER: Final = "modelplane-operator"

LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "modelplane"
LABEL_MODELSERVICE: Final = f"{GROUP}/modelservice"
LABEL_REVISION: Final = f"{GROUP}/revision"

SERVING_PORT: Final = 8000
SERVING_PORT_NAME: Final = "http"

# Child objects are named `<name>-<hash>`: a 63-character DNS-1035 label
# leaves 63 - 1 - TEMPLATE_HASH_LENGTH characters for the ModelService name.
TEMPLATE_HASH_LENGTH: Final = 10
DNS_LABEL_MAX: Final = 63
MAX_NAME_LENGTH: Final = DNS_LABEL_MAX - 1 - TEMPLATE_HASH_LENGTH

# Paths inside the serving container, owned by the operator.
MODELS_CACHE_PATH: Final = "/models-cache"
PVC_MODELS_ROOT: Final = "/models"
TMP_PATH: Final = "/tmp"

# Environment the operator sets on every vLLM container, sorted by name.
# HOME=/tmp: the pod runs as a non-root user without a home directory, and
# vLLM, Triton and torch.compile write their caches under $HOME.
INJECTED_ENV: Final[dict[str, str]] = {
    "HF_HOME": f"{MODELS_CACHE_PATH}/hf",
    "HOME": TMP_PATH,
    "VLLM_NO_USAGE_STATS": "1",
}
# Names a user may not set in spec.runtime.env: the injected ones, plus
# VLLM_PORT (vLLM derives its internal ports from it; it would collide with
# the serving port), plus every MODELPLANE_* name (kept for the runtime
# launcher).
RESERVED_ENV_NAMES: Final = (*sorted(INJECTED_ENV), "VLLM_PORT")
RESERVED_ENV_PREFIX: Final = "MODELPLANE_"

# vLLM flags the operator sets from typed fields or owns outright. vLLM's
# argument parser treats `_` and `-` in long flag names alike.
OWNED_VLLM_FLAGS: Final = (
    "--model",
    "--served-model-name",
    "--tensor-parallel-size",
    "--max-model-len",
    "--dtype",
    "--quantization",
    "--gpu-memory-utilization",
    "--host",
    "--port",
    "--shutdown-timeout",
    "--revision",
    "--load-format",
)
OWNED_VLLM_SHORT_FLAGS: Final = ("-tp", "-q")

# Secrets holding per-ModelService API keys carry this label (value "true"):
# the gateway watches only those, not every Secret.
LABEL_API_KEYS: Final = f"{GROUP}/api-keys"

# A user's rollout request (promote, pause, resume, abort, retry) as JSON with a
# unique id; the operator acts on each id once and records it in
# status.rollout.lastRequest. `modelplane rollout ...` writes it.
REQUEST_ANNOTATION: Final = f"{GROUP}/rollout-request"
