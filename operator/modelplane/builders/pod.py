"""Pieces of the serving pod: env, resources, placement, volumes, probes, security."""

from __future__ import annotations

from lightkube.models import core_v1 as k

from modelplane.api import spec as api
from modelplane.api.constants import INJECTED_ENV, MODELS_CACHE_PATH, SERVING_PORT_NAME, TMP_PATH
from modelplane.api.resource import ModelService
from modelplane.api.uri import ModelSource, PVCSource
from modelplane.builders import constants as c
from modelplane.builders.vllm_args import pvc_mount_path


def env(runtime: api.RuntimeSpec) -> list[k.EnvVar]:
    """Injected variables (sorted), then the user's in their order ($(VAR) can refer back)."""
    injected = [k.EnvVar(name=n, value=v) for n, v in sorted(INJECTED_ENV.items())]
    return injected + [_env_var(e) for e in runtime.env]


def _env_var(var: api.EnvVar) -> k.EnvVar:
    source = None
    if var.value_from is not None:
        secret, config_map = var.value_from.secret_key_ref, var.value_from.config_map_key_ref
        source = k.EnvVarSource(
            secretKeyRef=k.SecretKeySelector(
                name=secret.name, key=secret.key, optional=secret.optional
            )
            if secret
            else None,
            configMapKeyRef=k.ConfigMapKeySelector(
                name=config_map.name, key=config_map.key, optional=config_map.optional
            )
            if config_map
            else None,
        )
    return k.EnvVar(name=var.name, value=var.value, valueFrom=source)


def resources(spec: api.ResourcesSpec) -> k.ResourceRequirements | None:
    """GPUs as request = limit; CPU request only (no throttling); memory request = limit."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if spec.gpus > 0:
        requests[c.GPU_RESOURCE] = limits[c.GPU_RESOURCE] = str(spec.gpus)
    if spec.cpu is not None:
        requests["cpu"] = spec.cpu
    if spec.memory is not None:
        requests["memory"] = limits["memory"] = spec.memory
    if not requests:
        return None
    return k.ResourceRequirements(
        requests=dict(sorted(requests.items())), limits=dict(sorted(limits.items())) or None
    )


def node_selector(spec: api.ResourcesSpec) -> dict[str, str] | None:
    """The user's selector plus the GPU product label; gpuProduct wins a conflict."""
    selector = dict(spec.node_selector)
    if spec.gpu_product is not None:
        selector[c.GPU_PRODUCT_LABEL] = spec.gpu_product
    return dict(sorted(selector.items())) or None


def tolerations(spec: api.ResourcesSpec) -> list[k.Toleration] | None:
    """The user's tolerations plus the GPU taint's, which GPU node pools usually carry."""
    result = [
        k.Toleration(
            key=t.key,
            operator=t.operator,
            value=t.value,
            effect=t.effect,
            tolerationSeconds=t.toleration_seconds,
        )
        for t in spec.tolerations
    ]
    gpu = k.Toleration(key=c.GPU_RESOURCE, operator="Exists", effect="NoSchedule")
    if spec.gpus > 0 and gpu not in result:
        result.append(gpu)
    return result or None


def credentials(model: api.ModelSpec) -> list[k.EnvFromSource] | None:
    """The download credentials, by reference only: values never enter the pod spec."""
    if model.credentials_secret is None:
        return None
    return [k.EnvFromSource(secretRef=k.SecretEnvSource(name=model.credentials_secret))]


def cache_claim(ms: ModelService) -> str | None:
    """The claim holding downloaded weights, when spec.model.cache is set."""
    cache = ms.spec.model.cache
    if cache is None:
        return None
    return cache.claim_name or f"{ms.metadata.name}-{c.CACHE_CLAIM_SUFFIX}"


