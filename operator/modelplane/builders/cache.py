"""The model cache: a claim for the weights and the Job that fills it once.

The Job is named by the model URI (not the serving template), so a runtime or
resource change reuses what was downloaded; the launcher stores weights under
their resolved revision, so a shared claim holds each revision once.
"""

from __future__ import annotations

import hashlib

from lightkube.models import batch_v1
from lightkube.models import core_v1 as k
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import PersistentVolumeClaim

from modelplane.api.config import OperatorConfig
from modelplane.api.constants import MODELS_CACHE_PATH, TMP_PATH
from modelplane.api.resource import ModelService
from modelplane.builders import constants as c
from modelplane.builders import pod
from modelplane.builders.labels import selector_labels
from modelplane.builders.meta import child_meta
from modelplane.builders.naming import runtime_image

FETCH_LABEL = "modelplane.io/fetch"


def model_key(ms: ModelService) -> str:
    """Short stable hash of the model URI: names the fetch Job."""
    return hashlib.sha256(ms.spec.model.uri.encode()).hexdigest()[:10]


def fetch_job_name(ms: ModelService) -> str:
    return f"{ms.metadata.name}-fetch-{model_key(ms)}"


def build_cache_claim(ms: ModelService) -> PersistentVolumeClaim | None:
    """The claim the operator creates (None when the user names an existing one)."""
    cache = ms.spec.model.cache
    if cache is None or cache.size is None:
        return None
    name = pod.cache_claim(ms)
    assert name is not None
    return PersistentVolumeClaim(
        metadata=child_meta(ms, name, selector_labels(ms.metadata.name)),
        spec=k.PersistentVolumeClaimSpec(
            accessModes=[cache.access_mode],
            resources=k.VolumeResourceRequirements(requests={"storage": cache.size}),
            storageClassName=cache.storage_class_name,
        ),
    )


def build_fetch_job(ms: ModelService, config: OperatorConfig) -> Job | None:
    """`modelplane-runtime fetch` into the cache claim; its exit message is the identity."""
    claim = pod.cache_claim(ms)
    if claim is None:
        return None
    labels = {**selector_labels(ms.metadata.name), FETCH_LABEL: model_key(ms)}
    container = k.Container(
        name=c.FETCH_CONTAINER_NAME,
        image=runtime_image(ms, config),
        command=list(c.LAUNCHER_FETCH),
        args=["--model-uri", ms.spec.model.uri, "--cache-dir", MODELS_CACHE_PATH],
        envFrom=pod.credentials(ms.spec.model),
        env=[k.EnvVar(name="HOME", value=TMP_PATH)],
        volumeMounts=[
            k.VolumeMount(name=c.CACHE_VOLUME, mountPath=MODELS_CACHE_PATH),
            k.VolumeMount(name=c.TMP_VOLUME, mountPath=TMP_PATH),
        ],
        securityContext=pod.container_security(),
        # The launcher writes the resolved identity (JSON) or the failure cause here.
        terminationMessagePolicy="FallbackToLogsOnError",
    )
    return Job(
        metadata=child_meta(ms, fetch_job_name(ms), labels),
        spec=batch_v1.JobSpec(
            backoffLimit=c.FETCH_BACKOFF_LIMIT,
            activeDeadlineSeconds=c.FETCH_DEADLINE_SECONDS,
            template=k.PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=k.PodSpec(
                    restartPolicy="Never",
                    containers=[container],
                    volumes=[
                        pod.cache_volume(claim),
                        k.Volume(name=c.TMP_VOLUME, emptyDir=k.EmptyDirVolumeSource()),
                    ],
                    nodeSelector=dict(ms.spec.resources.node_selector) or None,
                    tolerations=pod.tolerations(ms.spec.resources),
                    securityContext=pod.pod_security(),
                    enableServiceLinks=False,
                    automountServiceAccountToken=False,
                ),
            ),
        ),
    )
