"""Choosing a revision by weight and a replica by load: pure, no I/O.

Revisions: smooth weighted round robin (nginx's), so any window of 100
requests follows the weights exactly rather than only on average.
Replicas: least requests in flight, or consistent hashing of the prompt's
start with bounded loads (CHWBL), which keeps prompts that share a prefix on
one replica's prefix cache until that replica carries more than its share.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field


@dataclass(eq=False, slots=True)
class Endpoint:
    """One ready replica, with the load this gateway process has put on it."""

    host: str
    port: int
    in_flight: int = 0
    # Passive health: after a refused connection, avoid it for a moment.
    down_until: float = 0.0
    url: str = field(init=False)

    def __post_init__(self) -> None:
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"


def least_requests(
    endpoints: Sequence[Endpoint], exclude: Collection[Endpoint], now: float
) -> Endpoint | None:
    """The endpoint with the fewest requests in flight; ties broken at random.

    Endpoints that recently refused a connection are used only when nothing
    else is left.
    """
    candidates = [e for e in endpoints if e not in exclude]
    healthy = [e for e in candidates if e.down_until <= now] or candidates
    if not healthy:
        return None
    low = min(e.in_flight for e in healthy)
    ties = [e for e in healthy if e.in_flight == low]
    return ties[0] if len(ties) == 1 else random.choice(ties)


def _hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class HashRing:
    """A consistent-hash ring with ``replication`` points per endpoint."""

    def __init__(self, endpoints: Sequence[Endpoint], replication: int) -> None:
        points = sorted(
            (_hash(f"{e.host}:{e.port}#{i}".encode()), index)
            for index, e in enumerate(endpoints)
            for i in range(replication)
        )
        self.endpoints = list(endpoints)
        self._keys = [p[0] for p in points]
        self._owners = [p[1] for p in points]

    def pick(
        self, key: str, load_factor: float, exclude: Collection[Endpoint], now: float
    ) -> Endpoint | None:
        """Walk the ring from the key's point to the first endpoint under the load bound.

        The bound is ceil(load_factor x mean load, counting this request), so
        no replica carries more than its share times the factor.
        """
        usable = [e for e in self.endpoints if e not in exclude and e.down_until <= now]
        if not usable:
            return least_requests(self.endpoints, exclude, now)
        total = sum(e.in_flight for e in usable) + 1
        bound = math.ceil(load_factor * total / len(usable))
        start = bisect.bisect(self._keys, _hash(key.encode()))
        seen: set[int] = set()
        for step in range(len(self._keys)):
            owner = self._owners[(start + step) % len(self._keys)]
            if owner in seen:
                continue
            seen.add(owner)
            endpoint = self.endpoints[owner]
            if endpoint in usable and endpoint.in_flight + 1 <= bound:
                return endpoint
            if len(seen) == len(self.endpoints):
                break
        return least_requests(usable, exclude, now)


class SmoothWeighted:
    """Smooth weighted round robin over revisions (the nginx algorithm).

    Each pick adds every candidate's weight to its running score, takes the
    highest, and subtracts the total from the winner: over any run of
    sum(weights) picks each candidate is chosen exactly weight times, spread
    evenly. Scores of candidates that are not eligible now are kept, so a
    revision that briefly has no endpoint does not lose its place.
    """

    def __init__(self) -> None:
        self._score: dict[str, int] = {}

    def pick(self, weights: Sequence[tuple[str, int]]) -> str | None:
        eligible = [(name, w) for name, w in weights if w > 0]
        if not eligible:
            return None
        total = sum(w for _, w in eligible)
        best_name, best_score = "", -math.inf
        for name, weight in eligible:
            score = self._score.get(name, 0) + weight
            self._score[name] = score
            if score > best_score:
                best_name, best_score = name, score
        self._score[best_name] -= total
        return best_name

    def forget(self, keep: Collection[str]) -> None:
        """Drop the scores of revisions that no longer exist."""
        for name in [n for n in self._score if n not in keep]:
            del self._score[name]
