"""The ModelService spec: what to serve, with which runtime, on which hardware."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from modelplane.api import rules
from modelplane.api._base import WireModel
from modelplane.api.types import LABEL_VALUE_PATTERN, Quantity
from modelplane.api.uri import URI_MAX_LENGTH, ModelSource, parse_model_uri, uri_rules

DType = Literal["auto", "half", "float16", "bfloat16", "float", "float32"]
MAX_EXTRA_ARGS = 64
MAX_EXTRA_ARG_LENGTH = 1024
MAX_ENV = 64
MAX_TOLERATIONS = 32
MAX_NODE_SELECTOR = 32


def _valid_uri(uri: str) -> str:
    parse_model_uri(uri)
    return uri


class ModelCache(WireModel):
    """A volume that holds downloaded weights, filled once before serving pods start."""

    model_config = ConfigDict(
        json_schema_extra=rules.validations(rules.CACHE_SOURCE_RULE),
    )

    size: Quantity | None = Field(
        default=None,
        description=(
            "Create a PersistentVolumeClaim <name>-model-cache of this size, owned by the "
            "ModelService (deleted with it). Set either size or claimName."
        ),
    )
    storage_class_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="StorageClass of the created claim (default: the cluster's default class).",
    )
    access_mode: Literal["ReadWriteMany", "ReadWriteOnce"] = Field(
        default="ReadWriteMany",
        description=(
            "Access mode of the created claim. ReadWriteMany lets replicas on different "
            "nodes share it; ReadWriteOnce keeps them on one node."
        ),
    )
    claim_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "Use this existing claim instead, e.g. one shared by several ModelServices: "
            "weights are stored by their resolved revision, so each is downloaded once."
        ),
    )


class ModelSpec(WireModel):
    """The model to serve and the name clients ask for."""

    model_config = ConfigDict(
        json_schema_extra=rules.validations(rules.CACHE_NEEDS_REMOTE_RULE),
    )

    uri: Annotated[str, AfterValidator(_valid_uri)] = Field(
        min_length=1,
        max_length=URI_MAX_LENGTH,
        description=(
            "Where the weights come from. hf://<org>/<name>[@<revision>] downloads from "
            "Hugging Face (pin a revision for reproducible rollouts); s3://<bucket>[/<prefix>] "
            "streams from S3; pvc://<claim>[/<path>] mounts a PersistentVolumeClaim of this "
            "namespace read-only; file:///<path> uses a path the pod already sees."
        ),
        json_schema_extra=rules.validations(*uri_rules()),
    )
    served_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description=(
            "The model name clients put in OpenAI requests (the `model` field). "
            "Defaults to the ModelService's name."
        ),
    )

    credentials_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "A Secret of this namespace whose keys become the downloader's environment: "
            "HF_TOKEN (and HF_ENDPOINT) for hf://, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
            "AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL for s3://. Only referenced: "
            "values never appear in the pod spec, status, events or logs."
        ),
    )
    cache: ModelCache | None = Field(
        default=None,
        description=(
            "Download the weights once into a volume (a prefetch Job) before serving pods "
            "start, instead of once per pod. Progress and the resolved revision show in "
            "status.model and the ModelCached condition."
        ),
    )

    def source(self) -> ModelSource:
        """The parsed URI; valid because the field validator already parsed it."""
        return parse_model_uri(self.uri)


class SecretKeySelector(WireModel):
    """A key of a Secret in the ModelService's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")
    key: str = Field(min_length=1, max_length=253, description="Key within the Secret.")
    optional: bool | None = Field(
        default=None,
        description="Start the pod even if the Secret or the key does not exist.",
    )


class ConfigMapKeySelector(WireModel):
    """A key of a ConfigMap in the ModelService's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Name of the ConfigMap.")
    key: str = Field(min_length=1, max_length=253, description="Key within the ConfigMap.")
    optional: bool | None = Field(
        default=None,
        description="Start the pod even if the ConfigMap or the key does not exist.",
    )


class EnvVarSource(WireModel):
    """Where an environment variable's value comes from; exactly one source."""

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.ENV_SOURCE_RULE))

    secret_key_ref: SecretKeySelector | None = Field(
        default=None, description="Read the value from a key of a Secret (e.g. HF_TOKEN)."
    )
    config_map_key_ref: ConfigMapKeySelector | None = Field(
        default=None, description="Read the value from a key of a ConfigMap."
    )


