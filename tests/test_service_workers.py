"""``promptrec serve --workers 2``: /metrics counts what every worker process answered, whichever answers the
scrape, and the folder the workers' counts live in is removed when the service stops."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi", reason="needs the server extra")
pytest.importorskip("prometheus_client", reason="needs the server extra")

import httpx  # noqa: E402
from service_helpers import ServiceProcess, session_cache  # noqa: E402

KEY = "workers-key"
TIMEOUT = 60.0


def value(text: str, pattern: str) -> float:
    found = re.search(rf"^{pattern} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, f"{pattern} not in /metrics"
    return float(found.group(1))


def test_metrics_sum_every_worker_process(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {"PROMPTREC_CACHE_DIR": str(session_cache()), "PROMPTREC_FEEDBACK_DB": str(tmp_path / "cli.sqlite3"),
           "TMPDIR": str(temporary)}
    process = ServiceProcess("--catalog", "demo", "--workers", "2", db=str(tmp_path / "w.sqlite3"), api_key=KEY,
                             env=env, log=tmp_path / "serve.log")
    process.env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the service makes its own folder
    with process:
        folders = [p for p in temporary.iterdir() if p.name.startswith("promptrec-metrics-")]
        assert len(folders) == 1  # made by the parent before the workers started
        for _ in range(600):  # /health answers once one worker is up; wait for both
            text = httpx.get(f"{process.url}/metrics", timeout=TIMEOUT).text
            if value(text, "promptrec_worker_processes") == 2:
                break
        else:
            pytest.fail(f"the second worker did not start:\n{process.output()[-2000:]}")
        assert value(text, "promptrec_recommender_rebuilds_total") == 2  # one build in each worker
        feedback = httpx.post(f"{process.url}/feedback", json=[{"user": "u9", "item": "m01", "label": "liked"}],
                              headers={"X-API-Key": KEY}, timeout=TIMEOUT)
        assert feedback.status_code == 200
        asked = 30
        for _ in range(asked):  # a new connection each: the kernel spreads them over both processes
            answer = httpx.get(f"{process.url}/users/u9/recommendations", params={"n": 3}, timeout=TIMEOUT)
            assert answer.status_code == 200
        route = 'promptrec_http_requests_total{method="GET",route="/users/{user_id}/recommendations",status="200"}'
        for _ in range(6):  # whichever worker answers the scrape, the totals are the service's
            text = httpx.get(f"{process.url}/metrics", timeout=TIMEOUT).text
            assert value(text, re.escape(route)) == asked
            assert value(text, re.escape('promptrec_http_requests_total{method="POST",route="/feedback",status="200"}')) == 1
            assert value(text, "promptrec_worker_processes") == 2
    assert "2 worker processes" in process.output()
    assert not folders[0].exists()  # removed at exit
