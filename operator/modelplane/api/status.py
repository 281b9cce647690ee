"""The ModelService status: what the operator observed, for kubectl and autoscalers."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from modelplane.api._base import WireModel

READY: Final = "Ready"
PROGRESSING: Final = "Progressing"
DEGRADED: Final = "Degraded"
MODEL_CACHED: Final = "ModelCached"

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(WireModel):
    """One aspect of the ModelService's state (the metav1.Condition shape)."""

    type: str = Field(
        min_length=1,
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Ready (clients can be served at the desired scale), Progressing "
        "(a revision is rolling out or scaling) or Degraded (pods fail).",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Machine-readable CamelCase cause, e.g. Unschedulable or InvalidSpec.",
    )
    message: str = Field(
        default="",
        max_length=32768,
        description="Human-readable details, e.g. the scheduler's message.",
    )
    last_transition_time: AwareDatetime = Field(
        description="When the status last changed (not when the condition was last checked).",
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation this condition was computed from.",
    )


class ModelStatus(WireModel):
    """What the weights resolved to, as the downloader found them."""

    model_config = ConfigDict(extra="ignore")

    uri: str = Field(max_length=2048, description="The spec.model.uri this describes.")
    resolved: str | None = Field(
        default=None,
        max_length=256,
        description="The exact weights: the Hugging Face commit SHA, or a digest of the "
        "S3 objects' ETags.",
    )
    bytes: int | None = Field(default=None, ge=0, description="Size of the downloaded files.")
    files: int | None = Field(default=None, ge=0, description="Number of downloaded files.")
    progress: str | None = Field(
        default=None,
        max_length=512,
        description="While downloading: bytes done/total, rate and ETA, as the downloader logs it.",
    )


class TrafficTarget(WireModel):
    """A revision's share of the requests the gateway sends to this model."""

    model_config = ConfigDict(extra="ignore")

    revision: str = Field(max_length=64, description="Template hash of the revision.")
    weight: int = Field(ge=0, le=100, description="Percent of requests, 0 to 100.")


MAX_TRAFFIC_TARGETS: Final = 8

Outcome = Literal["Stable", "Progressing", "RolledBack", "Superseded", "Aborted", "Retired"]


class RevisionStatus(WireModel):
    """One kept revision (a ControllerRevision named <name>-<revision>)."""

    model_config = ConfigDict(extra="ignore")

    revision: str = Field(max_length=64, description="Template hash; children are <name>-<hash>.")
    number: int = Field(ge=1, description="Revision number, increasing with every change.")
    outcome: Outcome = Field(
        description="Stable (serving), Progressing (rolling out), RolledBack (a gate or its "
        "pods failed), Superseded (replaced before it finished), Aborted (by a user), "
        "Retired (was stable, replaced by a newer one)."
    )
    image: str = Field(max_length=512, description="Runtime image.")
    model: str = Field(max_length=2048, description="spec.model.uri of this revision.")
    resolved: str | None = Field(
        default=None, max_length=256, description="Resolved model revision, once known."
    )
    created: AwareDatetime = Field(description="When the revision was first seen.")
    message: str = Field(default="", max_length=1024, description="How it ended, and why.")


RolloutPhase = Literal[
    "Progressing", "Paused", "Analyzing", "Promoting", "Succeeded", "RolledBack", "Aborted"
]


class AnalysisStatus(WireModel):
    model_config = ConfigDict(extra="ignore")

    passed: int = Field(default=0, ge=0, description="Runs that passed at this gate.")
    failed: int = Field(default=0, ge=0, description="Runs that failed at this gate.")
    inconclusive: int = Field(default=0, ge=0, description="Runs with too few requests.")
    last: str = Field(default="", max_length=1024, description="The last run's figures.")


class RolloutStatus(WireModel):
    """Where the latest rollout is: which revision, which step, why it waits."""

    model_config = ConfigDict(extra="ignore")

    revision: str = Field(max_length=64, description="The revision being rolled out.")
    strategy: str = Field(max_length=32, description="RollingUpdate, Canary or BlueGreen.")
    from_revision: str | None = Field(
        default=None, max_length=64, description="The stable revision when it started."
    )
    phase: RolloutPhase = Field(description="Where the rollout is.")
    step: int | None = Field(default=None, ge=0, description="Canary step index (from 0).")
    weight: int = Field(default=0, ge=0, le=100, description="Percent of traffic it gets.")
    message: str = Field(default="", max_length=1024, description="Why it waits, or what failed.")
    step_started: AwareDatetime | None = Field(
        default=None, description="When the current step (or pause) began."
    )
    paused: bool = Field(default=False, description="Paused by a user request.")
    analysis: AnalysisStatus | None = Field(default=None, description="The current gate's runs.")
    last_request: str | None = Field(
        default=None, max_length=128, description="Id of the last rollout request acted on."
    )


class PreviewStatus(WireModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(max_length=256, description="Model name that reaches the preview.")
    revision: str = Field(max_length=64, description="The revision it reaches.")


class ModelServiceStatus(WireModel):
    """The observed state of a ModelService."""

    # Unknown fields are ignored rather than refused: a status written by a
    # newer operator must not stop an older one from reading the object.
    model_config = ConfigDict(extra="ignore")

    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation the status describes."
    )
    replicas: int | None = Field(
        default=None, ge=0, description="Serving pods that exist, over all revisions."
    )
    ready_replicas: int | None = Field(
        default=None, ge=0, description="Serving pods that are ready, over all revisions."
    )
    selector: str | None = Field(
        default=None,
        max_length=1024,
        description="Label selector of the serving pods, for the scale subresource "
        "(autoscalers read it).",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Ready, Progressing and Degraded, each with a reason and a message.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    endpoint: str | None = Field(
        default=None,
        max_length=512,
        description="In-cluster OpenAI base URL, http://<name>.<namespace>.svc:8000/v1.",
    )
    model: ModelStatus | None = Field(
        default=None,
        description="The model's resolved identity (with spec.model.cache), or download progress.",
    )
    revision: str | None = Field(
        default=None,
        max_length=64,
        description="Hash of the current serving template (model, runtime, resources); "
        "children are named <name>-<revision>.",
    )

    traffic: list[TrafficTarget] = Field(
        default_factory=list,
        max_length=MAX_TRAFFIC_TARGETS,
        description="How the gateway splits requests between live revisions; weights sum "
        "to 100. Before any revision is ready, the newest has 100 and requests wait for it.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["revision"],
        },
    )

    stable_revision: str | None = Field(
        default=None, max_length=64, description="The revision serving as stable."
    )
    rollout: RolloutStatus | None = Field(
        default=None, description="The latest rollout: revision, step, weight, phase, why."
    )
    revisions: list[RevisionStatus] = Field(
        default_factory=list,
        # revisionHistoryLimit (at most 100) plus the revisions never trimmed: stable,
        # the one rolling out and one kept through its scale-down delay.
        max_length=103,
        description="Kept revisions, newest first.",
    )
    preview: PreviewStatus | None = Field(
        default=None, description="BlueGreen: the model name that reaches the new revision."
    )

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type, if present."""
        return next((c for c in self.conditions if c.type == type_), None)
