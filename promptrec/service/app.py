"""The HTTP API: :func:`create_app` builds the FastAPI app over a :class:`RecommendationService`.

>>> from promptrec.service import ServiceSettings, create_app
>>> app = create_app(ServiceSettings(db="state.sqlite3", catalog="demo", api_key="secret"))
>>> # uvicorn.run(app, host="127.0.0.1", port=8080)  -- what `promptrec serve` does

Endpoints (JSON; docs/service.md has curl examples, /docs the interactive ones):

=======  ==================================  =====================================================
GET      /health                             the service is up; catalog size, database, index mode
POST     /items                              upsert a list of items (key)
GET      /items?q=TEXT&n=&offset=            search the visible catalog (without q: catalog order)
GET      /items/{id}                         one item, hidden or not
DELETE   /items/{id}                         hide it from recommendations (key)
GET      /items/{id}/similar?n=              items like it
POST     /feedback                           a list of {user, item, label, rating?, timestamp?} (key)
GET      /users/{id}/feedback?label=         the user's feedback, oldest first
GET      /users/{id}/recommendations?n=&query=  the pipeline over the stored history and feedback
POST     /recommendations                    {history, feedback, query, n}: a session, nothing stored
GET      /metrics                            Prometheus text
GET      /openapi.json, /docs, /redoc        the schema and its offline interactive docs
=======  ==================================  =====================================================

Every route function is a plain ``def``: FastAPI runs it in its thread pool, so database calls and the
pipeline (an LLM call included) never block the event loop. The recommendation routes return their JSON
already serialised (:func:`_json`): the schema still documents them, but FastAPI does not validate and
serialise the answer a second time.

Extensions: where ``promptrec/service/page.py`` (the web page at /) and ``promptrec/service/gorse.py`` (the
Gorse-compatible /api/) exist, each defines ``router`` (a FastAPI ``APIRouter``) and is included here; they
reach the service as ``request.app.state.service`` (a :class:`RecommendationService`) and the settings as
``request.app.state.settings``, and use :func:`~promptrec.service.security.check_write` /
:func:`~promptrec.service.security.check_read` as dependencies.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response

from promptrec import __version__
from promptrec.data import Item
from promptrec.service.core import NotFoundError, Reaction, RecommendationService, UnknownItemsError
from promptrec.service.docs import install_docs
from promptrec.service.metrics import MetricsMiddleware, ServiceMetrics, mark_process_dead
from promptrec.service.schemas import (
    FeedbackIn,
    FeedbackOut,
    FeedbackWritten,
    Health,
    ItemIn,
    ItemOut,
    ItemsWritten,
    Label,
    Problem,
    Recommendations,
    SessionFeedback,
    SessionRequest,
)
from promptrec.service.security import BodyLimitMiddleware, check_read, check_write, install_error_handlers
from promptrec.service.settings import API_KEY_HEADER, ServiceSettings
from promptrec.service.store import StoredItem

logger = logging.getLogger(__name__)

#: Threads that run the routes (database calls, the pipeline, LLM calls waiting on their answer).
WORKER_THREADS = 128

#: Extension modules included when present (each defines ``router``); see the module docstring.
EXTENSIONS = ("gorse", "page")

_READ = [Depends(check_read)]
_WRITE = [Depends(check_write)]
_ERRORS = {401: {"model": Problem, "description": f"missing or wrong {API_KEY_HEADER}"},
           422: {"model": Problem, "description": "invalid input; the message names the field"}}
_NOT_FOUND = {404: {"model": Problem, "description": "no such item or user"}}


def create_app(settings: ServiceSettings, service: RecommendationService | None = None) -> FastAPI:
    """The service's FastAPI app. Opens the database, seeds it from the settings' catalog and interactions
    files and builds the pipeline now, so a bad file or database fails here, before a port is bound."""
    if service is None:
        service = RecommendationService(settings)
        service.start()
    limits = settings.limits

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        # every route but /health runs in this pool; LLM calls wait in it, so it is larger than anyio's 40
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        yield
        service.close()
        if metrics.multiprocess:  # this worker stops: it no longer counts as a live one
            mark_process_dead(os.getpid())

    app = FastAPI(
        title="promptrec", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
        description="Recommendations from promptrec's pipeline (retrieval, feedback, LLM ranking, fusion) over a "
                    f"catalog, users and their feedback kept in a database. Writes need the `{API_KEY_HEADER}` "
                    "header; reads may omit it.",
    )
    app.state.settings = settings
    app.state.service = service
    metrics = ServiceMetrics(service.engine, service.store.count_items)
    app.state.metrics = metrics
    install_error_handlers(app)

    def check_n(n: int, name: str = "n") -> None:
        if n > limits.max_n:
            raise HTTPException(422, f"{name} must be at most {limits.max_n}, got {n}")

    def check_batch(count: int, what: str) -> None:
        if count > limits.max_batch:
            raise HTTPException(422, f"at most {limits.max_batch} {what} per request, got {count}; split the list")

    def check_query(query: str | None) -> str | None:
        if query is not None and len(query) > limits.max_query_chars:
            raise HTTPException(422, f"query: at most {limits.max_query_chars} characters, got {len(query)}")
        return query.strip() or None if query is not None else None

    def not_found(exc: NotFoundError) -> HTTPException:
        return HTTPException(404, str(exc))

    # ------------------------------------------------------------------------------------------ health

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        """Answers 200 while the service is up (never needs the key: load balancers ask it). It runs on the
        event loop and reads no database, so it answers even while every worker thread waits on an LLM."""
        return Health(items=service.engine.size, database=service.store.dialect,
                      catalog_version=service.engine.catalog_version, incremental_index=service.engine.incremental,
                      warm=service.engine.warm)

    @app.get("/metrics", tags=["service"], response_class=Response, dependencies=_READ,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    def prometheus() -> Response:
        """Requests, latency histograms, LLM calls and cache hits, index rebuilds (Prometheus text)."""
        return Response(metrics.render(), media_type=metrics.content_type)

    # ------------------------------------------------------------------------------------------- items

    @app.post("/items", response_model=ItemsWritten, dependencies=_WRITE, tags=["items"], responses=_ERRORS)
    def upsert_items(items: list[ItemIn] = Body(..., description="items to add or replace")) -> ItemsWritten:
        """Add items, or replace the title and attributes of those with the same id (a hidden item stays
        hidden). The retrieval index takes them in place where the retriever can, else it is rebuilt once
        before the next answer."""
        check_batch(len(items), "items")
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise HTTPException(422, f"item id '{duplicate}' appears twice in the list")
        count = service.upsert_items([Item(id=i.id, title=i.title, attributes=i.attributes) for i in items])
        return ItemsWritten(upserted=count, catalog_version=service.store.catalog_version())

    @app.get("/items", response_model=list[ItemOut], dependencies=_READ, tags=["items"], responses=_ERRORS)
    def search_items(q: str = Query("", description="words that must all appear (title first, then attributes)"),
                     n: int = Query(20, ge=1), offset: int = Query(0, ge=0)) -> list[ItemOut]:
        """Search the visible catalog; without ``q``, the catalog in the order items were added."""
        check_n(n)
        check_query(q)
        return [_item_out(s) for s in service.search(q, n, offset)]

    @app.get("/items/{item_id}", response_model=ItemOut, dependencies=_READ, tags=["items"],
             responses=_ERRORS | _NOT_FOUND)
    def get_item(item_id: str = Path(...)) -> ItemOut:
        """One item, hidden or not."""
        try:
            return _item_out(service.item(item_id))
        except NotFoundError as exc:
            raise not_found(exc) from None

    @app.delete("/items/{item_id}", response_model=ItemOut, dependencies=_WRITE, tags=["items"],
                responses=_ERRORS | _NOT_FOUND)
    def hide_item(item_id: str = Path(...)) -> ItemOut:
        """Hide an item: it is never recommended again (it stays in the catalog and in histories)."""
        try:
            service.hide_item(item_id)
            return _item_out(service.item(item_id))
        except NotFoundError as exc:
            raise not_found(exc) from None

    @app.get("/items/{item_id}/similar", response_model=Recommendations, dependencies=_READ,
             tags=["recommendations"], responses=_ERRORS | _NOT_FOUND)
    def similar(item_id: str = Path(...), n: int = Query(10, ge=1)) -> Response:
        """Items like this one, each with its scores and a reason."""
        check_n(n)
        try:
            return _json(Recommendations.from_ranking(service.similar(item_id, n), item=item_id))
        except NotFoundError as exc:
            raise not_found(exc) from None

    # ---------------------------------------------------------------------------------------- feedback

    @app.post("/feedback", response_model=FeedbackWritten, dependencies=_WRITE, tags=["feedback"],
              responses=_ERRORS)
    def add_feedback(records: list[FeedbackIn] = Body(..., description="reactions of users to catalog items")) -> FeedbackWritten:
        """Record users' reactions: ``liked``, ``disliked``, ``clicked``, ``skipped`` or ``rating`` (with a
        0-5 ``rating``). All or none: an unknown item refuses the whole list."""
        check_batch(len(records), "feedback records")
        try:
            added = service.add_feedback([_reaction(r, r.user) for r in records])
        except UnknownItemsError as exc:
            raise HTTPException(422, str(exc)) from None
        return FeedbackWritten(added=added)

    @app.get("/users/{user_id}/feedback", response_model=list[FeedbackOut], dependencies=_READ,
             tags=["feedback"], responses=_ERRORS | _NOT_FOUND)
    def user_feedback(user_id: str = Path(...), label: Label | None = Query(None)) -> list[FeedbackOut]:
        """The user's feedback, oldest first (only ``label`` if given)."""
        try:
            stored = service.feedback(user_id, label)
        except NotFoundError as exc:
            raise not_found(exc) from None
        return [FeedbackOut(user=f.user_id, item=f.item_id, label=f.label, rating=f.rating, timestamp=f.timestamp)
                for f in stored]

    # --------------------------------------------------------------------------------- recommendations

    @app.get("/users/{user_id}/recommendations", response_model=Recommendations, dependencies=_READ,
             tags=["recommendations"], responses=_ERRORS)
    def user_recommendations(user_id: str = Path(...), n: int = Query(10, ge=1),
                             query: str | None = Query(None, description="free-text interests")) -> Response:
        """The pipeline's top ``n`` for a stored user: their history and feedback (liked items join the
        history, disliked ones are demoted or removed), with each stage's score and a reason."""
        check_n(n)
        ranking = service.recommend_user(user_id, n, check_query(query))
        return _json(Recommendations.from_ranking(ranking, user=user_id))

    @app.post("/recommendations", response_model=Recommendations, dependencies=_READ, tags=["recommendations"],
              responses=_ERRORS)
    def session_recommendations(request: SessionRequest) -> Response:
        """Recommendations for a session with no stored user: a history of item ids, feedback and a query.
        Nothing is stored; the key is not needed."""
        check_n(request.n)
        if len(request.history) > limits.max_history or len(request.feedback) > limits.max_history:
            raise HTTPException(422, f"history and feedback: at most {limits.max_history} entries each")
        try:
            ranking = service.recommend_session(request.history, [_reaction(r, None) for r in request.feedback],
                                                request.n, check_query(request.query))
        except UnknownItemsError as exc:
            raise HTTPException(422, str(exc)) from None
        return _json(Recommendations.from_ranking(ranking))

    install_docs(app)
    for name in EXTENSIONS:
        if importlib.util.find_spec(f"promptrec.service.{name}") is not None:
            app.include_router(importlib.import_module(f"promptrec.service.{name}").router)

    app.add_middleware(BodyLimitMiddleware, limit=limits.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE", "PATCH"],
                           allow_headers=[API_KEY_HEADER, "Content-Type"])
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


#: The environment variable through which :func:`app_from_environment` gets its settings (``--workers``).
SETTINGS_ENV = "PROMPTREC_SERVICE_SETTINGS"


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``promptrec serve --workers N``: uvicorn imports this factory in each
    worker; the settings come as JSON in ``$PROMPTREC_SERVICE_SETTINGS`` (the parent seeded the database, so
    the workers only build their pipeline)."""
    return create_app(ServiceSettings.model_validate_json(os.environ[SETTINGS_ENV]))


def _json(answer: Recommendations) -> Response:
    """The answer as JSON, serialised once by pydantic (the route's ``response_model`` documents it)."""
    return Response(answer.model_dump_json(), media_type="application/json")


def _item_out(stored: StoredItem) -> ItemOut:
    item = stored.item
    return ItemOut(id=item.id, title=item.title, attributes=item.attributes, hidden=stored.hidden)


def _reaction(record: SessionFeedback, user: str | None) -> Reaction:
    return Reaction(user=user, item=record.item, label=record.label, rating=record.rating, timestamp=record.timestamp)


__all__ = ["EXTENSIONS", "SETTINGS_ENV", "app_from_environment", "create_app"]
