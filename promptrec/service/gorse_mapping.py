"""Gorse's records and promptrec's, both ways: the field names, shapes and checks of the Gorse-compatible API
(:mod:`promptrec.service.gorse`, which serves them under ``/api/``). Pure functions; a record that cannot be
mapped is an ``HTTPException`` (400) whose message names the field.

* **Item** ``{ItemId, IsHidden, Categories, Labels, Timestamp, Comment}``: ``Comment`` is the title (else
  ``Labels.title``, else the id); an object of ``Labels`` becomes the item's attributes (a list is kept as
  ``attributes.labels``), ``Categories`` goes to ``attributes.categories`` and ``Timestamp`` to
  ``attributes.timestamp``. Read back, an item without ``categories`` shows its ``genres`` as Categories.
* **Feedback** ``{FeedbackType, UserId, ItemId, Timestamp, Value}``: the type maps to a promptrec label by
  :data:`DEFAULT_FEEDBACK_TYPES` (``star``/``like`` liked, ``dislike`` disliked, ``read`` a view: clicked)
  or the service's own table; a type mapped to ``rating`` takes ``Value`` (0-5).
* **User** ``{UserId, Labels, Subscribe, Comment}``: labels and comment are kept, ``Subscribe`` is not.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Final

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptrec.data import Item
from promptrec.service.core import Reaction
from promptrec.service.schemas import ItemIn
from promptrec.service.store import StoredItem

#: Gorse FeedbackType -> promptrec feedback label, unless the service's settings say otherwise.
DEFAULT_FEEDBACK_TYPES: Final[dict[str, str]] = {"star": "liked", "like": "liked", "dislike": "disliked",
                                                 "read": "clicked"}
#: Attribute keys the mapping itself writes (the rest of an item's attributes are its Labels).
_OWN_KEYS: Final = ("categories", "timestamp")


class _Gorse(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class GorseItem(_Gorse):
    """Gorse's item."""

    ItemId: str = Field(min_length=1, max_length=256)
    IsHidden: bool = False
    Categories: list[str] | None = None
    Labels: Any = None
    Timestamp: str | None = ""
    Comment: str | None = ""


class GorseItemPatch(_Gorse):
    """The fields PATCH /api/item/{id} may change (a missing or null field stays as it is)."""

    IsHidden: bool | None = None
    Categories: list[str] | None = None
    Labels: Any = None
    Timestamp: str | None = None
    Comment: str | None = None


class GorseFeedback(_Gorse):
    """Gorse's feedback record."""

    FeedbackType: str = Field(min_length=1)
    UserId: str = ""
    ItemId: str = Field(min_length=1)
    Timestamp: str | None = ""
    Value: float | None = 0.0
    Comment: str | None = ""


class GorseUser(_Gorse):
    """Gorse's user."""

    UserId: str = Field(min_length=1, max_length=256)
    Labels: Any = None
    Subscribe: list[str] | None = None
    Comment: str | None = ""


class RowAffected(BaseModel):
    """What a write did."""

    RowAffected: int


class Score(BaseModel):
    """A scored item id."""

    Id: str
    Score: float


class ItemIterator(BaseModel):
    """A page of items and the cursor of the next page (empty after the last)."""

    Cursor: str
    Items: list[GorseItem]


def to_item(gorse: GorseItem) -> Item:
    """A Gorse item as a catalog item (module docstring); validated as POST /items validates."""
    labels = gorse.Labels
    attributes: dict[str, Any] = dict(labels) if isinstance(labels, dict) else (
        {"labels": labels} if labels not in (None, "", [], {}) else {})
    if gorse.Categories:
        attributes["categories"] = list(gorse.Categories)
    if gorse.Timestamp:
        attributes["timestamp"] = gorse.Timestamp
    label_title = str(labels.get("title") or "").strip() if isinstance(labels, dict) else ""
    title = (gorse.Comment or "").strip() or label_title or gorse.ItemId
    try:
        checked = ItemIn(id=gorse.ItemId, title=title, attributes=attributes)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise HTTPException(400, f"item '{gorse.ItemId}': {where}: {error['msg'].removeprefix('Value error, ')}") from None
    return Item(id=checked.id, title=checked.title, attributes=checked.attributes)


def categories(item: Item) -> list[str]:
    """An item's Gorse Categories: ``attributes.categories``, else its ``genres``."""
    value = item.attributes.get("categories", item.attributes.get("genres", []))
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def to_gorse(stored: StoredItem) -> GorseItem:
    """A stored item in Gorse's shape."""
    attributes = stored.item.attributes
    rest = {k: v for k, v in attributes.items() if k not in _OWN_KEYS}
    labels = rest["labels"] if set(rest) == {"labels"} else rest
    return GorseItem(ItemId=stored.item.id, IsHidden=stored.hidden, Categories=categories(stored.item),
                     Labels=labels, Timestamp=str(attributes.get("timestamp", "")), Comment=stored.item.title)


def epoch(text: str | None, where: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 date or time (UTC unless it says otherwise); ``None`` if empty."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise HTTPException(400, f"{where}: '{text}' is not a date or time; use ISO 8601, e.g. "
                                 "2022-02-24T00:00:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def iso(seconds: float) -> str:
    """An epoch time as Gorse writes one (RFC 3339, UTC)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def reactions(records: Sequence[GorseFeedback], types: dict[str, str], *, session: bool) -> list[Reaction]:
    """Gorse feedback as the service's reactions; an unmapped type is refused with the known ones."""
    out = []
    for index, record in enumerate(records):
        label = types.get(record.FeedbackType)
        if label is None:
            known = ", ".join(f"{t}={lab}" for t, lab in types.items())
            raise HTTPException(400, f"[{index}].FeedbackType: unknown type '{record.FeedbackType}'; this service maps "
                                     f"{known} (promptrec serve --gorse-feedback TYPE=LABEL adds one)")
        rating = None
        if label == "rating":
            rating = record.Value if record.Value is not None else 0.0
            if not 0.0 <= rating <= 5.0:
                raise HTTPException(400, f"[{index}].Value: a rating must be between 0 and 5, got {rating}")
        if not session and not record.UserId.strip():
            raise HTTPException(400, f"[{index}].UserId: must not be empty")
        out.append(Reaction(user=None if session else record.UserId.strip(), item=record.ItemId, label=label,
                            rating=rating, timestamp=epoch(record.Timestamp, f"[{index}].Timestamp")))
    return out


def labels_in(labels: Any) -> list[str]:
    """Gorse user Labels (a list, or an object since Gorse 0.5) as the store keeps them: a list of strings;
    an object is kept as its JSON text, one element."""
    if labels in (None, "", [], {}):
        return []
    if isinstance(labels, list):
        return [str(label) for label in labels]
    return [json.dumps(labels, ensure_ascii=False, sort_keys=True)]


def labels_out(labels: list[str]) -> Any:
    """The stored labels as Gorse shows them (:func:`labels_in` reversed)."""
    if len(labels) == 1 and labels[0].startswith("{"):
        try:
            return json.loads(labels[0])
        except ValueError:
            pass
    return list(labels)


__all__ = ["DEFAULT_FEEDBACK_TYPES", "GorseFeedback", "GorseItem", "GorseItemPatch", "GorseUser", "ItemIterator",
           "RowAffected", "Score", "categories", "epoch", "iso", "labels_in", "labels_out", "reactions", "to_gorse",
           "to_item"]
