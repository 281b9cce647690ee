"""Holding requests for a model that has no ready replica yet.

A request for a known model with nothing ready (starting, scaled to zero)
waits here, bounded in number per model and in time, instead of failing.
The routing table wakes the waiters of a model as soon as its route becomes
ready. The number waiting is exported as demand for scale-from-zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import Gauge


class QueueFull(Exception):
    """More requests are waiting for this model than the gateway holds."""


class Holds:
    def __init__(self, max_queued: int, gauge: Callable[[str], Gauge]) -> None:
        self.max_queued = max_queued
        self._gauge = gauge
        self._events: dict[str, asyncio.Event] = {}
        self._waiting: dict[str, int] = {}

    def waiting(self, model: str) -> int:
        return self._waiting.get(model, 0)

    def wake(self, model: str) -> None:
        """Called by the routing table when the model's route changed or became ready."""
        event = self._events.pop(model, None)
        if event is not None:
            event.set()

    async def wait(self, model: str, ready: Callable[[], bool], deadline: float) -> bool:
        """Wait until ``ready()`` or the loop time reaches ``deadline``; True if ready.

        Raises QueueFull when the model already has max_queued waiters.
        """
        if self._waiting.get(model, 0) >= self.max_queued:
            raise QueueFull(model)
        loop = asyncio.get_running_loop()
        self._waiting[model] = self._waiting.get(model, 0) + 1
        gauge = self._gauge(model)
        gauge.inc()
        try:
            while not ready():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                event = self._events.setdefault(model, asyncio.Event())
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    return ready()
            return True
        finally:
            gauge.dec()
            self._waiting[model] -= 1
            if not self._waiting[model]:
                del self._waiting[model]
