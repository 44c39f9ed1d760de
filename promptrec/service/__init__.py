"""The recommendation service (``promptrec serve``): the pipeline behind an HTTP API, its state in SQLite or
PostgreSQL. Needs the ``server`` extra (``pip install 'promptrec[server]'``); docs/service.md is the guide.

=========================  ==================================================================
:mod:`.settings`           :class:`ServiceSettings`: database, seed files, API key, CORS, limits
:mod:`.store`              the database (SQLAlchemy 2): items with a hidden flag, users, interactions, feedback
:mod:`.engine`             the one shipped pipeline, kept in step with the database
:mod:`.core`               :class:`RecommendationService`: the operations, apart from HTTP
:mod:`.schemas`            the JSON in and out (the OpenAPI schema comes from it)
:mod:`.security`           the API key, the body limit, errors as one line
:mod:`.metrics`            GET /metrics (Prometheus)
:mod:`.docs`               /docs and /redoc from local files
:mod:`.app`                :func:`create_app`: the routes
=========================  ==================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptrec.service.settings import API_KEY_HEADER, Limits, ServiceSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from promptrec.service.core import RecommendationService


def create_app(settings: ServiceSettings, service: RecommendationService | None = None) -> FastAPI:
    """The service's FastAPI app (:func:`promptrec.service.app.create_app`)."""
    from promptrec.service.app import create_app as build

    return build(settings, service)


def __getattr__(name: str) -> Any:
    if name == "RecommendationService":
        from promptrec.service.core import RecommendationService

        return RecommendationService
    raise AttributeError(name)


__all__ = ["API_KEY_HEADER", "Limits", "RecommendationService", "ServiceSettings", "create_app"]
