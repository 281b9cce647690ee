"""The rollout state machine: which revisions run, at what size, with what traffic.

One pure function, `decide`, takes the spec, the previous status (where the
state machine lives: stable revision, rollout step, analysis runs), what the
revisions' Deployments and pods show, an optional user request and an
optional analysis measurement, and returns the sizes, the traffic weights and
the new status. It never rewrites the spec: after a rollback the failed
template stays in the spec, and is not tried again until the spec changes or
a user asks for a retry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from pydantic import BaseModel

from modelplane.api.spec import ModelServiceSpec
from modelplane.api.status import (
    AnalysisStatus,
    ModelServiceStatus,
    Outcome,
    PreviewStatus,
    RolloutStatus,
    TrafficTarget,
)
from modelplane.reconcile import traffic as traffic_split
from modelplane.reconcile.analysis import RunResult, judge
from modelplane.reconcile.events import EventSpec
from modelplane.reconcile.health import Problem

# After a canary or rolling update completes, the old revision keeps its pods
# this long, so every gateway replica sees the new weights before they go.
RETIRE_DELAY_SECONDS = 5.0

_M = TypeVar("_M", bound=BaseModel)

Action = Literal["promote", "pause", "resume", "abort", "retry"]
ACTIONS: tuple[Action, ...] = ("promote", "pause", "resume", "abort", "retry")
IN_FLIGHT = ("Progressing", "Paused", "Analyzing", "Promoting")


@dataclass(frozen=True)
class RevisionState:
    """What a revision's Deployment and pods show."""

    replicas: int = 0
    ready: int = 0
    problem: Problem | None = None


@dataclass(frozen=True)
class Request:
    """A user's rollout request (the modelplane.io/rollout-request annotation)."""

    id: str
    action: Action
    full: bool = False


@dataclass
class Decision:
    replicas: dict[str, int]
    traffic: list[TrafficTarget]
    stable: str | None
    rollout: RolloutStatus | None
    outcomes: dict[str, tuple[Outcome, str]] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None
    # (reason, message) for Degraded=True; None: not degraded by the rollout.
    degraded: tuple[str, str] | None = None
    preview: PreviewStatus | None = None
    # (revision, stable) whose gateway metrics the controller should measure.
    analyzing: tuple[str, str | None] | None = None

    def wake(self, seconds: float) -> None:
        seconds = max(seconds, 0.5)
        self.requeue_after = (
            seconds if self.requeue_after is None else min(self.requeue_after, seconds)
        )


def _with(model: _M, **changes: object) -> _M:
    """A copy of a status model with some fields changed."""
    return model.model_copy(update=changes)


def decide(
    spec: ModelServiceSpec,
    status: ModelServiceStatus,
    target: str,
    states: Mapping[str, RevisionState],
    now: datetime,
    served: str,
    request: Request | None = None,
    run: RunResult | None = None,
    model_ready: bool = True,
    proven: frozenset[str] = frozenset(),
) -> Decision:
    stable = status.stable_revision
    if stable is not None and stable not in states and stable != target:
        stable = None  # its Deployment is gone: nothing to fall back to
    if stable is None:
        stable = _adopt(states, target)
    prev = status.rollout

    if stable is None:
        return _first(spec, target, states, now, prev)
    if target == stable:
        return _steady(spec, stable, states, now, prev, request)
    return _roll(spec, stable, target, states, now, prev, request, run, served, model_ready, proven)


def _adopt(states: Mapping[str, RevisionState], target: str) -> str | None:
    """Without a recorded stable revision (an upgrade from an older operator), the
    serving revision with the most ready pods is stable."""
    others = {rev: s for rev, s in states.items() if rev != target and s.ready > 0}
    if not others:
        return None
    return max(sorted(others), key=lambda rev: others[rev].ready)


