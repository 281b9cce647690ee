"""Prometheus metrics of the operator, read from the controller's own counters
at scrape time (no global registry, nothing to keep in sync)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from modelplane.controller.loop import Controller


class ControllerCollector(Collector):
    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def collect(self) -> Iterator[Metric]:
        c = self.controller
        reconciles = CounterMetricFamily(
            "modelplane_reconciles", "Reconciles run, by result.", labels=["result"]
        )
        reconciles.add_metric(["success"], c.reconciles - c.failures)
        reconciles.add_metric(["error"], c.failures)
        yield reconciles
        writes = CounterMetricFamily(
            "modelplane_api_writes", "Write calls to the API server, by kind.", labels=["kind"]
        )
        for kind in ("apply", "delete", "status", "event"):
            writes.add_metric([kind], c.kube.writes[kind])
        yield writes
        yield GaugeMetricFamily(
            "modelplane_queue_depth", "Keys waiting for a worker.", len(c.queue)
        )
        yield GaugeMetricFamily(
            "modelplane_modelservices", "ModelServices in the cache.", len(c.cache.modelservices)
        )
