"""Gorse's REST API under ``/api/``: an app built on a Gorse SDK (pygorse, gorsejs...) switches by changing
its URL and key (docs/gorse.md). A thin mapping onto :class:`~promptrec.service.core.RecommendationService`
(the same calls the JSON endpoints make) with Gorse's field names, shapes and status codes
(:mod:`promptrec.service.gorse_mapping` converts the records); no recommendation logic here.

* ``/recommend`` answers the pipeline's item ids (``[{Id, Score}]`` with header ``X-API-Version: 2``, which
  pygorse sends); ``/session/recommend`` and ``/neighbors`` answer ``[{Id, Score}]``. A category: the pipeline
  is asked with every item outside it excluded, so it retrieves within the category (neighbours: the similar
  items are filtered). ``IsHidden`` and ``DELETE /api/item`` hide an item from recommendations.
* Writes answer ``{"RowAffected": n}``. Status codes: 200 on success, 401 for a missing or wrong key on a
  write (or a wrong one on a read), 404 for an unknown item or user, 400/422 for bad input.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request

from promptrec.ranking import RankedItem, Ranking
from promptrec.service.core import NotFoundError, RecommendationService, UnknownItemsError
from promptrec.service.gorse_mapping import (
    DEFAULT_FEEDBACK_TYPES,
    GorseFeedback,
    GorseItem,
    GorseItemPatch,
    GorseUser,
    ItemIterator,
    RowAffected,
    Score,
    categories,
    iso,
    labels_in,
    labels_out,
    reactions,
    to_gorse,
    to_item,
)
from promptrec.service.security import check_read, check_write
from promptrec.service.store import StoredItem, StoredUser

router = APIRouter(prefix="/api", tags=["gorse"])
_READ = [Depends(check_read)]
_WRITE = [Depends(check_write)]


def feedback_types(request: Request) -> dict[str, str]:
    """:data:`DEFAULT_FEEDBACK_TYPES` with the settings' ``gorse_feedback`` over it."""
    configured = getattr(request.app.state.settings, "gorse_feedback", None) or {}
    return {**DEFAULT_FEEDBACK_TYPES, **configured}



def _service(request: Request) -> RecommendationService:
    return request.app.state.service


def _window(request: Request, n: int, offset: int, category: str = "") -> int:
    """How many items to ask the pipeline for: ``n + offset`` (for neighbours in a category, the service's
    most, of which the category keeps some), within the service's limit."""
    most = request.app.state.settings.limits.max_n
    if n + offset > most:
        raise HTTPException(422, f"n + offset must be at most {most}, got {n + offset}")
    return most if category else n + offset


class _CategoryIndex:
    """Which catalog items lie outside each Gorse category, for one catalog version (rebuilt when it changes):
    what a category request passes to the pipeline as ``exclude``, so it retrieves within the category."""

    def __init__(self, version: int, stored: Iterable[StoredItem]) -> None:
        self.version = version
        self._members: dict[str, set[str]] = {}
        ids = []
        for entry in stored:
            ids.append(entry.item.id)
            for category in categories(entry.item):
                self._members.setdefault(category, set()).add(entry.item.id)
        self._all = frozenset(ids)
        self._outside: dict[str, frozenset[str]] = {}

    def outside(self, category: str) -> frozenset[str]:
        if category not in self._outside:
            self._outside[category] = self._all - self._members.get(category, set())
        return self._outside[category]


_INDEX_LOCK = threading.Lock()


def _outside(request: Request, category: str) -> frozenset[str]:
    """The items a request for ``category`` excludes (none without a category)."""
    if not category:
        return frozenset()
    service = _service(request)
    version = service.store.catalog_version()
    with _INDEX_LOCK:
        index: _CategoryIndex | None = getattr(request.app.state, "gorse_categories", None)
        if index is None or index.version != version:
            index = _CategoryIndex(version, service.store.items())
            request.app.state.gorse_categories = index
        return index.outside(category)


def _batch(request: Request, count: int, what: str, limit: str = "max_batch") -> None:
    """422 for a list longer than the service's limit (the JSON endpoints' limits)."""
    most = getattr(request.app.state.settings.limits, limit)
    if count > most:
        raise HTTPException(422, f"at most {most} {what} per request, got {count}; split the list")


def _page(ranking: Ranking, category: str, n: int, offset: int) -> list[RankedItem]:
    # the pipeline was asked without the items outside the category; this also drops one added since
    kept = [r for r in ranking.items if not category or category in categories(r.item)]
    return kept[offset:offset + n]