def _first(
    spec: ModelServiceSpec,
    target: str,
    states: Mapping[str, RevisionState],
    now: datetime,
    prev: RolloutStatus | None,
) -> Decision:
    """Nothing serves yet: the revision comes up at full size, and is stable once ready."""
    n = spec.replicas
    state = states.get(target, RevisionState())
    decision = Decision(
        replicas={target: n},
        traffic=[TrafficTarget(revision=target, weight=100)],
        stable=None,
        rollout=None,
    )
    if state.ready >= n:
        decision.stable = target
        decision.outcomes[target] = ("Stable", "serving")
    # Other revisions without ready pods (an earlier first attempt) go away.
    return decision


def _steady(
    spec: ModelServiceSpec,
    stable: str,
    states: Mapping[str, RevisionState],
    now: datetime,
    prev: RolloutStatus | None,
    request: Request | None,
) -> Decision:
    decision = Decision(
        replicas={stable: spec.replicas},
        traffic=[TrafficTarget(revision=stable, weight=100)],
        stable=stable,
        rollout=prev,
        outcomes={stable: ("Stable", "serving")},
    )
    # Revisions that still serve (a rolling update stopped mid-way, stable not yet back
    # to size) go as stable takes over; a revision a finished rollout retired does not
    # count (it keeps its pods, without traffic, for the retire delay).
    retired = prev.from_revision if prev and prev.phase == "Succeeded" else None
    others = _draining(states, stable, *([retired] if retired else []))
    if others:
        own = states.get(stable, RevisionState())
        enough = spec.replicas - spec.rollout.rolling_update.max_unavailable
        slack = own.ready - enough
        decision.replicas.update(_shrink(others, sum(o.ready for o in others.values()) + slack))
        if own.ready < enough:
            ready = {stable: own.ready, **{r: o.ready for r, o in others.items()}}
            decision.traffic = traffic_split.by_ready_capacity(ready, newest=stable)
    if prev is not None and prev.revision != stable and prev.phase in IN_FLIGHT:
        # The spec went back to the stable template mid-rollout (undo).
        decision.outcomes[prev.revision] = ("Superseded", f"spec returned to {stable}")
        decision.events.append(
            EventSpec(
                "Normal",
                "RolloutSuperseded",
                f"revision {prev.revision} stopped: the spec is back at stable revision {stable}",
            )
        )
        decision.rollout = _back_at(spec, stable, prev)
    elif prev is not None and prev.revision != stable and prev.phase in ("RolledBack", "Aborted"):
        decision.rollout = _back_at(spec, stable, prev)
    elif prev is not None and prev.revision == stable and prev.phase == "Succeeded":
        _keep_previous_for_a_while(spec, decision, prev, states, now)
    if request is not None and (prev is None or request.id != prev.last_request):
        decision.events.append(
            EventSpec("Warning", "RequestIgnored", f"{request.action}: no rollout in progress")
        )
        base = decision.rollout or RolloutStatus(
            revision=stable, strategy=spec.rollout.strategy, phase="Succeeded"
        )
        decision.rollout = _with(base, last_request=request.id)
    return decision


def _back_at(spec: ModelServiceSpec, stable: str, prev: RolloutStatus) -> RolloutStatus:
    """The spec is at the stable template again: whatever stopped is over; going back
    to that template later is a new change, rolled out afresh."""
    return RolloutStatus(
        revision=stable,
        strategy=spec.rollout.strategy,
        phase="Succeeded",
        message=f"spec returned to stable revision {stable}; {prev.revision} {prev.phase.lower()}",
        last_request=prev.last_request,
    )


def _keep_previous_for_a_while(
    spec: ModelServiceSpec,
    decision: Decision,
    prev: RolloutStatus,
    states: Mapping[str, RevisionState],
    now: datetime,
) -> None:
    """After a switch the old revision keeps its pods for the scale-down delay: every
    gateway stops sending to it first, and a BlueGreen undo is instant."""
    old = prev.from_revision
    if old is None or old not in states or prev.step_started is None:
        return
    delay = (
        spec.rollout.blue_green.scale_down_delay_seconds
        if prev.strategy == "BlueGreen"
        else RETIRE_DELAY_SECONDS
    )
    left = delay - (now - prev.step_started).total_seconds()
    if left > 0:
        decision.replicas[old] = states[old].replicas
        decision.wake(left)


