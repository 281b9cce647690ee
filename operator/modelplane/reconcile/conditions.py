"""Conditions with a lastTransitionTime that moves only on a transition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from modelplane.api.status import Condition, ConditionStatus


@dataclass(frozen=True)
class Verdict:
    """What a condition should say now, before any timestamp is attached."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def merge(
    previous: Sequence[Condition],
    verdicts: Sequence[Verdict],
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """New conditions; each keeps its old lastTransitionTime unless its status changed."""
    old = {c.type: c for c in previous}
    merged = []
    for v in verdicts:
        before = old.get(v.type)
        changed = before is None or before.status != v.status
        merged.append(
            Condition(
                type=v.type,
                status=v.status,
                reason=v.reason,
                message=v.message,
                last_transition_time=now
                if changed or before is None
                else before.last_transition_time,
                observed_generation=generation,
            )
        )
    return merged
