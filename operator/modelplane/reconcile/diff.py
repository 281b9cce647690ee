"""Does an observed object already carry everything we would apply?

Server-side apply sends exactly the fields we own; the API server then adds
defaults and other managers add their fields. So "nothing to do" means: every
field of the desired object is present in the observed one with the same
value. Re-applying an identical manifest, or a resync that changes nothing,
must make zero write calls (GitOps tools and audit logs notice every write).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from lightkube.utils.quantity import parse_quantity


def _same_quantity(desired: str, observed: str) -> bool:
    # The API server canonicalises quantities ("0.5" -> "500m", "1024Mi" -> "1Gi").
    try:
        want, have = parse_quantity(desired), parse_quantity(observed)
    except (ValueError, InvalidOperation):
        return False
    return isinstance(want, Decimal) and want == have


def contains(observed: Any, desired: Any) -> bool:
    """True if ``desired`` is contained in ``observed`` (dicts by key, lists item by item)."""
    if isinstance(desired, dict):
        return isinstance(observed, dict) and all(
            contains(observed.get(key), value)
            for key, value in desired.items()
            if value is not None
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(observed) == len(desired)
            and all(contains(o, d) for o, d in zip(observed, desired, strict=True))
        )
    if desired == observed:
        return True
    scalars = (str, int, float)
    if (
        isinstance(desired, scalars)
        and isinstance(observed, scalars)
        and not isinstance(desired, bool)
    ):
        return _same_quantity(str(desired), str(observed))
    return False
