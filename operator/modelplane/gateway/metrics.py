"""The gateway's Prometheus metrics, per model and revision.

These are what the operator's analysis gates and autoscaling read: errors
and latency per revision, requests in flight, and requests held while a
model has no ready replica (demand that a scale-from-zero acts on).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        per_revision = ["model", "revision"]
        self.requests = Counter(
            "modelplane_gateway_requests",
            "Requests answered by a replica, by HTTP status code.",
            [*per_revision, "code"],
            registry=r,
        )
        self.errors = Counter(
            "modelplane_gateway_errors",
            "Failed requests by class: upstream_5xx, connect (no replica accepted), "
            "upstream_broken (the replica dropped a started response), client_disconnect, "
            "hold_timeout, queue_full.",
            [*per_revision, "class"],
            registry=r,
        )
        self.rejected = Counter(
            "modelplane_gateway_rejected",
            "Requests refused before routing: bad_json, no_model, unknown_model, "
            "too_large, unauthorized, not_found.",
            ["reason"],
            registry=r,
        )
        self.in_flight = Gauge(
            "modelplane_gateway_in_flight_requests",
            "Requests being served by a replica now.",
            per_revision,
            registry=r,
        )
        self.queued = Gauge(
            "modelplane_gateway_queued_requests",
            "Requests held because the model has no ready replica (scale-from-zero demand).",
            ["model"],
            registry=r,
        )
        self.held = Counter(
            "modelplane_gateway_held_requests",
            "Requests that had to wait for a ready replica.",
            ["model"],
            registry=r,
        )
        self.endpoints = Gauge(
            "modelplane_gateway_endpoints",
            "Ready replicas the gateway routes to.",
            per_revision,
            registry=r,
        )
        self.weight = Gauge(
            "modelplane_gateway_traffic_weight",
            "Percent of the model's requests sent to the revision (from status.traffic).",
            per_revision,
            registry=r,
        )
        self.ttft = Histogram(
            "modelplane_gateway_time_to_first_token_seconds",
            "From the request to the first byte of the replica's response body: the first "
            "token of a stream, the whole answer otherwise.",
            per_revision,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "modelplane_gateway_request_duration_seconds",
            "From the request to the last byte of the response.",
            per_revision,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._revision: dict[tuple[str, str], RevisionMetrics] = {}
        self._answered: dict[tuple[str, str, int], Counter] = {}

    def count(self, model: str, revision: str, status: int) -> None:
        """One answered request; 5xx answers also count as upstream_5xx errors."""
        key = (model, revision, status)
        child = self._answered.get(key)
        if child is None:
            child = self._answered[key] = self.requests.labels(model, revision, str(status))
        child.inc()
        if status >= 500:
            self.errors.labels(model, revision, "upstream_5xx").inc()

    def of(self, model: str, revision: str) -> RevisionMetrics:
        """The labelled children for one revision, looked up once and kept."""
        key = (model, revision)
        found = self._revision.get(key)
        if found is None:
            found = RevisionMetrics(
                in_flight=self.in_flight.labels(model, revision),
                ttft=self.ttft.labels(model, revision),
                duration=self.duration.labels(model, revision),
            )
            self._revision[key] = found
        return found


@dataclass(frozen=True, slots=True)
class RevisionMetrics:
    in_flight: Gauge
    ttft: Histogram
    duration: Histogram