def _roll(
    spec: ModelServiceSpec,
    stable: str,
    target: str,
    states: Mapping[str, RevisionState],
    now: datetime,
    prev: RolloutStatus | None,
    request: Request | None,
    run: RunResult | None,
    served: str,
    model_ready: bool,
    proven: frozenset[str],
) -> Decision:
    n = spec.replicas
    strategy = spec.rollout.strategy
    decision = Decision(
        replicas={stable: n},
        traffic=[TrafficTarget(revision=stable, weight=100)],
        stable=stable,
        rollout=prev,
        outcomes={stable: ("Stable", "serving")},
    )
    if prev is None or prev.revision != target:
        if prev is not None and prev.phase in IN_FLIGHT and prev.revision != stable:
            decision.outcomes[prev.revision] = ("Superseded", f"replaced by {target}")
            decision.events.append(
                EventSpec(
                    "Normal",
                    "RolloutSuperseded",
                    f"revision {prev.revision} superseded by {target} before it finished",
                )
            )
        prev = RolloutStatus(
            revision=target,
            strategy=strategy,
            from_revision=stable,
            phase="Progressing",
            step=0 if strategy == "Canary" else None,
            step_started=now,
            last_request=prev.last_request if prev else None,
        )
        decision.events.append(
            EventSpec("Normal", "RolloutStarted", f"{strategy} from revision {stable} to {target}")
        )
        ready_now = states.get(target, RevisionState()).ready
        if target in proven and ready_now >= n > 0:
            # A rollback to a revision that served before and is still up (BlueGreen's
            # scale-down delay): no gate to pass, switch at once.
            decision.replicas[target] = n
            decision.rollout = _promoted(decision, prev, stable, target, now)
            decision.rollout = _with(
                decision.rollout,
                message=f"revision {target} served before and is still up: switched at once",
            )
            return decision
    state = states.get(target, RevisionState())
    ro = prev

    # A user request, once per id.
    if request is not None and request.id != ro.last_request:
        ro = _with(ro, last_request=request.id)
        ro, note = _apply_request(spec, ro, request, now)
        if note:
            decision.events.append(EventSpec("Normal", f"Rollout{request.action.title()}", note))

    if ro.phase in ("RolledBack", "Aborted"):
        decision.replicas[target] = 0
        decision.outcomes[target] = (
            "RolledBack" if ro.phase == "RolledBack" else "Aborted",
            ro.message,
        )
        decision.degraded = (ro.phase, ro.message)
        decision.rollout = _with(ro, weight=0)
        return decision

    # Automatic rollback: pods that cannot run, or no progress in time.
    if not model_ready:  # the download is not the pods' fault: no deadline while it runs
        ro = _with(ro, step_started=now)
    failure = _failure(spec, ro, state, now)
    if failure is not None:
        return _rollback(decision, ro, target, failure)

    decision.outcomes[target] = ("Progressing", "")
    if strategy == "RollingUpdate":
        ro = _rolling(spec, decision, ro, stable, target, states, now)
    elif strategy == "Canary":
        ro = _canary(spec, decision, ro, stable, target, state, now, run)
    else:
        ro = _blue_green(spec, decision, ro, stable, target, state, now, run, served)
    if ro.phase == "RolledBack":
        return _rollback(decision, ro, target, ro.message)
    decision.rollout = ro
    if ro.phase in ("Progressing", "Promoting"):
        deadline = spec.rollout.progress_deadline_seconds
        assert ro.step_started is not None
        decision.wake(deadline - (now - ro.step_started).total_seconds() + 0.5)
    return decision


