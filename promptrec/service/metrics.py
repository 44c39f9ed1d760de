"""GET /metrics in Prometheus' text format: requests, latency histograms, LLM calls and cache hits, the index.

Request metrics are labelled by the route's template (``/users/{user_id}/recommendations``), not the raw
path, so the number of series stays bounded whatever clients send; requests that match no route count as
``other``.

**One process** (the default): each app has its own registry, so two apps in one process never mix their
counts.

**Several worker processes** (``promptrec serve --workers N``): the counters and histograms are kept in
prometheus_client's multiprocess mode: each process writes its counts to memory-mapped files in
``$PROMETHEUS_MULTIPROC_DIR`` (a fresh folder ``promptrec serve`` makes and removes), and whichever worker
answers /metrics sums every process's files, so the totals are the service's, not one worker's.
``promptrec_worker_processes`` counts the live workers. Gauges that describe the shared state (catalog
items, hidden items) are read when scraped; ``promptrec_last_rebuild_seconds`` is the answering worker's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptrec.service.engine import COUNTERS, PipelineEngine

disable_created_metrics()  # no *_created series: they double the output and no dashboard reads them

#: Latency buckets (seconds): fine below 100 ms, where a retrieval-only answer lands, coarse above.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: The environment variable of prometheus_client's multiprocess mode (a folder shared by the workers).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: The engine's counters: name in /metrics and help text.
ENGINE_COUNTERS = {
    "llm_calls": ("promptrec_llm_calls", "Rankings that called the LLM (not answered by the cache)"),
    "llm_cache_hits": ("promptrec_llm_cache_hits", "Rankings whose LLM answer came from the cache"),
    "coalesced": ("promptrec_coalesced_requests", "Requests answered by an identical one in flight"),
    "rebuilds": ("promptrec_recommender_rebuilds", "Full builds of the recommender"),
    "incremental_updates": ("promptrec_index_incremental_updates", "In-place index updates"),
}
assert set(ENGINE_COUNTERS) == set(COUNTERS)


def multiprocess_mode() -> bool:
    """Whether prometheus_client keeps its values in ``$PROMETHEUS_MULTIPROC_DIR``'s files (decided when it
    was imported: the variable must be set before, as ``promptrec serve --workers N`` does for its workers)."""
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


class ServiceMetrics:
    """The app's metrics; :meth:`render` gives the text GET /metrics returns (module docstring).

    Args:
        engine: the pipeline engine whose counts are exposed (its ``stats.listeners`` get one more).
        count_items: how many items the catalog has (read when scraped).
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, engine: PipelineEngine, count_items: Callable[[], int]) -> None:
        self.multiprocess = multiprocess_mode()
        # in multiprocess mode the metrics write to files and the exposition registry reads every process's
        # files; registering them as well would count this process twice
        own = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self.requests = Counter("promptrec_http_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=own)
        self.latency = Histogram("promptrec_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=BUCKETS, registry=own)
        self.counters = {key: Counter(name, text, registry=own) for key, (name, text) in ENGINE_COUNTERS.items()}
        if self.multiprocess:
            from prometheus_client import multiprocess

            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry)
            Gauge("promptrec_worker_processes", "Live service worker processes", registry=None,
                  multiprocess_mode="livesum").set(1)
        else:
            assert own is not None
            self.registry = own
        self.registry.register(_StateCollector(engine, count_items, self.multiprocess))
        stats = engine.stats
        for key, counter in self.counters.items():  # what happened before the metrics existed (the first build)
            if getattr(stats, key):
                counter.inc(getattr(stats, key))
        stats.listeners.append(self._count)

    def _count(self, counter: str, amount: int) -> None:
        self.counters[counter].inc(amount)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges from the multiprocess folder (its counts stay in the totals)."""
    from prometheus_client import multiprocess

    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


class _StateCollector:
    """Gauges of the state, read when scraped."""

    def __init__(self, engine: PipelineEngine, count_items: Callable[[], int], multiprocess: bool) -> None:
        self.engine = engine
        self.count_items = count_items
        self.multiprocess = multiprocess

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily("promptrec_catalog_items", "Items in the catalog (hidden ones included)",
                                value=self.count_items())
        yield GaugeMetricFamily("promptrec_hidden_items", "Hidden items", value=len(self.engine.hidden))
        yield GaugeMetricFamily("promptrec_last_rebuild_seconds", "How long the last full build took"
                                + (" (in the worker that answered)" if self.multiprocess else ""),
                                value=self.engine.stats.last_rebuild_seconds)
        if not self.multiprocess:
            yield GaugeMetricFamily("promptrec_worker_processes", "Live service worker processes", value=1)


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: no per-request task or body copy)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "other"
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - started)


__all__ = ["BUCKETS", "ENGINE_COUNTERS", "MULTIPROC_ENV", "MetricsMiddleware", "ServiceMetrics", "mark_process_dead",
           "multiprocess_mode"]
