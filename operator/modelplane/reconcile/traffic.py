"""Traffic weights between live revisions, as the gateway reads them from status.traffic.

Until the rollout strategies land, traffic follows ready capacity: each live
revision gets a share proportional to its ready replicas. Before any is
ready, the newest revision gets everything, so the gateway holds requests
for it instead of refusing them.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelplane.api.status import MAX_TRAFFIC_TARGETS, TrafficTarget

TOTAL = 100


def by_ready_capacity(ready: Mapping[str, int], newest: str | None) -> list[TrafficTarget]:
    """Integer weights summing to 100 in proportion to ``ready`` (largest remainder).

    Sorted by revision, so the same inputs always give the same status.
    """
    serving = {rev: n for rev, n in ready.items() if n > 0}
    if len(serving) > MAX_TRAFFIC_TARGETS:
        # Keep the largest; older stragglers lose their share a moment early.
        kept = sorted(serving, key=lambda rev: (-serving[rev], rev))[:MAX_TRAFFIC_TARGETS]
        serving = {rev: serving[rev] for rev in kept}
    if not serving:
        return [TrafficTarget(revision=newest, weight=TOTAL)] if newest else []
    total = sum(serving.values())
    exact = {rev: n * TOTAL / total for rev, n in serving.items()}
    weights = {rev: int(share) for rev, share in exact.items()}
    leftover = TOTAL - sum(weights.values())
    for rev in sorted(exact, key=lambda r: (weights[r] - exact[r], r))[:leftover]:
        weights[rev] += 1
    return [TrafficTarget(revision=rev, weight=weights[rev]) for rev in sorted(weights)]
