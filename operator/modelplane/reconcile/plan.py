"""The reconcile decision for one ModelService.

Until the rollout work lands, a template change is a surge-then-retire
update: the new revision's Deployment comes up at full size beside the old
one(s), and the old ones are removed only once the new one is Ready, so the
service never drops to zero ready replicas.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from lightkube.resources.apps_v1 import ControllerRevision, Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import PersistentVolumeClaim, Service

from modelplane.api.config import OperatorConfig
from modelplane.api.constants import LABEL_REVISION, REQUEST_ANNOTATION
from modelplane.api.resource import ModelService
from modelplane.api.status import (
    DEGRADED,
    MODEL_CACHED,
    PROGRESSING,
    READY,
    ModelServiceStatus,
    RolloutStatus,
)
from modelplane.builders import (
    build_cache_claim,
    build_deployment,
    build_fetch_job,
    build_revision_service,
    build_service,
    child_name,
    endpoint_url,
    fetch_job_name,
    pod_selector,
    revision_data,
    served_name,
    spec_of,
    template_hash,
)
from modelplane.builders.cache import FETCH_LABEL, model_key
from modelplane.reconcile import health, history, rollout
from modelplane.reconcile.checks import spec_problems
from modelplane.reconcile.conditions import Verdict, merge
from modelplane.reconcile.diff import contains
from modelplane.reconcile.events import EventSpec
from modelplane.reconcile.fetch import FetchState, fetch_state
from modelplane.reconcile.observed import Obj, Observed

Child = Deployment | Service | Job | PersistentVolumeClaim | ControllerRevision


@dataclass(frozen=True)
class Apply:
    """Server-side apply of a child we own."""

    obj: Child
    reason: str


@dataclass(frozen=True)
class Delete:
    kind: type[Deployment] | type[Service] | type[Job] | type[ControllerRevision]
    name: str
    reason: str


Action = Apply | Delete


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    # A merge patch for .status, or None when the status is already right.
    status_patch: Mapping[str, Any] | None = None
    events: tuple[EventSpec, ...] = ()
    # Look again this soon even without events (a download's progress, a pause).
    requeue_after: float | None = None
    # (revision, stable) whose gateway metrics to measure for the next analysis run.
    analyzing: tuple[str, str | None] | None = None


def _revision(obj: Obj) -> str:
    return str(obj["metadata"].get("labels", {}).get(LABEL_REVISION, ""))


def _seen(observed: Observed, obj: Child) -> Obj | None:
    assert obj.metadata is not None and obj.metadata.name is not None
    name = obj.metadata.name
    if isinstance(obj, Deployment):
        return observed.deployment(name)
    if isinstance(obj, Job):
        return observed.job(name)
    if isinstance(obj, PersistentVolumeClaim):
        return observed.claim(name)
    if isinstance(obj, ControllerRevision):
        return next((r for r in observed.revisions if r["metadata"]["name"] == name), None)
    return observed.service(name)


def _fetch(ms: ModelService, observed: Observed) -> FetchState | None:
    """The download's state when spec.model.cache is set."""
    if ms.spec.model.cache is None:
        return None
    key = model_key(ms)
    return fetch_state(
        ms.spec.model.uri,
        observed.job(fetch_job_name(ms)),
        observed.labelled(observed.pods, FETCH_LABEL, key),
        observed.fetch_progress,
    )