class EnvVar(WireModel):
    """An environment variable of the vLLM container."""

    model_config = ConfigDict(
        json_schema_extra=rules.validations(rules.ENV_NAME_RULE, rules.ENV_VALUE_RULE)
    )

    name: str = Field(
        min_length=1,
        max_length=256,
        pattern="^[-._a-zA-Z][-._a-zA-Z0-9]*$",
        description="Variable name. Names the operator sets (HF_HOME, HOME, "
        "VLLM_NO_USAGE_STATS, VLLM_PORT, MODELPLANE_*) are refused.",
    )
    value: str | None = Field(
        default=None,
        max_length=32768,
        description="Literal value. $(VAR) references to variables listed earlier are expanded.",
    )
    value_from: EnvVarSource | None = Field(
        default=None, description="Take the value from a Secret or ConfigMap instead of `value`."
    )


ExtraArg = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_EXTRA_ARG_LENGTH,
        description="One argument, e.g. --max-num-seqs=128 (or --max-num-seqs, then 128).",
        json_schema_extra=rules.validations(rules.EXTRA_ARG_RULE),
    ),
]


class RuntimeSpec(WireModel):
    """How vLLM runs the model."""

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description=(
            "Container image with vLLM. Defaults to the runtime image the operator is "
            "configured with; changing it starts a new revision."
        ),
    )
    tensor_parallel_size: int = Field(
        default=1,
        ge=1,
        description=(
            "Number of GPUs one model replica is split across (vLLM --tensor-parallel-size). "
            "Must divide spec.resources.gpus. Default 1."
        ),
    )
    max_model_len: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Maximum context length in tokens (vLLM --max-model-len). Defaults to the "
            "model's own; lower it when the KV cache does not fit."
        ),
    )
    dtype: DType = Field(
        default="auto",
        description="Data type of weights and activations (vLLM --dtype). Default auto.",
    )
    quantization: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern="^[a-z0-9_-]+$",
        description=(
            "Quantization method, e.g. awq, gptq, fp8 (vLLM --quantization). "
            "Unset: detected from the model's config."
        ),
    )
    gpu_memory_utilization: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description=(
            "Fraction of each GPU's memory vLLM may use for weights, activations and the "
            "KV cache, in (0, 1] (vLLM --gpu-memory-utilization). Default 0.9."
        ),
    )
    extra_args: list[ExtraArg] = Field(
        default_factory=list,
        max_length=MAX_EXTRA_ARGS,
        description=(
            "Further vLLM arguments, passed after the operator's own, e.g. "
            '["--enable-prefix-caching", "--max-num-seqs=128"]. Flags that a typed field '
            "or the operator sets (--model, --tensor-parallel-size, --port, ...) are refused."
        ),
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=MAX_ENV,
        description="Environment variables of the vLLM container, in order.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )


class Toleration(WireModel):
    """Lets the pods run on nodes with a matching taint (the Kubernetes Toleration shape)."""

    key: str | None = Field(
        default=None,
        max_length=317,
        description="Taint key to match; empty with operator Exists matches every taint.",
    )
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None,
        description="Exists matches any value; Equal (the default) matches `value`.",
    )
    value: str | None = Field(
        default=None, max_length=63, description="Taint value to match with operator Equal."
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        default=None,
        description="For NoExecute: how long the pod stays bound after the taint appears.",
        json_schema_extra={"format": "int64"},
    )


class ResourcesSpec(WireModel):
    """The hardware each replica runs on."""

    gpus: int = Field(
        default=1,
        ge=0,
        description=(
            "NVIDIA GPUs per replica (requests and limits of nvidia.com/gpu). "
            "0 serves on CPU. Default 1."
        ),
    )
    gpu_product: str | None = Field(
        default=None,
        max_length=63,
        pattern=LABEL_VALUE_PATTERN,
        description=(
            "GPU model to run on, as GPU feature discovery labels nodes "
            "(nvidia.com/gpu.product), e.g. NVIDIA-L4 or NVIDIA-A100-SXM4-80GB."
        ),
    )
    cpu: Quantity | None = Field(
        default=None,
        description="CPU requested per replica, a quantity such as 4 or 500m. No limit is set.",
    )
    memory: Quantity | None = Field(
        default=None,
        description="Memory per replica, e.g. 32Gi; used as both request and limit.",
    )
    shm_size: Quantity | None = Field(
        default=None,
        description=(
            "Size of /dev/shm (a memory-backed volume, counted against memory), e.g. 8Gi. "
            "Tensor parallelism needs several GiB. Unset: bounded only by the memory limit."
        ),
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_NODE_SELECTOR,
        description="Node labels the pods must match, in addition to gpuProduct.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=MAX_TOLERATIONS,
        description=(
            "Taints the pods tolerate. The nvidia.com/gpu NoSchedule taint is tolerated "
            "automatically when gpus > 0."
        ),
    )


