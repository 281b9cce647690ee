"""Rollouts walked step by step through the real plan, with a simulated cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.unit.rollout_sim import CONFIG, Sim

from modelplane.api.resource import ModelService
from modelplane.builders import template_hash
from modelplane.reconcile.analysis import RunResult

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def ms(rollout: dict[str, Any] | None = None, replicas: int = 4, **spec: Any) -> ModelService:
    return ModelService.parse(
        {
            "apiVersion": "modelplane.io/v1alpha1",
            "kind": "ModelService",
            "metadata": {"name": "chat", "namespace": "team-a", "uid": "u-1", "generation": 1},
            "spec": {
                "model": {"uri": "hf://org/model@v1"},
                "resources": {"gpus": 1, "gpuProduct": "NVIDIA-L4"},
                "replicas": replicas,
                "rollout": rollout or {},
                **spec,
            },
        }
    )


CANARY = {
    "strategy": "Canary",
    "canary": {
        "steps": [
            {"weight": 10, "pauseSeconds": 30},
            {"weight": 50, "manual": True},
            {"weight": 50, "analysis": True},
        ]
    },
    "analysis": {"intervalSeconds": 10, "count": 2, "maxErrorRate": 0.05},
}
GOOD = RunResult(requests=100, errors=1)
BAD = RunResult(requests=100, errors=30)


def started(rollout: dict[str, Any], replicas: int = 4) -> tuple[Sim, str, str]:
    """A settled v1, then a change to v2 (not yet ready)."""
    sim = Sim(ms(rollout, replicas=replicas), NOW)
    sim.settle()
    stable = sim.status.stable_revision
    assert stable is not None
    sim.change(model={"uri": "hf://org/model@v2"})
    target = template_hash(sim.ms, CONFIG)
    sim.ready[target] = 0
    sim.step()
    return sim, stable, target


def request(sim: Sim, action: str, n: int, **extra: Any) -> None:
    sim.annotate(
        "modelplane.io/rollout-request", json.dumps({"id": f"r{n}", "action": action, **extra})
    )


def test_canary_walks_its_steps_and_promotes() -> None:
    sim, stable, canary = started(CANARY)
    # Step 0: one canary replica (10% of 4, at least 1); no traffic until it is ready.
    assert sim.deployments() == {stable: 4, canary: 1}
    assert sim.traffic() == {stable: 100}
    sim.ready[canary] = None
    sim.step()
    assert sim.traffic() == {stable: 90, canary: 10}
    assert sim.status.rollout.phase == "Paused" and "pausing" in sim.status.rollout.message
    assert sim.last.requeue_after is not None and sim.last.requeue_after <= 30
    sim.step(31)  # the pause is over: step 1, 50% needs 2 replicas
    sim.step()
    assert sim.deployments() == {stable: 4, canary: 2}  # stable never shrinks during a canary
    assert sim.traffic() == {stable: 50, canary: 50}
    assert sim.status.rollout.step == 1 and "waiting for promote" in sim.status.rollout.message
    sim.step(600)  # a manual gate waits as long as it takes: no deadline once ready
    assert sim.status.rollout.phase == "Paused"
    request(sim, "promote", 1)
    sim.step()
    assert sim.status.rollout.step == 2 and sim.status.rollout.phase == "Analyzing"
    assert sim.last.analyzing == (canary, stable)
    sim.step(10, analysis_run=GOOD)
    assert sim.status.rollout.analysis.passed == 1
    sim.step(10, analysis_run=GOOD)  # second passing run: promote to full size
    sim.settle(seconds=1)
    assert sim.status.stable_revision == canary
    assert sim.deployments() == {canary: 4}
    assert sim.traffic() == {canary: 100}
    assert {r.revision: r.outcome for r in sim.status.revisions} == {
        stable: "Retired",
        canary: "Stable",
    }
    assert "Normal/RolloutSucceeded" in sim.events
    writes = sim.writes
    sim.step(60)
    assert sim.writes == writes  # settled: nothing to write


def test_crash_looping_canary_rolls_back_and_is_not_retried_until_asked() -> None:
    sim, stable, canary = started(CANARY)
    sim.pods = [_crashing(canary)]
    sim.step()
    st = sim.status
    assert st.rollout.phase == "RolledBack" and "CrashLoopBackOff" in st.rollout.message
    assert sim.traffic() == {stable: 100} and sim.deployments() == {stable: 4, canary: 0}
    degraded = st.condition("Degraded")
    assert degraded.status == "True" and degraded.reason == "RolledBack"
    assert sim.ms.spec.model.uri == "hf://org/model@v2"  # the spec is not rewritten
    sim.pods = []
    sim.step(120)
    assert sim.deployments()[canary] == 0  # not retried on its own
    assert "Warning/RolledBack" in sim.events
    request(sim, "retry", 1)
    sim.step()
    assert sim.status.rollout.phase == "Progressing" and sim.deployments()[canary] == 1
    assert sim.status.condition("Degraded").status == "False"


def test_failed_analysis_rolls_back_with_the_figures() -> None:
    rollout = {**CANARY, "canary": {"steps": [{"weight": 20, "analysis": True}]}}
    sim, stable, canary = started(rollout)
    sim.ready[canary] = None
    sim.step()
    sim.step(10, analysis_run=BAD)
    st = sim.status
    assert st.rollout.phase == "RolledBack"
    assert "error rate 0.3 > 0.05" in st.rollout.message
    assert sim.traffic() == {stable: 100}
    assert [r.outcome for r in st.revisions if r.revision == canary] == ["RolledBack"]


def test_too_few_requests_hold_or_roll_back_as_configured() -> None:
    rollout = {**CANARY, "canary": {"steps": [{"weight": 20, "analysis": True}]}}
    sim, _, canary = started(rollout)
    sim.ready[canary] = None
    sim.step()
    sim.step(10, analysis_run=RunResult(requests=3, errors=0))
    assert sim.status.rollout.phase == "Analyzing" and sim.status.rollout.analysis.inconclusive == 1
    strict = {**rollout, "analysis": {**rollout["analysis"], "inconclusive": "Rollback"}}
    sim, _, canary = started(strict)
    sim.ready[canary] = None
    sim.step()
    sim.step(10, analysis_run=RunResult(requests=3, errors=0))
    assert sim.status.rollout.phase == "RolledBack" and "minRequests" in sim.status.rollout.message


def test_progress_deadline_exceeded_rolls_back() -> None:
    rollout = {**CANARY, "progressDeadlineSeconds": 60}
    sim, stable, _canary = started(rollout)
    sim.step(30)
    assert sim.status.rollout.phase == "Progressing"
    sim.step(31)
    assert sim.status.rollout.phase == "RolledBack"
    assert "progress deadline exceeded" in sim.status.rollout.message
    assert sim.traffic() == {stable: 100}


def test_pause_resume_and_abort() -> None:
    sim, stable, canary = started({"strategy": "RollingUpdate"})
    request(sim, "pause", 1)
    sim.step()
    assert sim.status.rollout.paused and sim.status.rollout.phase == "Paused"
    sim.ready[canary] = None
    sim.step(1000)  # paused: neither moving nor timing out
    assert sim.deployments() == {stable: 4, canary: 1} and sim.status.rollout.phase == "Paused"
    request(sim, "resume", 2)
    sim.step()
    sim.step()
    assert not sim.status.rollout.paused and sim.deployments()[canary] > 1
    request(sim, "abort", 3)
    sim.step()
    assert sim.status.rollout.phase == "Aborted"
    assert sim.deployments()[canary] == 0 and sim.traffic() == {stable: 100}
    assert sim.status.condition("Degraded").reason == "Aborted"


def test_a_second_change_supersedes_the_first_cleanly() -> None:
    sim, stable, middle = started(CANARY)
    sim.change(model={"uri": "hf://org/model@v3"})
    last = template_hash(sim.ms, CONFIG)
    sim.ready[last] = 0
    sim.step()
    assert middle not in sim.deployments()  # no orphaned Deployment
    assert sim.deployments() == {stable: 4, last: 1}
    outcomes = {r.revision: r.outcome for r in sim.status.revisions}
    assert outcomes == {stable: "Stable", middle: "Superseded", last: "Progressing"}
    assert "Normal/RolloutSuperseded" in sim.events


def test_going_back_to_stable_mid_rollout_stops_it() -> None:
    sim, stable, canary = started(CANARY)
    sim.ready[canary] = None
    sim.step()
    assert sim.traffic() == {stable: 90, canary: 10}
    sim.change(model={"uri": "hf://org/model@v1"})  # a rollback while the canary runs
    sim.settle()
    assert sim.traffic() == {stable: 100} and sim.deployments() == {stable: 4}
    assert {r.revision: r.outcome for r in sim.status.revisions}[canary] == "Superseded"


def test_scaling_during_a_canary_does_not_restart_it() -> None:
    sim, stable, canary = started(CANARY)
    sim.ready[canary] = None
    sim.step()
    sim.step(31)
    sim.step()
    assert sim.status.rollout.step == 1
    sim.change(replicas=10)
    sim.step()
    assert sim.status.rollout.step == 1 and sim.status.rollout.revision == canary
    assert sim.deployments() == {stable: 10, canary: 5}


def test_blue_green_previews_then_switches_at_once_and_keeps_the_old_for_undo() -> None:
    sim, blue, green = started(
        {"strategy": "BlueGreen", "blueGreen": {"scaleDownDelaySeconds": 60}}
    )
    assert sim.deployments() == {blue: 4, green: 4}  # full size, no public traffic
    assert sim.traffic() == {blue: 100}
    assert sim.status.preview.model == "chat-preview" and sim.status.preview.revision == green
    sim.ready[green] = None
    sim.step()
    assert (
        sim.status.rollout.phase == "Paused" and "waiting for promote" in sim.status.rollout.message
    )
    request(sim, "promote", 1)
    sim.step()
    assert sim.traffic() == {green: 100} and sim.status.stable_revision == green
    assert sim.status.preview is None
    sim.step(10)
    assert sim.deployments() == {blue: 4, green: 4}  # kept for an instant rollback
    # Undo: back to the blue template; it is up and was stable, so it switches at once.
    sim.change(model={"uri": "hf://org/model@v1"})
    sim.step()
    assert sim.traffic() == {blue: 100} and sim.status.stable_revision == blue
    sim.settle(seconds=30)
    assert sim.deployments() == {blue: 4}


def test_blue_green_after_the_delay_retires_the_old() -> None:
    sim, _blue, green = started(
        {"strategy": "BlueGreen", "blueGreen": {"promotion": "Auto", "scaleDownDelaySeconds": 20}}
    )
    sim.ready[green] = None
    sim.step()
    assert sim.traffic() == {green: 100}
    sim.settle(seconds=5)
    assert sim.deployments() == {green: 4}


def test_history_is_trimmed_to_the_limit_and_undo_renumbers() -> None:
    sim = Sim(ms({"strategy": "RollingUpdate"}, revisionHistoryLimit=3), NOW)
    sim.settle()
    first = sim.status.stable_revision
    for version in range(2, 6):
        sim.change(model={"uri": f"hf://org/model@v{version}"})
        sim.settle(seconds=10)
    records = sim.records()
    assert len(records) == 3 and first not in records
    assert sorted(r["revision"] for r in records.values()) == [3, 4, 5]
    assert [r.number for r in sim.status.revisions] == [5, 4, 3]
    # Undo to a kept revision: it becomes number 6, as kubectl rollout undo does.
    sim.change(model={"uri": "hf://org/model@v3"})
    sim.settle(seconds=10)
    v3 = template_hash(sim.ms, CONFIG)
    assert sim.records()[v3]["revision"] == 6 and sim.status.stable_revision == v3


def _crashing(revision: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"chat-{revision}-x",
            "labels": {"modelplane.io/modelservice": "chat", "modelplane.io/revision": revision},
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "vllm",
                    "ready": False,
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                }
            ],
        },
    }


# ---- regressions found in review -------------------------------------------------


def test_instant_undo_keeps_the_revision_it_switches_to() -> None:
    sim, blue, green = started(
        {"strategy": "BlueGreen", "blueGreen": {"scaleDownDelaySeconds": 60}}
    )
    sim.ready[green] = None
    sim.step()
    request(sim, "promote", 1)
    sim.step()
    sim.step(5)
    sim.change(model={"uri": "hf://org/model@v1"})
    sim.step()
    # Weight 100 on blue in the same pass that keeps blue's Deployment: never deleted.
    assert sim.traffic() == {blue: 100} and sim.deployments()[blue] == 4


def test_superseding_a_rolling_update_keeps_ready_capacity() -> None:
    sim, a, b = started({"strategy": "RollingUpdate"}, replicas=4)
    for ready in (1, 2, 3):
        sim.ready[b] = ready
        sim.step()
        sim.step()
    before = sim.deployments()
    assert before[a] < 4  # A was already scaled down for B
    sim.change(model={"uri": "hf://org/model@v3"})
    c = template_hash(sim.ms, CONFIG)
    sim.ready[c] = 0
    sim.step()
    sizes = sim.deployments()
    ready_now = min(sizes[a], 4) + min(sizes.get(b, 0), sim.ready[b] or 0)
    assert ready_now >= 4  # maxUnavailable 0: B's ready pods drain only as C's come up
    assert set(sim.traffic()) <= {a, b} and sum(sim.traffic().values()) == 100


def test_losing_a_pod_after_a_long_gate_does_not_miss_the_deadline() -> None:
    sim, _stable, canary = started(CANARY)
    sim.ready[canary] = None
    sim.step()
    sim.step(31)
    sim.step()
    assert "waiting for promote" in sim.status.rollout.message
    sim.step(3600)  # a manual gate overnight
    sim.ready[canary] = 1  # one canary pod restarts
    sim.step()
    sim.step(5)
    assert sim.status.rollout.phase == "Progressing"
    sim.ready[canary] = None
    sim.step()
    assert sim.status.rollout.phase == "Paused"


def test_reapplying_a_template_after_going_back_rolls_it_out_afresh() -> None:
    sim, _stable, canary = started(CANARY)
    sim.pods = [_crashing(canary)]
    sim.step()
    assert sim.status.rollout.phase == "RolledBack"
    sim.pods = []
    sim.change(model={"uri": "hf://org/model@v1"})
    sim.settle()
    sim.change(model={"uri": "hf://org/model@v2"})  # the fix is in the image now, say
    sim.step()
    assert sim.status.rollout.phase == "Progressing" and sim.deployments()[canary] == 1
    assert sim.status.condition("Degraded").status == "False"


def test_blue_green_promote_before_the_preview_is_ready_is_kept() -> None:
    sim, _blue, green = started({"strategy": "BlueGreen"})
    sim.ready[green] = 3
    sim.step()
    request(sim, "promote", 1)
    sim.step()
    sim.ready[green] = None
    sim.step()
    assert sim.status.stable_revision == green and sim.traffic() == {green: 100}


def test_pause_holds_an_auto_promotion() -> None:
    sim, blue, green = started({"strategy": "BlueGreen", "blueGreen": {"promotion": "Auto"}})
    request(sim, "pause", 1)
    sim.step()
    sim.ready[green] = None
    sim.step()
    assert sim.traffic() == {blue: 100} and sim.status.rollout.phase == "Paused"


def test_scaled_to_zero_mid_canary_runs_nothing_and_misses_no_deadline() -> None:
    sim, stable, canary = started(CANARY)
    sim.change(replicas=0)
    sim.step()
    assert sim.deployments() == {stable: 0, canary: 0}
    sim.step(3600)
    assert sim.status.rollout.phase == "Paused"
    writes = sim.writes
    sim.step(60)
    assert sim.writes == writes  # no status churn while it waits
    sim.change(replicas=4)
    sim.ready[canary] = None
    sim.step()
    sim.step()
    assert sim.status.rollout.phase in ("Paused", "Progressing")
    assert sim.status.rollout.phase != "RolledBack"


def test_waiting_writes_nothing_and_a_bad_request_is_told_once() -> None:
    sim, _stable, canary = started(CANARY)
    sim.ready[canary] = None
    sim.step()
    writes = sim.writes
    for _ in range(5):
        sim.step(1)  # pausing: the message names a time, not a countdown
    assert sim.writes == writes
    sim.annotate("modelplane.io/rollout-request", "promote please")
    for _ in range(5):
        sim.step(1)
    assert sim.events.count("Warning/InvalidRequest") == 1


def test_a_rollback_is_one_warning_event() -> None:
    sim, _stable, canary = started(CANARY)
    sim.pods = [_crashing(canary)]
    sim.step()
    assert sim.events.count("Warning/RolledBack") == 1


def test_unschedulable_canary_gets_a_grace_before_rolling_back() -> None:
    sim, _stable, canary = started(CANARY)
    since = sim.now.isoformat()
    sim.pods = [
        {
            "metadata": {
                "name": f"chat-{canary}-p",
                "labels": {"modelplane.io/modelservice": "chat", "modelplane.io/revision": canary},
            },
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/7 nodes are available: Insufficient nvidia.com/gpu.",
                        "lastTransitionTime": since,
                    }
                ],
            },
        }
    ]
    sim.step(30)  # a GPU may be freed by a draining pod, or a node added: wait
    assert sim.status.rollout.phase == "Progressing"
    assert sim.last is not None and sim.last.requeue_after is not None
    sim.step(100)
    assert sim.status.rollout.phase == "RolledBack"
    assert "Insufficient nvidia.com/gpu" in sim.status.rollout.message


def test_a_full_history_still_fits_the_status_schema() -> None:
    """revisionHistoryLimit at its maximum plus the never-trimmed revisions (stable, the
    one rolling out, one retiring) must fit status.revisions, or every status write fails."""
    from modelplane.api.spec import ModelServiceSpec
    from modelplane.api.status import ModelServiceStatus

    def bound(field: Any, name: str) -> int:
        return int(next(getattr(m, name) for m in field.metadata if hasattr(m, name)))

    limit = bound(ModelServiceSpec.model_fields["revision_history_limit"], "le")
    room = bound(ModelServiceStatus.model_fields["revisions"], "max_length")
    assert room >= limit + 3
