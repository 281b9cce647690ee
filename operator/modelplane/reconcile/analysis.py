"""Judging one analysis run: the new revision's traffic over one interval.

The controller measures (gateway counters and histograms, differenced over
the interval); this module only compares the figures with the thresholds of
spec.rollout.analysis, so every verdict is a table test away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modelplane.api.spec import AnalysisSpec

Verdict = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class RunResult:
    """What one interval measured, for the revision under test and for stable."""

    requests: float
    errors: float
    ttft_p95: float | None = None
    latency_p95: float | None = None
    stable_ttft_p95: float | None = None
    stable_latency_p95: float | None = None
    prometheus: float | None = None


def judge(spec: AnalysisSpec, run: RunResult) -> tuple[Verdict, str]:
    """The run's verdict and the figures behind it, for status and events."""
    if run.requests < spec.min_requests:
        return "inconclusive", (
            f"{run.requests:.0f} requests in {spec.interval_seconds} s, "
            f"fewer than minRequests {spec.min_requests}"
        )
    failures: list[str] = []
    figures: list[str] = []

    def check(name: str, value: float | None, limit: float | None, unit: str = "") -> None:
        if limit is None or value is None:
            return
        text = f"{name} {value:.3g}{unit}"
        if value > limit:
            failures.append(f"{text} > {limit:g}{unit}")
        else:
            figures.append(f"{text} <= {limit:g}{unit}")

    check("error rate", run.errors / run.requests, spec.max_error_rate)
    check("TTFT p95", run.ttft_p95, spec.max_ttft_p95_seconds, " s")
    check("latency p95", run.latency_p95, spec.max_latency_p95_seconds, " s")
    check("TTFT p95 / stable", _ratio(run.ttft_p95, run.stable_ttft_p95), spec.max_ttft_p95_ratio)
    check(
        "latency p95 / stable",
        _ratio(run.latency_p95, run.stable_latency_p95),
        spec.max_latency_p95_ratio,
    )
    if spec.prometheus is not None:
        if run.prometheus is None:
            failures.append("the Prometheus query returned no value")
        else:
            check("prometheus", run.prometheus, spec.prometheus.max)
    summary = f"{run.requests:.0f} requests: " + "; ".join(failures + figures)
    return ("fail" if failures else "pass"), summary


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base <= 0:
        return None
    return value / base


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) pairs."""
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            width = count - lower_count
            if width <= 0:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / width
        lower_bound, lower_count = bound, count
    return buckets[-1][0]