class PodMetadata(WireModel):
    """Extra labels and annotations for the serving pods."""

    labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_NODE_SELECTOR,
        description=(
            "Labels added to every serving pod (e.g. for a service mesh or cost "
            "allocation). The operator's own keys (modelplane.io/*, "
            "app.kubernetes.io/managed-by) are refused."
        ),
        json_schema_extra=rules.validations(rules.POD_LABELS_RULE),
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_NODE_SELECTOR,
        description=(
            "Annotations added to every serving pod (e.g. prometheus.io/scrape). "
            "Changing them starts a new revision, as any pod template change does."
        ),
    )


class PrefixHashSpec(WireModel):
    """Consistent hashing of the prompt's start, bounded by load (CHWBL)."""

    prefix_length: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description=(
            "Characters of the prompt (or of the messages, concatenated) hashed to pick a "
            "replica, so requests sharing a system prompt reuse one replica's prefix cache. "
            "Default 256."
        ),
    )
    mean_load_factor: int = Field(
        default=125,
        ge=101,
        le=1000,
        description=(
            "Percent of the mean in-flight load a replica may carry before a request moves "
            "on to the next replica on the ring. Lower spreads load, higher keeps affinity. "
            "Default 125."
        ),
    )
    replication: int = Field(
        default=256,
        ge=1,
        le=1024,
        description="Points per replica on the hash ring; more evens the split. Default 256.",
    )


class RoutingSpec(WireModel):
    """How the gateway spreads this model's requests and who may send them."""

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.PREFIX_HASH_RULE))

    load_balancing: Literal["LeastRequests", "PrefixHash"] = Field(
        default="LeastRequests",
        description=(
            "LeastRequests sends each request to the replica with the fewest in flight. "
            "PrefixHash keeps prompts that start alike on one replica (prefix-cache hits) "
            "unless it is overloaded; see prefixHash. Default LeastRequests."
        ),
    )
    prefix_hash: PrefixHashSpec | None = Field(
        default=None, description="Settings of PrefixHash load balancing."
    )
    api_key_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "A Secret of this namespace, labelled modelplane.io/api-keys=true, whose values "
            "are the API keys accepted for this model (Authorization: Bearer <key>); the "
            "gateway's global keys are accepted too. A missing Secret refuses every request."
        ),
    )


class RollingUpdateSpec(WireModel):
    """How fast replicas move from the old revision to the new one."""

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.ROLLING_PROGRESS_RULE))

    max_surge: int = Field(
        default=1,
        ge=0,
        description="Replicas of the new revision allowed above spec.replicas. Default 1.",
    )
    max_unavailable: int = Field(
        default=0,
        ge=0,
        description="Ready replicas allowed below spec.replicas during the update. Default 0.",
    )


class CanaryStep(WireModel):
    """One step of a canary: a traffic weight, then a gate before the next step."""

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.CANARY_GATE_RULE))

    weight: int = Field(
        ge=0,
        le=100,
        description="Percent of requests the gateway sends to the canary during this step.",
    )
    replicas: int | None = Field(
        default=None,
        ge=1,
        description="Canary replicas during this step. Default: the weight's share of "
        "spec.replicas, at least 1.",
    )
    pause_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Gate: wait this long (counted once the canary is ready at this step).",
    )
    manual: bool = Field(
        default=False,
        description="Gate: wait for `modelplane rollout promote` (or the request annotation).",
    )
    analysis: bool = Field(
        default=False,
        description="Gate: pass spec.rollout.analysis (interval x count) before moving on.",
    )


class CanarySpec(WireModel):
    steps: list[CanaryStep] = Field(
        min_length=1,
        max_length=20,
        description="Steps in order; after the last, the canary takes all traffic and "
        "becomes stable.",
    )


class BlueGreenSpec(WireModel):
    """The new revision comes up in full beside the old one, reachable only under a
    preview name, and takes all traffic at once on promotion."""

    preview_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Model name that reaches the new revision before promotion "
        "(smoke tests). Default: <servedName>-preview.",
    )
    promotion: Literal["Manual", "Analysis", "Auto"] = Field(
        default="Manual",
        description="Manual: `modelplane rollout promote`. Analysis: once spec.rollout."
        "analysis passes on preview traffic. Auto: as soon as it is ready. Default Manual.",
    )
    scale_down_delay_seconds: int = Field(
        default=30,
        ge=0,
        description="How long the old revision stays up after promotion, for an instant "
        "rollback. Default 30.",
    )


class PrometheusCheck(WireModel):
    """An extra analysis metric from a Prometheus the user runs."""

    address: str = Field(
        min_length=1, max_length=512, description="Base URL, e.g. http://prometheus:9090."
    )
    query: str = Field(
        min_length=1,
        max_length=4096,
        description="PromQL returning one number; {{ revision }}, {{ stable }}, "
        "{{ namespace }}, {{ name }} and {{ model }} are substituted.",
    )
    max: float = Field(description="The run fails when the query's value is above this.")