def cache_volume(claim: str | None) -> k.Volume:
    """The launcher's cache: the shared claim, else a per-pod scratch directory."""
    if claim is None:
        return k.Volume(name=c.CACHE_VOLUME, emptyDir=k.EmptyDirVolumeSource())
    return k.Volume(
        name=c.CACHE_VOLUME,
        persistentVolumeClaim=k.PersistentVolumeClaimVolumeSource(claimName=claim),
    )


def volumes(
    spec: api.ResourcesSpec, source: ModelSource, claim: str | None = None
) -> list[k.Volume]:
    """Scratch (shm, /tmp), the model cache and, for pvc://, the model's claim."""
    result = [
        k.Volume(
            name=c.SHM_VOLUME,
            emptyDir=k.EmptyDirVolumeSource(medium="Memory", sizeLimit=spec.shm_size),
        ),
        cache_volume(claim),
        k.Volume(name=c.TMP_VOLUME, emptyDir=k.EmptyDirVolumeSource()),
    ]
    if isinstance(source, PVCSource):
        result.append(
            k.Volume(
                name=c.MODEL_VOLUME,
                persistentVolumeClaim=k.PersistentVolumeClaimVolumeSource(
                    claimName=source.claim, readOnly=True
                ),
            )
        )
    return result


def volume_mounts(source: ModelSource) -> list[k.VolumeMount]:
    """Mounts matching `volumes`; the model claim is read-only."""
    result = [
        k.VolumeMount(name=c.SHM_VOLUME, mountPath=c.SHM_PATH),
        k.VolumeMount(name=c.CACHE_VOLUME, mountPath=MODELS_CACHE_PATH),
        k.VolumeMount(name=c.TMP_VOLUME, mountPath=TMP_PATH),
    ]
    if isinstance(source, PVCSource):
        result.append(
            k.VolumeMount(name=c.MODEL_VOLUME, mountPath=pvc_mount_path(source), readOnly=True)
        )
    return result


def _http_probe(path: str, period: int, failures: int) -> k.Probe:
    return k.Probe(
        httpGet=k.HTTPGetAction(path=path, port=SERVING_PORT_NAME),
        periodSeconds=period,
        failureThreshold=failures,
        timeoutSeconds=c.PROBE_TIMEOUT_SECONDS,
    )


def startup_probe() -> k.Probe:
    """Tolerates model loads of up to STARTUP_BUDGET_SECONDS."""
    return _http_probe(c.HEALTH_PATH, c.STARTUP_PERIOD_SECONDS, c.STARTUP_FAILURE_THRESHOLD)


def readiness_probe() -> k.Probe:
    """/v1/models answers only once the model is served, unlike /health."""
    return _http_probe(c.READINESS_PATH, c.READINESS_PERIOD_SECONDS, c.READINESS_FAILURE_THRESHOLD)


def liveness_probe() -> k.Probe:
    """Restarts a wedged server after a minute of failed /health checks."""
    return _http_probe(c.HEALTH_PATH, c.LIVENESS_PERIOD_SECONDS, c.LIVENESS_FAILURE_THRESHOLD)


def lifecycle() -> k.Lifecycle:
    """preStop sleep: the pod leaves the endpoints before vLLM receives SIGTERM."""
    return k.Lifecycle(
        preStop=k.LifecycleHandler(sleep=k.SleepAction(seconds=c.PRESTOP_SLEEP_SECONDS))
    )


def container_security() -> k.SecurityContext:
    """The container half of the restricted Pod Security Standard."""
    return k.SecurityContext(
        allowPrivilegeEscalation=False,
        capabilities=k.Capabilities(drop=["ALL"]),
    )


def pod_security() -> k.PodSecurityContext:
    """The pod half: non-root with a fixed uid, RuntimeDefault seccomp."""
    return k.PodSecurityContext(
        runAsNonRoot=True,
        runAsUser=c.RUN_AS_USER,
        runAsGroup=c.RUN_AS_USER,
        fsGroup=c.RUN_AS_USER,
        seccompProfile=k.SeccompProfile(type="RuntimeDefault"),
    )