def _apply_request(
    spec: ModelServiceSpec, ro: RolloutStatus, request: Request, now: datetime
) -> tuple[RolloutStatus, str]:
    action = request.action
    if action == "pause":
        return _with(ro, paused=True), f"revision {ro.revision} paused"
    if action == "resume":
        return _with(ro, paused=False, step_started=now), f"revision {ro.revision} resumed"
    if action == "abort":
        if ro.phase not in IN_FLIGHT:
            return ro, ""
        return _with(ro, phase="Aborted", message="aborted by a user request"), (
            f"revision {ro.revision} aborted; stable keeps all traffic"
        )
    if action == "retry":
        if ro.phase not in ("RolledBack", "Aborted"):
            return ro, ""
        return (
            _with(
                ro,
                phase="Progressing",
                step=0 if ro.step is not None else None,
                step_started=now,
                paused=False,
                analysis=None,
                message="retried",
            ),
            f"revision {ro.revision} retried from the start",
        )
    # promote
    if ro.phase not in IN_FLIGHT:
        return ro, ""
    if request.full or spec.rollout.strategy != "Canary":
        return _with(ro, phase="Promoting", paused=False, step_started=now, analysis=None), (
            f"revision {ro.revision} promoted"
        )
    return _next_step(spec, _with(ro, paused=False), now), (
        f"revision {ro.revision} promoted past step {ro.step}"
    )


def _failure(
    spec: ModelServiceSpec, ro: RolloutStatus, state: RevisionState, now: datetime
) -> str | None:
    if state.problem is not None:
        return f"{state.problem.reason}: {state.problem.message}"
    if (
        spec.replicas > 0
        and ro.phase in ("Progressing", "Promoting")
        and not ro.paused
        and ro.step_started is not None
    ):
        waited = (now - ro.step_started).total_seconds()
        if waited > spec.rollout.progress_deadline_seconds:
            return (
                f"progress deadline exceeded: {state.ready} ready after {waited:.0f} s "
                f"(progressDeadlineSeconds {spec.rollout.progress_deadline_seconds})"
            )
    return None


def _rollback(decision: Decision, ro: RolloutStatus, target: str, cause: str) -> Decision:
    assert decision.stable is not None
    decision.replicas[target] = 0
    decision.traffic = [TrafficTarget(revision=decision.stable, weight=100)]
    decision.preview = None
    decision.analyzing = None
    message = f"rolled back to {decision.stable}: {cause}"
    decision.outcomes[target] = ("RolledBack", cause)
    decision.degraded = ("RolledBack", message)
    decision.rollout = _with(ro, phase="RolledBack", weight=0, message=message)
    decision.events.append(EventSpec("Warning", "RolledBack", f"revision {target} {message}"))
    decision.requeue_after = None
    return decision