def plan(ms: ModelService, observed: Observed, config: OperatorConfig, now: datetime) -> Plan:
    """Decide the actions and the status for ``ms`` given what was observed."""
    problems = spec_problems(ms, observed)
    revision = template_hash(ms, config)
    actions: list[Action] = []
    events: list[EventSpec] = []
    fetch = _fetch(ms, observed)
    decision: rollout.Decision | None = None
    kept_history = ms.status.revisions

    if not problems:
        raw_request = ms.metadata.annotations.get(REQUEST_ANNOTATION)
        request, complaint = parse_request(raw_request)
        # A bad annotation is complained about once, not on every pass.
        complaint_id = f"invalid:{hashlib.sha256((raw_request or '').encode()).hexdigest()[:12]}"
        seen_before = ms.status.rollout is not None and (
            ms.status.rollout.last_request == complaint_id
        )
        if complaint and not seen_before:
            events.append(EventSpec("Warning", "InvalidRequest", complaint))
        records = history.by_revision(observed.revisions)
        decision = rollout.decide(
            ms.spec,
            ms.status,
            revision,
            _states(observed, now),
            now,
            served_name(ms),
            request=request,
            run=observed.analysis_run,
            model_ready=fetch is None or fetch.phase == "done",
            proven=history.proven(records),
        )
        events += decision.events
        if complaint and decision.rollout is not None:
            decision.rollout = decision.rollout.model_copy(update={"last_request": complaint_id})
        elif complaint and decision.stable is not None:
            decision.rollout = RolloutStatus(
                revision=decision.stable,
                strategy=ms.spec.rollout.strategy,
                phase="Succeeded",
                last_request=complaint_id,
            )
        wanted: list[Child | None] = [build_service(ms)]
        if fetch is not None:
            wanted += [build_cache_claim(ms), build_fetch_job(ms, config)]
        for rev, size in sorted(decision.replicas.items()):
            wanted.append(build_revision_service(ms, rev))
            if rev == revision:
                # With a cache, a revision's pods start only once its weights are there.
                if fetch is None or fetch.phase == "done":
                    wanted.append(build_deployment(ms, config, rev, size))
            elif rev in records:
                past = spec_of(ms, records[rev].get("data") or {})
                wanted.append(build_deployment(past, config, rev, size))
            elif (seen := observed.deployment(child_name(ms, rev))) is not None:
                # Made by an operator that kept no history: resized as it is.
                wanted.append(_resized(seen, size))
        for obj in [o for o in wanted if o is not None]:
            seen = _seen(observed, obj)
            if seen is not None and contains(seen, obj.to_dict()):
                continue
            actions.append(Apply(obj, "create" if seen is None else "update"))
            if isinstance(obj, Deployment):
                events += _deployment_events(ms, obj, seen)
        live = set(decision.replicas)
        for d in observed.deployments:
            if _revision(d) not in live:
                actions.append(Delete(Deployment, d["metadata"]["name"], "revision retired"))
        for svc in observed.services:
            if (rev := _revision(svc)) and rev not in live:
                actions.append(Delete(Service, svc["metadata"]["name"], "revision retired"))
        if decision.stable == revision:
            current_job = fetch_job_name(ms) if fetch is not None else None
            for job in observed.jobs:
                if job["metadata"]["name"] != current_job:
                    actions.append(Delete(Job, job["metadata"]["name"], "model no longer served"))

        renumber = decision.rollout is not None and (
            ms.status.rollout is None or ms.status.rollout.revision != revision
        )
        wanted_records = history.wanted_records(
            ms, records, revision, revision_data(ms, config), renumber, decision.outcomes
        )
        protected = {revision, decision.stable or "", *(live or ())}
        kept, dropped = history.trimmed(wanted_records, ms.spec.revision_history_limit, protected)
        for record in kept:
            seen = records.get(history.revision_of(record.to_dict()))
            if seen is None or not contains(seen, record.to_dict()):
                actions.append(Apply(record, "create" if seen is None else "update"))
        actions += [Delete(ControllerRevision, name, "history limit") for name in dropped]
        resolved = {r.revision: r.resolved for r in ms.status.revisions if r.resolved}
        if fetch is not None and fetch.model is not None and fetch.model.resolved:
            resolved[revision] = fetch.model.resolved
        kept_history = history.summary(kept, records, resolved, now)

    verdicts = _verdicts(ms, observed, revision, problems, fetch, decision)
    status = ModelServiceStatus(
        observed_generation=ms.metadata.generation,
        replicas=sum(health.replicas(d) for d in observed.deployments),
        ready_replicas=sum(health.ready_replicas(d) for d in observed.deployments),
        selector=pod_selector(ms),
        conditions=merge(ms.status.conditions, verdicts, now, ms.metadata.generation),
        endpoint=endpoint_url(ms),
        model=fetch.model if fetch is not None else None,
        revision=revision,
        traffic=decision.traffic if decision is not None else ms.status.traffic,
        stable_revision=decision.stable if decision is not None else ms.status.stable_revision,
        rollout=decision.rollout if decision is not None else ms.status.rollout,
        revisions=kept_history,
        preview=decision.preview if decision is not None else ms.status.preview,
    )
    events += _transition_events(ms.status, status)
    downloading = fetch is not None and fetch.phase in ("pending", "running", "retrying")
    requeue = decision.requeue_after if decision is not None else None
    if decision is not None and health.unschedulable(observed.pods) is not None:
        # Look again when the grace for an unschedulable pod runs out.
        requeue = min(requeue or UNSCHEDULABLE_GRACE_SECONDS, UNSCHEDULABLE_GRACE_SECONDS / 4)
    if downloading:
        requeue = min(requeue or DOWNLOAD_POLL_SECONDS, DOWNLOAD_POLL_SECONDS)
    return Plan(
        tuple(actions),
        status_patch(ms.status, status),
        tuple(events),
        requeue_after=requeue,
        analyzing=decision.analyzing if decision is not None else None,
    )


