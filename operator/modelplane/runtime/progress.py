"""Progress of a long download as plain log lines: bytes done/total, rate, ETA.

A pod's log is the only place a user sees a 100 GB download move, so a line
goes out every few seconds; the formatting is pure for the unit tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("modelplane.runtime")

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; binary units like `ls -h`."""
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """75 -> '1m15s'; whole seconds, hours when needed."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def progress_line(done: int, total: int, new_bytes: int, elapsed: float) -> str:
    """One progress line; rate and ETA count only bytes fetched in this run (not resumed)."""
    percent = 100.0 * done / total if total else 100.0
    rate = new_bytes / elapsed if elapsed > 0 else 0.0
    eta = format_duration((total - done) / rate) if rate > 0 else "?"
    return (
        f"download progress: {format_bytes(done)} / {format_bytes(total)} ({percent:.1f}%), "
        f"{format_bytes(rate)}/s, ETA {eta}"
    )


class Progress:
    """Thread-safe byte counter for concurrent file downloads; logs at most every `interval` s."""

    def __init__(
        self,
        total: int,
        already: int = 0,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = already
        self.new_bytes = 0
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last_log = self._started
        self._lock = threading.Lock()

    def add(self, n: int, *, resumed: bool = False) -> None:
        """Count n bytes; `resumed` bytes were already on disk (no effect on the rate)."""
        with self._lock:
            self.done += n
            if not resumed:
                self.new_bytes += n
            now = self._clock()
            if now - self._last_log < self.interval:
                return
            self._last_log = now
            line = self.line(now)
        log.info(line)

    def line(self, now: float | None = None) -> str:
        elapsed = (now if now is not None else self._clock()) - self._started
        return progress_line(self.done, self.total, self.new_bytes, elapsed)

    def summary(self) -> str:
        elapsed = self._clock() - self._started
        rate = self.new_bytes / elapsed if elapsed > 0 else 0.0
        return (
            f"downloaded {format_bytes(self.new_bytes)} in {elapsed:.1f} s "
            f"({format_bytes(rate)}/s); {format_bytes(self.total)} in the model"
        )
