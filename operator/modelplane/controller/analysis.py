"""Measuring analysis runs from the gateways' own metrics (no Prometheus needed).

Every gateway replica exports cumulative counters and histograms per model
and revision. A run is the difference between two scrapes one interval
apart, summed over every gateway replica (a headless Service name resolves
to each) and every model name the revision answers to. The window lives in
memory: after an operator restart the interval in progress starts over,
while the runs already counted are in status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from jinja2.sandbox import SandboxedEnvironment
from prometheus_client.parser import text_string_to_metric_families

from modelplane.api.spec import AnalysisSpec
from modelplane.reconcile.analysis import RunResult, quantile

log = logging.getLogger(__name__)

ERROR_CLASSES = frozenset({"upstream_5xx", "connect", "upstream_broken"})
SCRAPE_TIMEOUT_SECONDS = 5.0


@dataclass
class Counters:
    """Cumulative figures of one revision, summed over gateways and model names."""

    requests: float = 0.0
    errors: float = 0.0
    ttft: dict[float, float] = field(default_factory=lambda: defaultdict(float))
    duration: dict[float, float] = field(default_factory=lambda: defaultdict(float))


PerRevision = dict[str, Counters]  # revision -> counters
Snapshot = dict[str, PerRevision]  # gateway address -> its counters


def parse(text: str, into: PerRevision) -> None:
    """Add one gateway's /metrics to ``into``."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            revision = sample.labels.get("revision")
            if not revision:
                continue
            c = into.setdefault(revision, Counters())
            if sample.name == "modelplane_gateway_requests_total":
                c.requests += sample.value
            elif sample.name == "modelplane_gateway_errors_total":
                if sample.labels.get("class") in ERROR_CLASSES:
                    c.errors += sample.value
                if sample.labels.get("class") == "connect":  # never answered: not yet counted
                    c.requests += sample.value
            elif sample.name == "modelplane_gateway_time_to_first_token_seconds_bucket":
                c.ttft[float(sample.labels["le"])] += sample.value
            elif sample.name == "modelplane_gateway_request_duration_seconds_bucket":
                c.duration[float(sample.labels["le"])] += sample.value


def _delta(after: float, before: float) -> float:
    """A counter that went down was reset (the gateway restarted): all of it is new."""
    return after - before if after >= before else after


def _since(before: PerRevision, after: PerRevision, revision: str) -> Counters:
    new, old = after.get(revision, Counters()), before.get(revision, Counters())
    out = Counters(_delta(new.requests, old.requests), _delta(new.errors, old.errors))
    for field_name in ("ttft", "duration"):
        a, b = getattr(new, field_name), getattr(old, field_name)
        reset = any(a[le] < b.get(le, 0.0) for le in a)
        target = getattr(out, field_name)
        for le, count in a.items():
            target[le] += count if reset else count - b.get(le, 0.0)
    return out


def _sum(parts: Iterable[Counters]) -> Counters:
    total = Counters()
    for c in parts:
        total.requests += c.requests
        total.errors += c.errors
        for le, n in c.ttft.items():
            total.ttft[le] += n
        for le, n in c.duration.items():
            total.duration[le] += n
    return total


def _p95(buckets: dict[float, float]) -> float | None:
    return quantile(sorted(buckets.items()), 0.95)


def run_between(before: Snapshot, after: Snapshot, revision: str, stable: str | None) -> RunResult:
    """One run: per gateway the counters' growth (a restarted gateway counts from zero),
    summed over the gateways read both times."""
    both = [g for g in after if g in before]
    new = _sum(_since(before[g], after[g], revision) for g in both)
    base = _sum(_since(before[g], after[g], stable) for g in both) if stable else None
    return RunResult(
        requests=new.requests,
        errors=new.errors,
        ttft_p95=_p95(new.ttft),
        latency_p95=_p95(new.duration),
        stable_ttft_p95=_p95(base.ttft) if base else None,
        stable_latency_p95=_p95(base.duration) if base else None,
    )