DOWNLOAD_POLL_SECONDS = 5.0


def parse_request(raw: str | None) -> tuple[rollout.Request | None, str | None]:
    """The modelplane.io/rollout-request annotation: {"id": ..., "action": ..., "full"?}."""
    if not raw:
        return None, None
    try:
        data = json.loads(raw)
        action = data["action"]
        if action not in rollout.ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        return rollout.Request(id=str(data["id"]), action=action, full=bool(data.get("full"))), None
    except (ValueError, KeyError, TypeError) as err:
        return None, (
            f"annotation {REQUEST_ANNOTATION} is not a rollout request ({err}); use "
            '`modelplane rollout promote|pause|resume|abort|retry` or {"id": "<unique>", '
            '"action": "promote"}'
        )


# A new revision's pod may wait this long for a GPU before the rollout gives up on it.
UNSCHEDULABLE_GRACE_SECONDS = 120.0


def _states(observed: Observed, now: datetime) -> dict[str, rollout.RevisionState]:
    states = {}
    for d in observed.deployments:
        rev = _revision(d)
        pods = [p for p in observed.pods if _revision(p) == rev]
        states[rev] = rollout.RevisionState(
            replicas=int((d.get("spec") or {}).get("replicas") or 0),
            ready=health.ready_replicas(d),
            problem=health.failing(pods)
            or health.unschedulable(pods, now, UNSCHEDULABLE_GRACE_SECONDS),
        )
    return states


def _resized(live: Obj, replicas: int) -> Deployment:
    """A live Deployment with another size: what we own of it, sent back unchanged."""
    meta = live["metadata"]
    kept = ("name", "namespace", "labels", "annotations", "ownerReferences")
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {k: meta[k] for k in kept if k in meta},
        "spec": {**live["spec"], "replicas": replicas},
    }
    return cast(Deployment, Deployment.from_dict(body))


def _deployment_events(ms: ModelService, obj: Deployment, seen: Obj | None) -> list[EventSpec]:
    assert obj.metadata is not None and obj.spec is not None
    rev = (obj.metadata.labels or {}).get(LABEL_REVISION, "")
    size = obj.spec.replicas
    if seen is None:
        message = f"revision {rev} created for {ms.spec.model.uri} with {size} replicas"
        return [EventSpec("Normal", "RevisionCreated", message)]
    before = (seen.get("spec") or {}).get("replicas")
    if before != size:
        return [EventSpec("Normal", "Scaled", f"revision {rev}: replicas {before} -> {size}")]
    return []


