"""Progress lines: bytes, rate and ETA, at most every interval."""

from __future__ import annotations

import logging

import pytest

from modelplane.runtime.progress import Progress, format_bytes, format_duration, progress_line


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (5 * 2**30, "5.0 GiB"),
        (2**50, "1024.0 TiB"),
    ],
)
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text


@pytest.mark.parametrize(("s", "text"), [(0, "0s"), (59.4, "59s"), (75, "1m15s"), (7260, "2h01m")])
def test_format_duration(s: float, text: str) -> None:
    assert format_duration(s) == text


def test_progress_line() -> None:
    line = progress_line(done=3 * 2**30, total=4 * 2**30, new_bytes=2 * 2**30, elapsed=20)
    assert line == "download progress: 3.0 GiB / 4.0 GiB (75.0%), 102.4 MiB/s, ETA 10s"
    assert progress_line(0, 10, 0, 0).endswith("0 B/s, ETA ?")


def test_progress_logs_at_most_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    progress = Progress(total=100, already=40, interval=5, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "modelplane.runtime")
    progress.add(10)
    now[0] = 6.0
    progress.add(10)
    now[0] = 7.0
    progress.add(10)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["download progress: 60 B / 100 B (60.0%), 3 B/s, ETA 12s"]
    assert progress.done == 70 and progress.new_bytes == 30
