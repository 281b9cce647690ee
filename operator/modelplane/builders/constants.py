"""Timing and layout of the serving pod, with the relations between them explicit."""

from __future__ import annotations

from typing import Final

CONTAINER_NAME: Final = "vllm"
# The runtime image's launcher: resolves the model URI to a local directory
# (downloading into the cache volume when needed), then execs the vLLM
# OpenAI server with the arguments after `--`, keeping its PID.
LAUNCHER_SERVE: Final = ("modelplane-runtime", "serve")
LAUNCHER_FETCH: Final = ("modelplane-runtime", "fetch")
VLLM_HOST: Final = "0.0.0.0"

# Drain: on deletion the pod leaves the endpoints while preStop sleeps (so
# routers stop sending), then vLLM gets SIGTERM and finishes in-flight
# requests for up to --shutdown-timeout; the kubelet kills after the grace
# period, which must cover both plus a margin.
PRESTOP_SLEEP_SECONDS: Final = 10
VLLM_SHUTDOWN_TIMEOUT_SECONDS: Final = 30
TERMINATION_MARGIN_SECONDS: Final = 5
TERMINATION_GRACE_PERIOD_SECONDS: Final = (
    PRESTOP_SLEEP_SECONDS + VLLM_SHUTDOWN_TIMEOUT_SECONDS + TERMINATION_MARGIN_SECONDS
)

# Startup: /health answers once the weights are loaded; large models take
# many minutes, so the startup probe allows STARTUP_BUDGET_SECONDS before the
# liveness probe takes over.
PROBE_TIMEOUT_SECONDS: Final = 5  # the event loop can stall >1 s under heavy prefill
STARTUP_PERIOD_SECONDS: Final = 2
STARTUP_FAILURE_THRESHOLD: Final = 900
STARTUP_BUDGET_SECONDS: Final = STARTUP_PERIOD_SECONDS * STARTUP_FAILURE_THRESHOLD  # 30 min
READINESS_PERIOD_SECONDS: Final = 5
READINESS_FAILURE_THRESHOLD: Final = 3
LIVENESS_PERIOD_SECONDS: Final = 10
LIVENESS_FAILURE_THRESHOLD: Final = 6
HEALTH_PATH: Final = "/health"
READINESS_PATH: Final = "/v1/models"

# A Deployment reports ProgressDeadlineExceeded only after a pod has had the
# whole startup budget plus time to pull a multi-GB vLLM image.
IMAGE_PULL_ALLOWANCE_SECONDS: Final = 600
PROGRESS_DEADLINE_SECONDS: Final = STARTUP_BUDGET_SECONDS + IMAGE_PULL_ALLOWANCE_SECONDS

# The pod's user: vLLM needs no root; it writes only to the volumes below.
RUN_AS_USER: Final = 1000

GPU_RESOURCE: Final = "nvidia.com/gpu"
GPU_PRODUCT_LABEL: Final = "nvidia.com/gpu.product"

SHM_VOLUME: Final = "dshm"
SHM_PATH: Final = "/dev/shm"
CACHE_VOLUME: Final = "models-cache"
TMP_VOLUME: Final = "tmp"
MODEL_VOLUME: Final = "model"

# The prefetch Job: the Job controller's own back-off (10 s doubling to 6 min)
# retries a failed download without a crash-loop storm.
FETCH_CONTAINER_NAME: Final = "fetch"
FETCH_BACKOFF_LIMIT: Final = 6
FETCH_DEADLINE_SECONDS: Final = 6 * 3600
CACHE_CLAIM_SUFFIX: Final = "model-cache"
