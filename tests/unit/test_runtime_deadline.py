"""Retries with back-off, always inside the overall --download-timeout."""

from __future__ import annotations

import pytest

from modelplane.runtime import deadline as dl
from modelplane.runtime.errors import ModelDownloadFailed, Retryable


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0)):
        assert 0.75 * base <= dl.backoff(attempt) <= 1.25 * base
    assert dl.backoff(20) <= 1.25 * dl.BACKOFF_MAX


def test_retries_transient_failures_then_succeeds() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Retryable("HTTP 503 for x")
        return "ok"

    assert dl.with_retries("x", flaky, dl.Deadline(0), sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2


def test_permanent_failures_are_not_retried() -> None:
    calls = []

    def refused() -> None:
        calls.append(1)
        raise ModelDownloadFailed("unauthorized (HTTP 401) for hf://o/n")

    with pytest.raises(ModelDownloadFailed, match="401"):
        dl.with_retries("x", refused, dl.Deadline(0), sleep=lambda _: None)
    assert calls == [1]


def test_gives_up_after_the_attempts() -> None:
    def down() -> None:
        raise Retryable("cannot reach host")

    with pytest.raises(ModelDownloadFailed, match="cannot reach host"):
        dl.with_retries("x", down, dl.Deadline(0), attempts=3, sleep=lambda _: None)


def test_expired_deadline_reports_a_timeout() -> None:
    now = [0.0]
    budget = dl.Deadline(30, what="s3://b/p", clock=lambda: now[0])
    assert budget.request_timeout() == 30

    def slow() -> None:
        now[0] += 31
        raise Retryable("no response from host within 30 s")

    with pytest.raises(ModelDownloadFailed) as failure:
        dl.with_retries("x", slow, budget, sleep=lambda _: None)
    assert failure.value.line() == "ModelDownloadFailed: timed out after 30 s fetching s3://b/p"


def test_no_limit() -> None:
    assert not dl.Deadline(0).expired()
    assert dl.Deadline(0).request_timeout() == dl.REQUEST_TIMEOUT


def test_failure_lines_are_one_line() -> None:
    assert ModelDownloadFailed("a\nb  c").line() == "ModelDownloadFailed: a b c"
