"""The web page at ``/``: a static page with plain JavaScript that calls the service's JSON API.

Three files in ``promptrec/service/static/`` (shipped in the wheel; no build step, no CDN, so it works on
a server with no internet): ``index.html``, ``app.css`` and ``app.js``. The page searches the catalog
(``GET /items?q=``), keeps the visitor's picks ("my history") and likes/dislikes in the browser, and asks
``POST /recommendations`` for a session's recommendations, drawing each one's reason and stage scores.

The app includes :data:`router`; the page holds no state and no recommendation logic.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

#: The files the page is made of, with their media types; nothing else is served from the folder.
ASSETS: Final[dict[str, str]] = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


def asset(name: str) -> bytes:
    """The bytes of one of the page's files (a ``KeyError`` for any name not in :data:`ASSETS`)."""
    if name not in ASSETS:
        raise KeyError(name)
    return resources.files("promptrec.service").joinpath("static", name).read_bytes()


def _serve(name: str) -> Response:
    # no-cache: the browser revalidates, so an upgraded service never runs yesterday's script
    return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


@router.api_route("/", methods=["GET", "HEAD"])
def page() -> Response:
    """The page."""
    return _serve("index.html")


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static(name: str) -> Response:
    """The page's stylesheet and script."""
    if name not in ASSETS or name == "index.html":
        raise HTTPException(status_code=404, detail=f"no such file: static/{name}")
    return _serve(name)


__all__ = ["ASSETS", "asset", "router"]
