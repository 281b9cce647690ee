"""The overall --download-timeout, and retries with exponential back-off under it."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from modelplane.runtime.errors import ModelDownloadFailed

log = logging.getLogger("modelplane.runtime")
T = TypeVar("T")

REQUEST_TIMEOUT = 60.0  # seconds without a byte before one request is abandoned
ATTEMPTS = 5
BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0


class Deadline:
    """A wall-clock budget; `limit` 0 or less means none (per-request timeouts still apply)."""

    def __init__(
        self, limit: float, what: str = "", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.what = what
        self._clock = clock
        self._end = clock() + limit if limit > 0 else float("inf")

    def remaining(self) -> float:
        return self._end - self._clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        if self.expired():
            raise self.failure()

    def failure(self) -> ModelDownloadFailed:
        suffix = f" fetching {self.what}" if self.what else ""
        return ModelDownloadFailed(f"timed out after {self.limit:g} s{suffix}")

    def request_timeout(self) -> float:
        """Per-request timeout: never longer than what is left of the budget."""
        return max(0.1, min(REQUEST_TIMEOUT, self.remaining()))


def backoff(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX) -> float:
    """Delay before attempt `attempt` (1 = first retry): base * 2^(n-1), capped, ±25 % jitter."""
    delay: float = min(cap, base * 2 ** (attempt - 1))
    return delay * random.uniform(0.75, 1.25)  # jitter, not crypto


def with_retries(
    what: str,
    action: Callable[[], T],
    deadline: Deadline,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `action`, retrying ModelDownloadFailed(retryable) with back-off within the deadline."""
    for attempt in range(1, attempts + 1):
        deadline.check()
        try:
            return action()
        except ModelDownloadFailed as exc:
            if exc.retryable and deadline.expired():
                raise deadline.failure() from exc
            if not exc.retryable or attempt == attempts:
                raise
            delay = min(backoff(attempt), max(0.0, deadline.remaining()))
            log.warning(
                "%s: %s; retry %d/%d in %.1f s", what, exc.cause, attempt, attempts - 1, delay
            )
            sleep(delay)
    raise AssertionError("unreachable")
