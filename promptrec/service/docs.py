"""Interactive API docs that work offline: Swagger UI at /docs and ReDoc at /redoc, from local files.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN, which a server without internet cannot reach.
Here the pages are FastAPI's, pointed at the JavaScript and CSS that the ``fastapi-offline`` package ships
(in the ``server`` extra), served by the app itself under /docs-assets/; ReDoc is told not to fetch
Google's fonts. Nothing on either page leaves the machine.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from promptrec.errors import MissingDependencyError

ASSETS_URL = "/docs-assets"
#: The files the pages load (all inside the ``fastapi-offline`` package).
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> Path:
    """The folder of Swagger UI's and ReDoc's files, from the ``fastapi-offline`` package."""
    try:
        import fastapi_offline
    except ModuleNotFoundError:
        raise MissingDependencyError("fastapi-offline", "server") from None
    folder = Path(fastapi_offline.__file__).parent / "static"
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise MissingDependencyError(f"fastapi-offline (its files {', '.join(missing)} are missing)", "server")
    return folder


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc from local assets (create the app with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}", title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}", title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png", with_google_fonts=False,
        )


__all__ = ["ASSETS", "ASSETS_URL", "assets_dir", "install_docs"]
