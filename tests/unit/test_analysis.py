"""Analysis runs: measured from the gateway's real exposition, judged against thresholds."""

from __future__ import annotations

import time

from prometheus_client import generate_latest

from modelplane.api.spec import AnalysisSpec
from modelplane.controller.analysis import Counters, Window, parse, run_between
from modelplane.controller.analysis import GatewayMetrics as Scraper
from modelplane.gateway.metrics import GatewayMetrics
from modelplane.reconcile.analysis import RunResult, judge, quantile


def _scrape(*gateways: GatewayMetrics) -> dict[str, dict[str, Counters]]:
    snapshot: dict[str, dict[str, Counters]] = {}
    for i, gw in enumerate(gateways):
        parse(generate_latest(gw.registry).decode(), snapshot.setdefault(f"gw{i}", {}))
    return snapshot


def test_a_run_is_the_difference_of_two_scrapes_summed_over_model_names() -> None:
    gw = GatewayMetrics()
    gw.count("chat", "stable", 200)
    before = _scrape(gw)
    for _ in range(90):
        gw.count("chat", "canary", 200)
        gw.of("chat", "canary").ttft.observe(0.2)
        gw.of("chat", "stable").ttft.observe(0.1)
    for _ in range(8):
        gw.count("chat", "canary", 503)  # an upstream 5xx is also an error
    gw.errors.labels("chat", "canary", "connect").inc(2)  # never answered: counted once
    gw.errors.labels("chat", "canary", "client_disconnect").inc(5)  # not the replica's fault
    gw.count("chat-preview", "canary", 200)  # the same revision under its preview name
    run = run_between(before, _scrape(gw), "canary", "stable")
    assert run.requests == 90 + 8 + 2 + 1
    assert run.errors == 8 + 2
    assert run.ttft_p95 is not None and 0.1 < run.ttft_p95 <= 0.25
    assert run.stable_ttft_p95 is not None and run.stable_ttft_p95 <= 0.1


def test_gateways_are_differenced_one_by_one_and_a_restart_counts_from_zero() -> None:
    a, b = GatewayMetrics(), GatewayMetrics()
    for _ in range(50):
        a.count("chat", "canary", 200)
        b.count("chat", "canary", 200)
    before = _scrape(a, b)
    for _ in range(10):
        a.count("chat", "canary", 500)
    restarted = GatewayMetrics()  # gateway b restarted: its counters begin again
    for _ in range(4):
        restarted.count("chat", "canary", 200)
    run = run_between(before, _scrape(a, restarted), "canary", None)
    assert (run.requests, run.errors) == (10 + 4, 10)
    # Only gateways read both times count: a missing one is not subtracted.
    partial = run_between(before, {"gw0": _scrape(a)["gw0"]}, "canary", None)
    assert (partial.requests, partial.errors) == (10, 10)


def test_judge_thresholds_relative_checks_and_too_few_requests() -> None:
    spec = AnalysisSpec(max_error_rate=0.05, max_ttft_p95_ratio=1.5, min_requests=10)
    assert (
        judge(spec, RunResult(requests=100, errors=2, ttft_p95=0.3, stable_ttft_p95=0.25))[0]
        == "pass"
    )
    verdict, why = judge(
        spec, RunResult(requests=100, errors=2, ttft_p95=0.6, stable_ttft_p95=0.25)
    )
    assert verdict == "fail" and "TTFT p95 / stable 2.4 > 1.5" in why
    verdict, why = judge(spec, RunResult(requests=100, errors=9))
    assert verdict == "fail" and "error rate 0.09 > 0.05" in why
    verdict, why = judge(spec, RunResult(requests=4, errors=4))
    assert verdict == "inconclusive" and "fewer than minRequests 10" in why
    absolute = AnalysisSpec(max_ttft_p95_seconds=1.0, max_latency_p95_seconds=5.0)
    verdict, why = judge(absolute, RunResult(requests=50, errors=0, ttft_p95=1.2, latency_p95=3))
    assert verdict == "fail" and "TTFT p95 1.2 s > 1 s" in why and "latency p95 3 s <= 5 s" in why


def test_quantile_matches_prometheus_interpolation() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert quantile(buckets, 0.5) == 0.1
    assert abs((quantile(buckets, 0.95) or 0) - 0.75) < 1e-9
    assert quantile([(0.1, 0.0), (float("inf"), 0.0)], 0.95) is None


async def test_a_window_says_when_it_spans_a_whole_interval() -> None:
    scraper = Scraper([])
    assert scraper.due_in(("ns", "chat"), 10) is None
    scraper.windows[("ns", "chat")] = Window("canary", "stable", time.monotonic() - 4, {})
    due = scraper.due_in(("ns", "chat"), 10)
    assert due is not None and 5.5 < due <= 6.0
    scraper.windows[("ns", "chat")] = Window("canary", "stable", time.monotonic() - 11, {})
    assert scraper.due_in(("ns", "chat"), 10) == 0.0
    await scraper.close()
