"""Revision and replica choice: weights exact per window, least requests, bounded hashing."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from modelplane.gateway.balance import Endpoint, HashRing, SmoothWeighted, least_requests


def test_smooth_weighted_is_exact_over_each_window() -> None:
    picker = SmoothWeighted()
    picks = [picker.pick([("stable", 90), ("canary", 10)]) for _ in range(1000)]
    for start in range(0, 1000, 100):
        window = Counter(picks[start : start + 100])
        assert window == {"stable": 90, "canary": 10}
    # Spread out, not bunched: the canary never gets two in a row.
    assert all(not (a == b == "canary") for a, b in pairwise(picks))


def test_smooth_weighted_skips_zero_and_empty() -> None:
    picker = SmoothWeighted()
    assert picker.pick([]) is None
    assert picker.pick([("a", 0)]) is None
    assert {picker.pick([("a", 0), ("b", 100)]) for _ in range(10)} == {"b"}


def test_least_requests_prefers_idle_and_avoids_refusers() -> None:
    a, b, c = Endpoint("10.0.0.1", 1), Endpoint("10.0.0.2", 1), Endpoint("10.0.0.3", 1)
    a.in_flight, b.in_flight, c.in_flight = 3, 1, 2
    assert least_requests([a, b, c], (), now=0) is b
    b.down_until = 10
    assert least_requests([a, b, c], (), now=5) is c  # b refused a moment ago
    assert least_requests([a, b, c], (), now=11) is b
    assert least_requests([a, b, c], (a, c), now=5) is b  # only b left: try it anyway
    assert least_requests([a], (a,), now=0) is None


def test_hash_ring_keeps_a_prefix_on_one_endpoint() -> None:
    endpoints = [Endpoint(f"10.0.0.{i}", 8000) for i in range(4)]
    ring = HashRing(endpoints, replication=64)
    first = ring.pick("You are a helpful assistant", 1.25, (), 0)
    assert all(ring.pick("You are a helpful assistant", 1.25, (), 0) is first for _ in range(20))
    owners = {ring.pick(f"prompt {i}", 1.25, (), 0) for i in range(100)}
    assert len(owners) == 4  # different prefixes spread over every endpoint


def test_hash_ring_moves_on_when_the_owner_is_overloaded() -> None:
    endpoints = [Endpoint(f"10.0.0.{i}", 8000) for i in range(4)]
    ring = HashRing(endpoints, replication=64)
    owner = ring.pick("shared system prompt", 1.25, (), 0)
    assert owner is not None
    owner.in_flight = 4  # mean with this request: 5/4; bound ceil(1.25 * 5/4) = 2
    other = ring.pick("shared system prompt", 1.25, (), 0)
    assert other is not None and other is not owner
    owner.in_flight = 0  # under the bound again: affinity returns
    assert ring.pick("shared system prompt", 1.25, (), 0) is owner


def test_hash_ring_only_moves_keys_of_a_removed_endpoint() -> None:
    endpoints = [Endpoint(f"10.0.0.{i}", 8000) for i in range(5)]
    before = HashRing(endpoints, replication=128)
    after = HashRing(endpoints[:4], replication=128)
    moved = 0
    for i in range(500):
        old = before.pick(f"p{i}", 100.0, (), 0)
        new = after.pick(f"p{i}", 100.0, (), 0)
        if old is not endpoints[4]:
            moved += old is not new
    assert moved == 0  # consistent hashing: only the removed endpoint's keys move
