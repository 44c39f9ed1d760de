"""GET /metrics in Prometheus' text format: requests, latency histograms, LLM calls and cache hits, the index.

Each app has its own registry (two apps in one process never mix their counts). Request metrics are
labelled by the route's template (``/users/{user_id}/recommendations``), not the raw path, so the number of
series stays bounded whatever clients send; requests that match no route count as ``other``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptrec.service.engine import PipelineEngine

disable_created_metrics()  # no *_created series: they double the output and no dashboard reads them

#: Latency buckets (seconds): fine below 100 ms, where a retrieval-only answer lands, coarse above.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    """The app's registry and its request metrics; :meth:`render` gives the text GET /metrics returns."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, engine: PipelineEngine, count_items: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("promptrec_http_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("promptrec_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=BUCKETS, registry=self.registry)
        self.registry.register(_EngineCollector(engine, count_items))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _EngineCollector:
    """The pipeline's counters, read when scraped."""

    def __init__(self, engine: PipelineEngine, count_items: Callable[[], int]) -> None:
        self.engine = engine
        self.count_items = count_items

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        stats = self.engine.stats
        for name, value, text in (
            ("promptrec_llm_calls", stats.llm_calls, "Rankings that called the LLM (not answered by the cache)"),
            ("promptrec_llm_cache_hits", stats.llm_cache_hits, "Rankings whose LLM answer came from the cache"),
            ("promptrec_coalesced_requests", stats.coalesced, "Requests answered by an identical one in flight"),
            ("promptrec_recommender_rebuilds", stats.rebuilds, "Full builds of the recommender"),
            ("promptrec_index_incremental_updates", stats.incremental_updates, "In-place index updates"),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily("promptrec_catalog_items", "Items in the catalog (hidden ones included)",
                                value=self.count_items())
        yield GaugeMetricFamily("promptrec_hidden_items", "Hidden items", value=len(self.engine.hidden))
        yield GaugeMetricFamily("promptrec_last_rebuild_seconds", "How long the last full build took",
                                value=stats.last_rebuild_seconds)


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


__all__ = ["BUCKETS", "MetricsMiddleware", "ServiceMetrics"]