def _scores(entries: Iterable[RankedItem]) -> list[Score]:
    return [Score(Id=r.item.id, Score=r.score) for r in entries]


def _unknown(exc: NotFoundError | UnknownItemsError) -> HTTPException:
    return HTTPException(404, str(exc))


# --------------------------------------------------------------------------------------------- routes

@router.get("/health/live")
@router.get("/health/ready")
def health(request: Request) -> dict[str, Any]:
    """Gorse's liveness and readiness probes (no key needed)."""
    _service(request).store.count_items()
    return {"Ready": True, "DataStoreError": None, "CacheStoreError": None, "DataStoreConnected": True,
            "CacheStoreConnected": True}


@router.post("/item", response_model=RowAffected, dependencies=_WRITE)
def insert_item(request: Request, item: GorseItem) -> RowAffected:
    """Insert an item, or overwrite the one with its id."""
    return insert_items(request, [item])


@router.post("/items", response_model=RowAffected, dependencies=_WRITE)
def insert_items(request: Request, items: list[GorseItem] = Body(...)) -> RowAffected:
    """Insert items, or overwrite those with their ids."""
    _batch(request, len(items), "items")
    service = _service(request)
    service.upsert_items([to_item(item) for item in items])
    for item in items:  # an overwrite sets IsHidden too (POST /items keeps a hidden flag as it was)
        if item.IsHidden or service.item(item.ItemId).hidden:
            service.hide_item(item.ItemId, item.IsHidden)
    return RowAffected(RowAffected=len(items))


@router.get("/item/{item_id}", response_model=GorseItem, dependencies=_READ)
def get_item(request: Request, item_id: str) -> GorseItem:
    """One item, hidden or not; 404 for an unknown id."""
    try:
        return to_gorse(_service(request).item(item_id))
    except NotFoundError as exc:
        raise _unknown(exc) from None


@router.patch("/item/{item_id}", response_model=RowAffected, dependencies=_WRITE)
def update_item(request: Request, item_id: str, patch: GorseItemPatch) -> RowAffected:
    """Change some of an item's fields; 404 for an unknown id."""
    service = _service(request)
    try:
        current = to_gorse(service.item(item_id))
    except NotFoundError as exc:
        raise _unknown(exc) from None
    changes = patch.model_dump(exclude_none=True, exclude={"IsHidden"})
    if changes:
        service.upsert_items([to_item(current.model_copy(update=changes))])
    if patch.IsHidden is not None:
        service.hide_item(item_id, patch.IsHidden)
    return RowAffected(RowAffected=1)


@router.delete("/item/{item_id}", response_model=RowAffected, dependencies=_WRITE)
def delete_item(request: Request, item_id: str) -> RowAffected:
    """Hide the item from recommendations (promptrec keeps it in the catalog and in histories)."""
    try:
        _service(request).hide_item(item_id)
    except NotFoundError as exc:
        raise _unknown(exc) from None
    return RowAffected(RowAffected=1)


@router.get("/items", response_model=ItemIterator, dependencies=_READ)
def get_items(request: Request, n: int = Query(10, ge=1), cursor: str = "",
              q: str | None = Query(None, description="search words (pygorse's search_items)")) -> ItemIterator:
    """A page of the catalog in the order items were added (hidden ones included, flagged), from ``cursor``;
    with ``q``, the visible items matching it."""
    service = _service(request)
    _window(request, n, 0)
    if q:
        return ItemIterator(Cursor="", Items=[to_gorse(s) for s in service.search(q, n)])
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise HTTPException(400, f"cursor: '{cursor}' is not a cursor this service gave") from None
    page, following = service.store.item_page(start, n)
    return ItemIterator(Cursor=str(following) if following else "", Items=[to_gorse(s) for s in page])


@router.post("/feedback", response_model=RowAffected, dependencies=_WRITE)
def insert_feedback(request: Request, records: list[GorseFeedback] = Body(...)) -> RowAffected:
    """Record feedback (FeedbackType -> label: :mod:`~promptrec.service.gorse_mapping`); all or none: an unknown
    item is 404."""
    _batch(request, len(records), "feedback records")
    try:
        added = _service(request).add_feedback(reactions(records, feedback_types(request), session=False))
    except UnknownItemsError as exc:
        raise _unknown(exc) from None
    return RowAffected(RowAffected=added)