class AnalysisSpec(WireModel):
    """Checks of the new revision's traffic, from the gateway's own metrics."""

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.ANALYSIS_METRIC_RULE))

    interval_seconds: int = Field(default=10, ge=1, le=3600, description="Length of one run.")
    count: int = Field(default=3, ge=1, le=100, description="Passing runs needed.")
    failure_limit: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Failed runs tolerated; one more rolls back. Default 0.",
    )
    initial_delay_seconds: int = Field(
        default=0, ge=0, description="Wait this long before the first run."
    )
    min_requests: int = Field(
        default=10,
        ge=1,
        description="Requests a run needs to be conclusive. Default 10.",
    )
    inconclusive: Literal["Hold", "Rollback"] = Field(
        default="Hold",
        description="A run with too few requests: Hold runs again (does not count), "
        "Rollback counts it as failed. Default Hold.",
    )
    max_error_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Largest share of failed requests (5xx, refused, broken streams).",
    )
    max_ttft_p95_seconds: float | None = Field(
        default=None, gt=0, description="Largest 95th percentile time to first token."
    )
    max_latency_p95_seconds: float | None = Field(
        default=None, gt=0, description="Largest 95th percentile request duration."
    )
    max_ttft_p95_ratio: float | None = Field(
        default=None,
        gt=0,
        description="Largest TTFT p95 relative to the stable revision's in the same run.",
    )
    max_latency_p95_ratio: float | None = Field(
        default=None,
        gt=0,
        description="Largest latency p95 relative to the stable revision's in the same run.",
    )
    prometheus: PrometheusCheck | None = Field(
        default=None, description="An optional query against your own Prometheus."
    )


class RolloutSpec(WireModel):
    """How a new revision replaces the stable one."""

    model_config = ConfigDict(
        json_schema_extra=rules.validations(
            rules.CANARY_NEEDS_STEPS_RULE, rules.ANALYSIS_GATE_NEEDS_ANALYSIS_RULE
        )
    )

    strategy: Literal["RollingUpdate", "Canary", "BlueGreen"] = Field(
        default="RollingUpdate",
        description="RollingUpdate moves replicas (traffic follows ready capacity); Canary "
        "walks weighted steps with gates; BlueGreen switches all traffic at once. "
        "Default RollingUpdate.",
    )
    rolling_update: RollingUpdateSpec = Field(
        default_factory=RollingUpdateSpec,
        description="RollingUpdate settings.",
        json_schema_extra={"default": {}},
    )
    canary: CanarySpec | None = Field(default=None, description="Canary steps.")
    blue_green: BlueGreenSpec = Field(
        default_factory=BlueGreenSpec,
        description="BlueGreen settings.",
        json_schema_extra={"default": {}},
    )
    analysis: AnalysisSpec | None = Field(
        default=None, description="Metric checks used by canary steps and BlueGreen promotion."
    )
    progress_deadline_seconds: int = Field(
        default=600,
        ge=10,
        description="A step whose pods are not ready within this long fails and rolls "
        "back. Default 600.",
    )


class ModelServiceSpec(WireModel):
    """The desired state of a ModelService."""

    model_config = ConfigDict(
        json_schema_extra=rules.validations(rules.TP_DIVIDES_GPUS_RULE, rules.TP_NEEDS_GPUS_RULE)
    )

    model: ModelSpec = Field(description="The model to serve.")
    runtime: RuntimeSpec = Field(
        default_factory=RuntimeSpec,
        description="vLLM settings. Changing any of them starts a new revision.",
        json_schema_extra={"default": {}},
    )
    resources: ResourcesSpec = Field(
        default_factory=ResourcesSpec,
        description="GPUs, CPU, memory and placement. Changing them starts a new revision.",
        json_schema_extra={"default": {}},
    )
    pod_metadata: PodMetadata = Field(
        default_factory=PodMetadata,
        description=(
            "Labels and annotations for the serving pods. Changing them starts a new revision."
        ),
        json_schema_extra={"default": {}},
    )
    replicas: int = Field(
        default=1,
        ge=0,
        description=(
            "Number of serving pods. Scale with `kubectl scale ms/<name>` or an autoscaler "
            "on the scale subresource; the operator alone sets its Deployments' replicas. "
            "Default 1."
        ),
    )
    routing: RoutingSpec = Field(
        default_factory=RoutingSpec,
        description=(
            "How the gateway balances this model's requests and checks API keys. "
            "Changing it does not start a new revision."
        ),
        json_schema_extra={"default": {}},
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec,
        description="How changes roll out, and when they roll back automatically.",
        json_schema_extra={"default": {}},
    )
    revision_history_limit: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Revisions kept (ControllerRevisions and status.revisions) for "
        "`modelplane rollout undo`. Default 10.",
    )