def _rolling(
    spec: ModelServiceSpec,
    decision: Decision,
    ro: RolloutStatus,
    stable: str,
    target: str,
    states: Mapping[str, RevisionState],
    now: datetime,
) -> RolloutStatus:
    """Move replicas within maxSurge/maxUnavailable; traffic follows ready capacity."""
    n = spec.replicas
    surge, unavailable = (
        spec.rollout.rolling_update.max_surge,
        spec.rollout.rolling_update.max_unavailable,
    )
    old, new = states.get(stable, RevisionState()), states.get(target, RevisionState())
    # A superseded revision's ready pods count as old capacity until the new one replaces them.
    olds = {**_draining(states, stable, target), stable: old}
    old_replicas = sum(s.replicas for s in olds.values())
    if ro.phase == "Promoting":  # a promote request: everything on the new revision at once
        new_size = n
        sizes = {r: (s.replicas if new.ready < n else 0) for r, s in olds.items()}
    elif ro.paused:
        new_size, sizes = new.replicas, {r: s.replicas for r, s in olds.items()}
    else:
        new_size = min(n, max(new.replicas, n + surge - old_replicas))
        sizes = _shrink(olds, sum(s.ready for s in olds.values()) + new.ready - (n - unavailable))
        if new.ready >= n:
            sizes = dict.fromkeys(olds, 0)
    old_size = sum(sizes.values())
    decision.replicas = {**sizes, target: new_size}
    ready = {**{r: s.ready for r, s in olds.items()}, target: new.ready}
    decision.traffic = traffic_split.by_ready_capacity(ready, newest=stable)
    weight = next((t.weight for t in decision.traffic if t.revision == target), 0)
    progressed = new.ready > _ready_in(ro)
    if new.ready >= n and old_size == 0:
        return _promoted(decision, ro, stable, target, now)
    phase = "Paused" if ro.paused else "Progressing"
    return _with(
        ro,
        phase=phase,
        weight=weight,
        # The deadline counts from the last progress, as a Deployment's does.
        step_started=now if progressed else ro.step_started,
        message=f"{new.ready}/{n} new ready, {old.ready} old ready",
        step=None,
        analysis=AnalysisStatus(passed=new.ready) if progressed else ro.analysis,
    )


def _clock(start: datetime, seconds: float) -> str:
    """An absolute time for status messages: a countdown would change every pass."""
    return f"{start + timedelta(seconds=seconds):%H:%M:%S}Z"


def _draining(states: Mapping[str, RevisionState], *live: str) -> dict[str, RevisionState]:
    """Other revisions that still serve (a superseded rollout's): drained, not dropped."""
    return {r: s for r, s in sorted(states.items()) if r not in live and s.ready > 0}


def _shrink(olds: Mapping[str, RevisionState], removable: int) -> dict[str, int]:
    """Sizes after removing unready pods and up to ``removable`` ready ones, in order."""
    sizes, removable = {}, max(0, removable)
    for rev, s in olds.items():
        drop = min(s.ready, removable)
        removable -= drop
        sizes[rev] = s.ready - drop
    return sizes


def _ready_in(ro: RolloutStatus) -> int:
    """Ready new replicas at the last progress (kept in analysis.passed for RollingUpdate)."""
    return ro.analysis.passed if ro.analysis is not None else 0


def _canary_size(spec: ModelServiceSpec, step: int) -> int:
    assert spec.rollout.canary is not None
    s = spec.rollout.canary.steps[step]
    if s.replicas is not None:
        return s.replicas
    return max(1, math.ceil(spec.replicas * s.weight / 100))