@router.get("/user/{user_id}/feedback/{feedback_type}", dependencies=_READ)
def user_feedback(request: Request, user_id: str, feedback_type: str) -> list[dict[str, Any]]:
    """The user's feedback whose label the type maps to, oldest first; 404 for an unknown user."""
    label = feedback_types(request).get(feedback_type)
    try:
        stored = _service(request).feedback(user_id, label) if label else []
    except NotFoundError as exc:
        raise _unknown(exc) from None
    return [{"FeedbackType": feedback_type, "UserId": f.user_id, "ItemId": f.item_id, "Value": f.rating or 0.0,
             "Timestamp": iso(f.timestamp), "Comment": ""} for f in stored]


@router.get("/recommend/{user_id}", dependencies=_READ)
@router.get("/recommend/{user_id}/", dependencies=_READ, include_in_schema=False)
@router.get("/recommend/{user_id}/{category}", dependencies=_READ)
def recommend(request: Request, user_id: str, category: str = "", n: int = Query(10, ge=1),
              offset: int = Query(0, ge=0), x_api_version: str | None = Header(None)) -> list[Any]:
    """The pipeline's recommendations for a stored user: item ids, or ``[{Id, Score}]`` with
    ``X-API-Version: 2`` (pygorse sends it). ``write-back-type`` is ignored: post the feedback instead."""
    ranking = _service(request).recommend_user(user_id, _window(request, n, offset), exclude=_outside(request, category))
    entries = _page(ranking, category, n, offset)
    return _scores(entries) if x_api_version == "2" else [r.item.id for r in entries]


@router.post("/session/recommend", response_model=list[Score], dependencies=_READ)
@router.post("/session/recommend/{category}", response_model=list[Score], dependencies=_READ)
def session_recommend(request: Request, records: list[GorseFeedback] = Body(...), category: str = "",
                      n: int = Query(10, ge=1), offset: int = Query(0, ge=0)) -> list[Score]:
    """Recommendations for a list of feedback with no stored user (nothing is stored)."""
    _batch(request, len(records), "feedback records", "max_history")
    try:
        ranking = _service(request).recommend_session(
            [], reactions(records, feedback_types(request), session=True), _window(request, n, offset),
            exclude=_outside(request, category))
    except UnknownItemsError as exc:
        raise _unknown(exc) from None
    return _scores(_page(ranking, category, n, offset))


@router.get("/item/{item_id}/neighbors", response_model=list[Score], dependencies=_READ)
@router.get("/item/{item_id}/neighbors/", response_model=list[Score], dependencies=_READ, include_in_schema=False)
@router.get("/item/{item_id}/neighbors/{category}", response_model=list[Score], dependencies=_READ)
def neighbors(request: Request, item_id: str, category: str = "", n: int = Query(10, ge=1),
              offset: int = Query(0, ge=0)) -> list[Score]:
    """Items like this one (the pipeline's similar items); 404 for an unknown item."""
    try:
        ranking = _service(request).similar(item_id, _window(request, n, offset, category))
    except NotFoundError as exc:
        raise _unknown(exc) from None
    return _scores(_page(ranking, category, n, offset))


@router.post("/user", response_model=RowAffected, dependencies=_WRITE)
def insert_user(request: Request, user: GorseUser) -> RowAffected:
    """Create a user, or replace its labels and comment."""
    return insert_users(request, [user])


@router.post("/users", response_model=RowAffected, dependencies=_WRITE)
def insert_users(request: Request, users: list[GorseUser] = Body(...)) -> RowAffected:
    """Create users, or replace their labels and comments."""
    _batch(request, len(users), "users")
    store = _service(request).store
    for user in users:
        store.upsert_user(StoredUser(id=user.UserId.strip(), labels=labels_in(user.Labels),
                                     comment=(user.Comment or "").strip() or None))
    return RowAffected(RowAffected=len(users))


@router.get("/user/{user_id}", response_model=GorseUser, dependencies=_READ)
def get_user(request: Request, user_id: str) -> GorseUser:
    """A user that was inserted, gave feedback or has a history; 404 otherwise."""
    store = _service(request).store
    user = store.get_user(user_id)
    if user is None and store.user_exists(user_id):
        user = StoredUser(id=user_id)
    if user is None:
        raise HTTPException(404, f"user '{user_id}' is not known here")
    return GorseUser(UserId=user.id, Labels=labels_out(user.labels), Subscribe=[], Comment=user.comment or "")


@router.delete("/user/{user_id}", response_model=RowAffected, dependencies=_WRITE)
def delete_user(request: Request, user_id: str) -> RowAffected:
    """Delete a user with its feedback and history; 404 for an unknown user."""
    if not _service(request).store.delete_user(user_id):
        raise HTTPException(404, f"user '{user_id}' is not known here")
    return RowAffected(RowAffected=1)


__all__ = ["feedback_types", "router"]
