"""/docs and /redoc work offline: every file they load is served by the app, none from another host."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi", reason="needs the server extra")

import httpx  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from service_helpers import ThreadedServer  # noqa: E402

from promptrec.service.docs import ASSETS, assets_dir, install_docs  # noqa: E402


@pytest.fixture(scope="module")
def client():
    app = FastAPI(title="promptrec", docs_url=None, redoc_url=None)

    @app.get("/ping")
    def ping() -> dict:
        return {}

    install_docs(app)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url) as client:
        yield client


def test_the_assets_ship_with_the_server_extra():
    folder = assets_dir()
    assert all((folder / name).stat().st_size > 1000 for name in ASSETS)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_local_files(client, page):
    html = client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', html.text) + re.findall(r"url: '([^']+)'", html.text)
    assert urls and all(url.startswith("/") for url in urls), urls
    assert "cdn" not in html.text.lower() and "fonts.googleapis" not in html.text
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_the_schema_the_pages_read_is_served(client):
    assert "/ping" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs-assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