def _canary(
    spec: ModelServiceSpec,
    decision: Decision,
    ro: RolloutStatus,
    stable: str,
    target: str,
    state: RevisionState,
    now: datetime,
    run: RunResult | None,
) -> RolloutStatus:
    assert spec.rollout.canary is not None
    steps = spec.rollout.canary.steps
    n = spec.replicas
    if ro.phase == "Promoting" or (ro.step is not None and ro.step >= len(steps)):
        return _promote_fully(decision, ro, stable, target, state, n, now)
    step_index = min(ro.step or 0, len(steps) - 1)
    step = steps[step_index]
    if n == 0:  # scaled to zero: nothing serves, nothing to judge; the deadline restarts
        decision.replicas = {stable: 0, target: 0}
        # Paused: no deadline runs, and scaling up starts the step's clock afresh.
        return _with(
            ro,
            phase="Paused",
            weight=0,
            message=f"step {step_index}: scaled to zero; the canary continues when scaled up",
        )
    size = _canary_size(spec, step_index)
    # Stable stays at full size until the canary is promoted.
    decision.replicas = {stable: n, target: max(size, state.replicas) if ro.paused else size}
    if state.ready < size:
        # While the next step's pods start, the previous step's weight holds if it can.
        held = 0
        if step_index > 0 and state.ready >= _canary_size(spec, step_index - 1):
            held = steps[step_index - 1].weight
        decision.traffic = (
            _weights(stable, target, held) if held else [TrafficTarget(revision=stable, weight=100)]
        )
        return _with(
            ro,
            phase="Paused" if ro.paused else "Progressing",
            weight=held,
            step_started=_waiting_since(ro, now),
            message=f"step {step_index}: {state.ready}/{size} canary replicas ready",
        )
    decision.traffic = _weights(stable, target, step.weight)
    ro = _with(ro, weight=step.weight)
    if ro.phase == "Progressing":  # just became ready at this step: the gate starts now
        ro = _with(
            ro,
            phase="Analyzing" if step.analysis else "Paused",
            step_started=now,
            analysis=AnalysisStatus() if step.analysis else None,
        )
    if ro.paused:
        return _with(ro, phase="Paused", message=f"step {step_index}: paused by a user request")
    if step.manual:
        return _with(
            ro, phase="Paused", message=f"step {step_index} ({step.weight}%): waiting for promote"
        )
    if step.pause_seconds is not None:
        assert ro.step_started is not None
        left = step.pause_seconds - (now - ro.step_started).total_seconds()
        if left > 0:
            decision.wake(left)
            return _with(
                ro,
                phase="Paused",
                message=f"step {step_index} ({step.weight}%): pausing until "
                f"{_clock(ro.step_started, step.pause_seconds)}",
            )
        return _canary(spec, decision, _next_step(spec, ro, now), stable, target, state, now, run)
    if step.analysis:
        ro, verdict = _analyse(spec, decision, ro, stable, target, now, run, f"step {step_index}")
        if verdict != "pass":
            return ro
        decision.analyzing = None
        return _canary(spec, decision, _next_step(spec, ro, now), stable, target, state, now, None)
    return _canary(spec, decision, _next_step(spec, ro, now), stable, target, state, now, run)


def _waiting_since(ro: RolloutStatus, now: datetime) -> datetime | None:
    """The deadline runs from when a step started waiting for pods, not from its gate."""
    if ro.phase in ("Progressing", "Promoting") or ro.paused:
        return ro.step_started
    return now  # it was at its gate (Paused/Analyzing) and lost capacity: wait anew


def _next_step(spec: ModelServiceSpec, ro: RolloutStatus, now: datetime) -> RolloutStatus:
    assert spec.rollout.canary is not None
    step = (ro.step or 0) + 1
    if step >= len(spec.rollout.canary.steps):
        return _with(
            ro,
            phase="Promoting",
            step=step,
            step_started=now,
            analysis=None,
            message="all steps passed: promoting",
        )
    return _with(ro, phase="Progressing", step=step, step_started=now, analysis=None)


def _analyse(
    spec: ModelServiceSpec,
    decision: Decision,
    ro: RolloutStatus,
    stable: str,
    target: str,
    now: datetime,
    run: RunResult | None,
    where: str,
) -> tuple[RolloutStatus, str]:
    """Count one analysis run if the controller measured one; pass, fail or keep going.

    The caller moves on when the returned verdict is "pass"; on "fail" the
    returned status is RolledBack.
    """
    analysis = spec.rollout.analysis
    assert analysis is not None and ro.step_started is not None
    counts = ro.analysis or AnalysisStatus()
    delay = analysis.initial_delay_seconds - (now - ro.step_started).total_seconds()
    if delay > 0:
        decision.wake(delay)
        return _with(
            ro,
            phase="Analyzing",
            analysis=counts,
            message=f"{where}: analysis starts at "
            f"{_clock(ro.step_started, analysis.initial_delay_seconds)}",
        ), "wait"
    decision.analyzing = (target, stable)
    decision.wake(analysis.interval_seconds)
    if run is not None:
        verdict, figures = judge(analysis, run)
        if verdict == "inconclusive" and analysis.inconclusive == "Rollback":
            verdict = "fail"
        counts = _with(
            counts,
            passed=counts.passed + (verdict == "pass"),
            failed=counts.failed + (verdict == "fail"),
            inconclusive=counts.inconclusive + (verdict == "inconclusive"),
            last=f"{verdict}: {figures}"[:1024],
        )
        if counts.failed > analysis.failure_limit:
            return _with(
                ro,
                phase="RolledBack",
                analysis=counts,
                message=f"{where} analysis failed: {figures}",
            ), "fail"
        if counts.passed >= analysis.count:
            return _with(ro, analysis=counts), "pass"
    return _with(
        ro,
        phase="Analyzing",
        analysis=counts,
        message=f"{where}: analysis {counts.passed}/{analysis.count} passed, "
        f"{counts.failed} failed, {counts.inconclusive} inconclusive",
    ), "wait"


