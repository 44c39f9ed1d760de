"""GET /metrics: Prometheus text with requests by route template, latency histograms and the pipeline's counts."""

from __future__ import annotations

import pytest

pytest.importorskip("prometheus_client", reason="needs the server extra")

import httpx  # noqa: E402
from fastapi import FastAPI, Response  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from service_helpers import ThreadedServer  # noqa: E402

from promptrec.service.engine import EngineStats  # noqa: E402
from promptrec.service.metrics import MetricsMiddleware, ServiceMetrics  # noqa: E402


class FakeEngine:
    def __init__(self) -> None:
        self.stats = EngineStats(rebuilds=2, llm_calls=7, llm_cache_hits=3, coalesced=1)
        self.hidden = frozenset({"a"})


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    metrics = ServiceMetrics(FakeEngine(), lambda: 24)  # type: ignore[arg-type]

    @app.get("/users/{user_id}/things")
    def things(user_id: str) -> dict:
        return {"user": user_id}

    @app.get("/metrics")
    def scrape() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url) as client:
        yield client


def samples(client) -> dict:
    text = client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_requests_are_counted_by_route_template_and_timed(client):
    for user in ("u1", "u2", "u3"):
        assert client.get(f"/users/{user}/things").status_code == 200
    client.get("/nowhere")
    got = samples(client)
    route = (("method", "GET"), ("route", "/users/{user_id}/things"), ("status", "200"))
    assert got[("promptrec_http_requests_total", route)] == 3
    assert got[("promptrec_http_requests_total", (("method", "GET"), ("route", "other"), ("status", "404")))] == 1
    timed = (("method", "GET"), ("route", "/users/{user_id}/things"))
    assert got[("promptrec_http_request_duration_seconds_count", timed)] == 3
    assert got[("promptrec_http_request_duration_seconds_bucket", tuple(sorted((*timed, ("le", "+Inf")))))] == 3
    assert not any(name.endswith("_created") for name, _ in got)


def test_the_pipeline_counts_are_exposed(client):
    got = samples(client)
    assert got[("promptrec_llm_calls_total", ())] == 7
    assert got[("promptrec_llm_cache_hits_total", ())] == 3
    assert got[("promptrec_coalesced_requests_total", ())] == 1
    assert got[("promptrec_recommender_rebuilds_total", ())] == 2
    assert got[("promptrec_catalog_items", ())] == 24 and got[("promptrec_hidden_items", ())] == 1
