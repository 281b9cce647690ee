"""The Deployment of one revision: `<name>-<hash>`, its template never changes."""

from __future__ import annotations

from lightkube.models import apps_v1
from lightkube.models import core_v1 as k
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment

from modelplane.api.config import OperatorConfig
from modelplane.api.constants import SERVING_PORT, SERVING_PORT_NAME
from modelplane.api.resource import ModelService
from modelplane.builders import constants as c
from modelplane.builders import pod
from modelplane.builders.labels import revision_labels
from modelplane.builders.meta import child_meta
from modelplane.builders.naming import child_name, runtime_image
from modelplane.builders.vllm_args import launcher_args


def build_container(ms: ModelService, config: OperatorConfig) -> k.Container:
    """The vLLM container."""
    source = ms.spec.model.source()
    return k.Container(
        name=c.CONTAINER_NAME,
        image=runtime_image(ms, config),
        command=list(c.LAUNCHER_SERVE),
        args=launcher_args(ms),
        ports=[k.ContainerPort(name=SERVING_PORT_NAME, containerPort=SERVING_PORT, protocol="TCP")],
        env=pod.env(ms.spec.runtime),
        envFrom=pod.credentials(ms.spec.model),
        resources=pod.resources(ms.spec.resources),
        volumeMounts=pod.volume_mounts(source),
        startupProbe=pod.startup_probe(),
        readinessProbe=pod.readiness_probe(),
        livenessProbe=pod.liveness_probe(),
        lifecycle=pod.lifecycle(),
        securityContext=pod.container_security(),
        # A crash-looping vLLM's last log lines become the Degraded message.
        terminationMessagePolicy="FallbackToLogsOnError",
    )


def build_pod_spec(ms: ModelService, config: OperatorConfig) -> k.PodSpec:
    """The serving pod.

    Service links are off: a Service named `vllm` in the namespace would
    otherwise inject VLLM_PORT=tcp://... and break vLLM. The pod needs no
    API access, so no service-account token is mounted.
    """
    resources = ms.spec.resources
    return k.PodSpec(
        containers=[build_container(ms, config)],
        volumes=pod.volumes(resources, ms.spec.model.source(), pod.cache_claim(ms)),
        nodeSelector=pod.node_selector(resources),
        tolerations=pod.tolerations(resources),
        securityContext=pod.pod_security(),
        terminationGracePeriodSeconds=c.TERMINATION_GRACE_PERIOD_SECONDS,
        enableServiceLinks=False,
        automountServiceAccountToken=False,
    )


def build_deployment(
    ms: ModelService, config: OperatorConfig, template_hash: str, replicas: int
) -> Deployment:
    """One revision's Deployment; `replicas` is decided by the caller (reconcile).

    revisionHistoryLimit 0: the template of a revision's Deployment never
    changes, and rollback happens between ModelService revisions, so old
    ReplicaSets would only be clutter (thousands of them at scale).
    Rolling updates surge one pod and never go below the ready count.
    """
    labels = revision_labels(ms.metadata.name, template_hash)
    return Deployment(
        metadata=child_meta(ms, child_name(ms, template_hash), labels),
        spec=apps_v1.DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(matchLabels=labels),
            template=k.PodTemplateSpec(
                metadata=ObjectMeta(
                    labels={**ms.spec.pod_metadata.labels, **labels},
                    annotations=dict(sorted(ms.spec.pod_metadata.annotations.items())) or None,
                ),
                spec=build_pod_spec(ms, config),
            ),
            strategy=apps_v1.DeploymentStrategy(
                type="RollingUpdate",
                rollingUpdate=apps_v1.RollingUpdateDeployment(maxSurge=1, maxUnavailable=0),
            ),
            revisionHistoryLimit=0,
            progressDeadlineSeconds=c.PROGRESS_DEADLINE_SECONDS,
        ),
    )