def _verdicts(
    ms: ModelService,
    observed: Observed,
    revision: str,
    problems: Sequence[tuple[str, str]],
    fetch: FetchState | None = None,
    decision: rollout.Decision | None = None,
) -> list[Verdict]:
    desired = ms.spec.replicas
    current = observed.deployment(child_name(ms, revision))
    current_pods = [p for p in observed.pods if _revision(p) == revision]
    ready = sum(health.ready_replicas(d) for d in observed.deployments)
    new_ready = health.ready_replicas(current)
    serving_pods = [p for p in observed.pods if _revision(p)]  # not the download Job's
    failing = health.failing(serving_pods)
    fetch_failed = fetch is not None and fetch.phase in ("retrying", "failed")
    ro = decision.rollout if decision is not None else None

    if problems:
        message = "; ".join(f"{path}: {msg}" for path, msg in problems)
        ready_v = Verdict(READY, "False", "InvalidSpec", message)
    elif ready >= desired:
        ready_v = (
            Verdict(READY, "True", "ScaledToZero", "0 replicas requested")
            if desired == 0
            else Verdict(READY, "True", "ReplicasReady", f"{ready}/{desired} replicas ready")
        )
    elif fetch is not None and fetch.phase != "done":
        reason = "ModelDownloadFailed" if fetch_failed else "ModelDownloading"
        ready_v = Verdict(READY, "False", reason, fetch.message)
    elif problem := health.unschedulable(current_pods):
        ready_v = Verdict(READY, "False", problem.reason, problem.message)
    elif failing is not None:
        ready_v = Verdict(READY, "False", failing.reason, failing.message)
    else:
        ready_v = Verdict(READY, "False", "ReplicasNotReady", f"{ready}/{desired} replicas ready")

    if problems:
        progressing = Verdict(PROGRESSING, "False", "InvalidSpec", "fix the spec to roll out")
    elif ro is not None and ro.revision == revision and ro.phase in rollout.IN_FLIGHT:
        reason = {"Progressing": "RollingOut"}.get(ro.phase, ro.phase)
        progressing = Verdict(PROGRESSING, "True", reason, f"revision {revision}: {ro.message}")
    elif ro is not None and ro.revision == revision and ro.phase in ("RolledBack", "Aborted"):
        progressing = Verdict(PROGRESSING, "False", ro.phase, ro.message)
    elif current is None or new_ready != desired or health.replicas(current) != desired:
        progressing = Verdict(
            PROGRESSING, "True", "Scaling", f"revision {revision}: {new_ready}/{desired} ready"
        )
    else:
        progressing = Verdict(
            PROGRESSING, "False", "Complete", f"revision {revision} serves {desired} replicas"
        )

    if decision is not None and decision.degraded is not None:
        degraded = Verdict(DEGRADED, "True", *decision.degraded)
    elif failing is not None:
        degraded = Verdict(DEGRADED, "True", failing.reason, failing.message)
    else:
        degraded = Verdict(DEGRADED, "False", "AsExpected", "")
    verdicts = [ready_v, progressing, degraded]
    if fetch is not None:
        if fetch.phase == "done":
            verdicts.append(Verdict(MODEL_CACHED, "True", "Cached", fetch.message))
        else:
            reason = "ModelDownloadFailed" if fetch_failed else "Downloading"
            verdicts.append(Verdict(MODEL_CACHED, "False", reason, fetch.message))
    return verdicts


# Degraded reasons the rollout already tells with its own, more specific event.
_ROLLOUT = frozenset({"RolledBack", "Aborted"})
# Ready=False reasons that are part of normal progress, not news.
_ROUTINE = frozenset({"ReplicasNotReady", "ScaledToZero", "ModelDownloading"})


def _transition_events(before: ModelServiceStatus, after: ModelServiceStatus) -> list[EventSpec]:
    """Events for what a human must know: a problem appears, or serving (re)starts.

    Decisions (revision created, scaled, retired) have their own events;
    routine progress (replicas starting, a rollout's Progressing condition)
    does not get one, so a thousand ModelServices do not flood the cluster.
    """
    events = []
    for cond in after.conditions:
        old = before.condition(cond.type)
        if old is not None and (old.status, old.reason) == (cond.status, cond.reason):
            continue
        problem = (
            cond.type == READY and cond.status == "False" and cond.reason not in _ROUTINE
        ) or (cond.type == DEGRADED and cond.status == "True" and cond.reason not in _ROLLOUT)
        if problem:
            events.append(
                EventSpec(
                    "Warning",
                    cond.reason,
                    f"{cond.type}=False: {cond.message}"
                    if cond.type == READY
                    else f"{cond.type}: {cond.message}",
                )
            )
        elif cond.type == READY and cond.status == "True":
            events.append(EventSpec("Normal", "Ready", cond.message))
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