def _weights(stable: str, target: str, weight: int) -> list[TrafficTarget]:
    return sorted(
        [
            TrafficTarget(revision=stable, weight=100 - weight),
            TrafficTarget(revision=target, weight=weight),
        ],
        key=lambda t: t.revision,
    )


def _promote_fully(
    decision: Decision,
    ro: RolloutStatus,
    stable: str,
    target: str,
    state: RevisionState,
    n: int,
    now: datetime,
) -> RolloutStatus:
    """Bring the new revision to full size; switch all traffic once it is ready."""
    decision.replicas = {stable: n, target: n}
    if state.ready < n:
        return _with(ro, phase="Promoting", message=f"promoting: {state.ready}/{n} ready")
    return _promoted(decision, ro, stable, target, now)


def _promoted(
    decision: Decision, ro: RolloutStatus, stable: str, target: str, now: datetime
) -> RolloutStatus:
    decision.traffic = [TrafficTarget(revision=target, weight=100)]
    decision.stable = target
    decision.outcomes = {
        stable: ("Retired", f"replaced by {target}"),
        target: ("Stable", "serving"),
    }
    decision.events.append(
        EventSpec("Normal", "RolloutSucceeded", f"revision {target} is stable; {stable} retired")
    )
    decision.preview = None
    decision.wake(0.5)
    return _with(
        ro,
        phase="Succeeded",
        weight=100,
        step_started=now,
        analysis=None,
        message=f"revision {target} is stable",
    )


def _blue_green(
    spec: ModelServiceSpec,
    decision: Decision,
    ro: RolloutStatus,
    stable: str,
    target: str,
    state: RevisionState,
    now: datetime,
    run: RunResult | None,
    served: str,
) -> RolloutStatus:
    n = spec.replicas
    bg = spec.rollout.blue_green
    decision.replicas = {stable: n, target: n}
    decision.traffic = [TrafficTarget(revision=stable, weight=100)]
    decision.preview = PreviewStatus(model=bg.preview_name or f"{served}-preview", revision=target)
    if state.ready < n:
        return _with(
            ro,
            phase="Promoting"
            if ro.phase == "Promoting"
            else ("Paused" if ro.paused else "Progressing"),
            weight=0,
            step_started=_waiting_since(ro, now),
            message=f"preview {state.ready}/{n} ready",
        )
    if ro.phase == "Promoting" or (bg.promotion == "Auto" and not ro.paused):
        return _promoted(decision, ro, stable, target, now)
    if ro.phase == "Progressing":
        ro = _with(
            ro,
            step_started=now,
            phase="Analyzing" if bg.promotion == "Analysis" else "Paused",
            analysis=AnalysisStatus() if bg.promotion == "Analysis" else None,
        )
    if ro.paused or bg.promotion == "Manual":
        return _with(
            ro,
            phase="Paused",
            message=(f"preview ready as model {decision.preview.model}: waiting for promote"),
        )
    ro, verdict = _analyse(spec, decision, ro, stable, target, now, run, "preview")
    if verdict == "pass":
        decision.analyzing = None
        return _promoted(decision, ro, stable, target, now)
    return ro
