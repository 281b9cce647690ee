"""Revision history: ControllerRevisions to create, renumber, annotate or trim, and
the status.revisions summary built from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lightkube.resources.apps_v1 import ControllerRevision

from modelplane.api.constants import LABEL_REVISION
from modelplane.api.resource import ModelService
from modelplane.api.status import Outcome, RevisionStatus
from modelplane.builders import (
    MESSAGE_ANNOTATION,
    OUTCOME_ANNOTATION,
    build_controller_revision,
)
from modelplane.reconcile.observed import Obj


def revision_of(obj: Obj) -> str:
    return str((obj["metadata"].get("labels") or {}).get(LABEL_REVISION, ""))


def by_revision(records: Sequence[Obj]) -> dict[str, Obj]:
    return {revision_of(r): r for r in records if revision_of(r)}


def numbers(records: Mapping[str, Obj]) -> dict[str, int]:
    return {rev: int(r.get("revision") or 0) for rev, r in records.items()}


def proven(records: Mapping[str, Obj]) -> frozenset[str]:
    """Revisions that have been stable: going back to one needs no gate."""
    return frozenset(
        rev
        for rev, r in records.items()
        if (r["metadata"].get("annotations") or {}).get(OUTCOME_ANNOTATION) in ("Stable", "Retired")
    )


def wanted_records(
    ms: ModelService,
    records: Mapping[str, Obj],
    target: str,
    target_data: Mapping[str, Any],
    renumber_target: bool,
    outcomes: Mapping[str, tuple[Outcome, str]],
) -> list[ControllerRevision]:
    """Every record we keep, with its number and outcome.

    A new revision gets the next number; a kept one that becomes the target of
    a new rollout (an undo) is renumbered to the top, as StatefulSets do.
    """
    nums = numbers(records)
    top = max(nums.values(), default=0)
    wanted = []
    for rev in sorted(set(records) | {target}):
        seen = records.get(rev)
        annotations = (seen or {}).get("metadata", {}).get("annotations") or {}
        outcome, message = outcomes.get(
            rev,
            (
                annotations.get(OUTCOME_ANNOTATION, "Progressing"),
                annotations.get(MESSAGE_ANNOTATION, ""),
            ),
        )
        if seen is None:
            number, data = top + 1, target_data
        else:
            number, data = nums[rev], seen.get("data") or {}
            if rev == target and renumber_target and nums[rev] < top:
                number = top + 1
        wanted.append(build_controller_revision(ms, rev, number, data, outcome, message))
    return wanted


def trimmed(
    wanted: Sequence[ControllerRevision], limit: int, protected: set[str]
) -> tuple[list[ControllerRevision], list[str]]:
    """The newest ``limit`` records (never a protected one removed); names to delete."""
    ordered = sorted(wanted, key=lambda r: -(r.revision or 0))
    keep: list[ControllerRevision] = []
    drop: list[str] = []
    for record in ordered:
        rev = (record.metadata.labels or {}).get(LABEL_REVISION, "") if record.metadata else ""
        if len(keep) < limit or rev in protected:
            keep.append(record)
        elif record.metadata and record.metadata.name:
            drop.append(record.metadata.name)
    return keep, drop


def summary(
    kept: Sequence[ControllerRevision],
    records: Mapping[str, Obj],
    resolved: Mapping[str, str],
    now: datetime,
) -> list[RevisionStatus]:
    """status.revisions, newest first."""
    out = []
    for record in sorted(kept, key=lambda r: -(r.revision or 0)):
        assert record.metadata is not None
        rev = (record.metadata.labels or {}).get(LABEL_REVISION, "")
        annotations = record.metadata.annotations or {}
        spec = (record.data or {}).get("spec") or {}
        seen = records.get(rev)
        created = (seen or {}).get("metadata", {}).get("creationTimestamp")
        out.append(
            RevisionStatus(
                revision=rev,
                number=record.revision or 1,
                outcome=annotations.get(OUTCOME_ANNOTATION, "Progressing"),
                image=str((spec.get("runtime") or {}).get("image", "")),
                model=str((spec.get("model") or {}).get("uri", "")),
                resolved=resolved.get(rev),
                created=datetime.fromisoformat(created.replace("Z", "+00:00")) if created else now,
                message=annotations.get(MESSAGE_ANNOTATION, ""),
            )
        )
    return out