@dataclass
class Window:
    revision: str
    stable: str | None
    started: float
    snapshot: Snapshot


class GatewayMetrics:
    """Scrapes every gateway replica; one scrape serves all ModelServices for a second."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.urls = tuple(urls)
        self._session: aiohttp.ClientSession | None = None
        self._cached: tuple[float, Snapshot] | None = None
        self._lock = asyncio.Lock()
        self.windows: dict[tuple[str, str], Window] = {}
        self._jinja = SandboxedEnvironment(autoescape=False)

    async def snapshot(self) -> Snapshot | None:
        """Summed metrics of every gateway; None when none could be read."""
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < 1.0:
                return self._cached[1]
            if self._session is None:
                self._session = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_SECONDS)
                )
            merged: Snapshot = {}
            urls = await self._expand(self.urls)
            for url in urls:
                try:
                    async with self._session.get(url) as resp:
                        resp.raise_for_status()
                        parse(await resp.text(), merged.setdefault(url, {}))
                except (aiohttp.ClientError, TimeoutError) as err:
                    log.warning("cannot read gateway metrics at %s: %s", url, err)
                    merged.pop(url, None)
            if not urls or len(merged) < len(urls):
                return None  # never judge a run on part of the gateways
            self._cached = (now, merged)
            return merged

    async def _expand(self, urls: Iterable[str]) -> list[str]:
        """One URL per address of each host (every replica behind a headless Service)."""
        loop = asyncio.get_running_loop()
        out: list[str] = []
        for url in urls:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port or 80
            try:
                infos = await loop.getaddrinfo(host, port, type=0, proto=6)
            except OSError as err:
                log.warning("cannot resolve gateway %s: %s", host, err)
                continue
            for address in sorted({str(info[4][0]) for info in infos}):
                netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
                out.append(urlunsplit(parts._replace(netloc=netloc)))
        return out

    async def measure(
        self, key: tuple[str, str], spec: AnalysisSpec | None, variables: dict[str, str]
    ) -> RunResult | None:
        """A finished run for ``key`` if its window is at least one interval old."""
        window = self.windows.get(key)
        if window is None or spec is None:
            return None
        if time.monotonic() - window.started < spec.interval_seconds:
            return None
        snapshot = await self.snapshot()
        if snapshot is None:
            return None
        result = run_between(window.snapshot, snapshot, window.revision, window.stable)
        self.windows[key] = Window(window.revision, window.stable, time.monotonic(), snapshot)
        if spec.prometheus is not None:
            value = await self._prometheus(spec, variables)
            result = RunResult(**{**result.__dict__, "prometheus": value})
        return result

    def due_in(self, key: tuple[str, str], interval: float) -> float | None:
        """Seconds until the open window for ``key`` spans a whole interval."""
        window = self.windows.get(key)
        if window is None:
            return None
        return max(0.0, window.started + interval - time.monotonic())

    async def follow(self, key: tuple[str, str], analyzing: tuple[str, str | None] | None) -> None:
        """Open a window for what the plan wants analysed next; close it otherwise."""
        if analyzing is None:
            self.windows.pop(key, None)
            return
        window = self.windows.get(key)
        if window is not None and (window.revision, window.stable) == analyzing:
            return
        snapshot = await self.snapshot()
        if snapshot is not None:
            self.windows[key] = Window(*analyzing, time.monotonic(), snapshot)

    async def _prometheus(self, spec: AnalysisSpec, variables: dict[str, str]) -> float | None:
        check = spec.prometheus
        assert check is not None
        query = self._jinja.from_string(check.query).render(**variables)
        url = check.address.rstrip("/") + "/api/v1/query"
        if self._session is None:
            return None
        try:
            async with self._session.get(url, params={"query": query}) as resp:
                body = await resp.json()
            result = body["data"]["result"]
            value = result[0]["value"][1] if isinstance(result, list) else result[1]
            return float(value)
        except (aiohttp.ClientError, TimeoutError, KeyError, IndexError, ValueError) as err:
            log.warning("prometheus analysis query failed: %s", err)
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
