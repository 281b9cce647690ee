"""The reconcile decision for one ModelService.

Until the rollout work lands, a template change is a surge-then-retire
update: the new revision's Deployment comes up at full size beside the old
one(s), and the old ones are removed only once the new one is Ready, so the
service never drops to zero ready replicas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service

from modelplane.api.config import OperatorConfig
from modelplane.api.constants import LABEL_REVISION
from modelplane.api.resource import ModelService
from modelplane.api.status import DEGRADED, PROGRESSING, READY, ModelServiceStatus
from modelplane.builders import (
    build_deployment,
    build_revision_service,
    build_service,
    child_name,
    endpoint_url,
    pod_selector,
    template_hash,
)
from modelplane.reconcile import health
from modelplane.reconcile.checks import spec_problems
from modelplane.reconcile.conditions import Verdict, merge
from modelplane.reconcile.diff import contains
from modelplane.reconcile.observed import Obj, Observed


@dataclass(frozen=True)
class Apply:
    """Server-side apply of a child we own."""

    obj: Deployment | Service
    reason: str


@dataclass(frozen=True)
class Delete:
    kind: type[Deployment] | type[Service]
    name: str
    reason: str


Action = Apply | Delete


@dataclass(frozen=True)
class EventSpec:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    # A merge patch for .status, or None when the status is already right.
    status_patch: Mapping[str, Any] | None = None
    events: tuple[EventSpec, ...] = ()


def _revision(obj: Obj) -> str:
    return str(obj["metadata"].get("labels", {}).get(LABEL_REVISION, ""))


def plan(ms: ModelService, observed: Observed, config: OperatorConfig, now: datetime) -> Plan:
    """Decide the actions and the status for ``ms`` given what was observed."""
    problems = spec_problems(ms, observed)
    revision = template_hash(ms, config)
    current = child_name(ms, revision)
    desired = ms.spec.replicas
    actions: list[Action] = []
    events: list[EventSpec] = []

    if not problems:
        wanted: list[Deployment | Service] = [
            build_service(ms),
            build_revision_service(ms, revision),
            build_deployment(ms, config, revision, desired),
        ]
        for obj in wanted:
            assert obj.metadata is not None and obj.metadata.name is not None
            seen = (
                observed.deployment(obj.metadata.name)
                if isinstance(obj, Deployment)
                else observed.service(obj.metadata.name)
            )
            if seen is not None and contains(seen, obj.to_dict()):
                continue
            actions.append(Apply(obj, "create" if seen is None else "update"))
            if isinstance(obj, Deployment):
                if seen is None:
                    events.append(
                        EventSpec(
                            "Normal",
                            "RevisionCreated",
                            f"revision {revision} created for {ms.spec.model.uri} "
                            f"with {desired} replicas",
                        )
                    )
                elif (seen.get("spec") or {}).get("replicas") != desired:
                    events.append(
                        EventSpec(
                            "Normal",
                            "Scaled",
                            f"revision {revision}: replicas "
                            f"{seen['spec'].get('replicas')} -> {desired}",
                        )
                    )

        live = {_revision(d) for d in observed.deployments} | {revision}
        if health.ready_replicas(observed.deployment(current)) >= desired:
            for d in observed.deployments:
                if _revision(d) != revision:
                    actions.append(Delete(Deployment, d["metadata"]["name"], "superseded"))
            for rev in sorted(live - {revision}):
                events.append(
                    EventSpec(
                        "Normal",
                        "RevisionRetired",
                        f"revision {rev} removed: revision {revision} is ready",
                    )
                )
            live = {revision}
        for s in observed.services:
            rev = _revision(s)
            if rev and rev not in live:
                actions.append(Delete(Service, s["metadata"]["name"], "revision gone"))

    verdicts = _verdicts(ms, observed, revision, problems)
    status = ModelServiceStatus(
        observed_generation=ms.metadata.generation,
        replicas=sum(health.replicas(d) for d in observed.deployments),
        ready_replicas=sum(health.ready_replicas(d) for d in observed.deployments),
        selector=pod_selector(ms),
        conditions=merge(ms.status.conditions, verdicts, now, ms.metadata.generation),
        endpoint=endpoint_url(ms),
        revision=revision,
    )
    events += _transition_events(ms.status, status)
    return Plan(tuple(actions), status_patch(ms.status, status), tuple(events))


def _verdicts(
    ms: ModelService, observed: Observed, revision: str, problems: Sequence[tuple[str, str]]
) -> list[Verdict]:
    desired = ms.spec.replicas
    current = observed.deployment(child_name(ms, revision))
    current_pods = [p for p in observed.pods if _revision(p) == revision]
    ready = sum(health.ready_replicas(d) for d in observed.deployments)
    new_ready = health.ready_replicas(current)
    others = sorted({_revision(d) for d in observed.deployments} - {revision})
    failing = health.failing(observed.pods)

    if problems:
        message = "; ".join(f"{path}: {msg}" for path, msg in problems)
        ready_v = Verdict(READY, "False", "InvalidSpec", message)
    elif ready >= desired:
        ready_v = (
            Verdict(READY, "True", "ScaledToZero", "0 replicas requested")
            if desired == 0
            else Verdict(READY, "True", "ReplicasReady", f"{ready}/{desired} replicas ready")
        )
    elif problem := health.unschedulable(current_pods):
        ready_v = Verdict(READY, "False", problem.reason, problem.message)
    elif failing is not None:
        ready_v = Verdict(READY, "False", failing.reason, failing.message)
    else:
        ready_v = Verdict(READY, "False", "ReplicasNotReady", f"{ready}/{desired} replicas ready")

    if problems:
        progressing = Verdict(PROGRESSING, "False", "InvalidSpec", "fix the spec to roll out")
    elif others:
        progressing = Verdict(
            PROGRESSING,
            "True",
            "RollingOut",
            f"revision {revision}: {new_ready}/{desired} ready; "
            f"revision(s) {', '.join(others)} serve until then",
        )
    elif current is None or new_ready != desired or health.replicas(current) != desired:
        progressing = Verdict(
            PROGRESSING, "True", "Scaling", f"revision {revision}: {new_ready}/{desired} ready"
        )
    else:
        progressing = Verdict(
            PROGRESSING, "False", "Complete", f"revision {revision} serves {desired} replicas"
        )

    degraded = (
        Verdict(DEGRADED, "True", failing.reason, failing.message)
        if failing is not None
        else Verdict(DEGRADED, "False", "AsExpected", "")
    )
    return [ready_v, progressing, degraded]


def _transition_events(before: ModelServiceStatus, after: ModelServiceStatus) -> list[EventSpec]:
    """One event per condition that changed status or reason: the decision log."""
    events = []
    for cond in after.conditions:
        old = before.condition(cond.type)
        if old is not None and (old.status, old.reason) == (cond.status, cond.reason):
            continue
        bad = (cond.type == READY and cond.status == "False") or (
            cond.type == DEGRADED and cond.status == "True"
        )
        if old is None and not bad:
            continue  # the first good verdict is no news
        events.append(
            EventSpec(
                "Warning" if bad else "Normal",
                cond.reason,
                f"{cond.type}={cond.status}: {cond.message}",
            )
        )
    return events


def _dump(status: ModelServiceStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def status_patch(before: ModelServiceStatus, after: ModelServiceStatus) -> dict[str, Any] | None:
    """A merge patch turning ``before`` into ``after``; None when they are equal."""
    old, new = _dump(before), _dump(after)
    if old == new:
        return None
    return {**dict.fromkeys(old.keys() - new.keys()), **new}


def invalid_status(
    raw_status: Mapping[str, Any], generation: int | None, message: str, now: datetime
) -> tuple[dict[str, Any] | None, list[EventSpec]]:
    """Status for an object that does not even parse: Ready=False, InvalidSpec."""
    before = ModelServiceStatus.model_validate(raw_status or {})
    verdicts = [
        Verdict(READY, "False", "InvalidSpec", message),
        Verdict(PROGRESSING, "False", "InvalidSpec", "fix the spec to roll out"),
    ]
    after = before.model_copy(
        update={
            "observed_generation": generation,
            "conditions": merge(before.conditions, verdicts, now, generation),
        }
    )
    return status_patch(before, after), _transition_events(before, after)
