"""Items, user histories and catalogs, and the readers for promptrec's JSONL and CSV files.

File formats (one object per line for JSONL, a header row for CSV):

* catalog: ``id`` (or ``item_id``; MovieLens' ``movieId`` and ``itemId`` too), ``title``, and any other fields, which become the item's attributes
  (a JSONL line may also carry them under ``attributes``).
* histories, JSONL: ``{"user_id": "u1", "history": ["id1", "id2", ...]}``, oldest first; an entry may be
  an item object (``{"id": ..., "title": ...}``) instead of an id.
* histories, CSV: ``user_id,item_id[,timestamp][,rating]``, one interaction a row, ordered by timestamp.

Every error names the file, the line and the field.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from promptrec.errors import DataError


def _non_empty_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a string")
    if isinstance(value, float) and not math.isfinite(value):  # a missing value (pandas' NaN), not a title
        raise ValueError(f"must be a string, not {value}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


#: A string (numbers are accepted and converted) that is not empty once stripped of surrounding spaces.
NonEmptyText = Annotated[str, BeforeValidator(_non_empty_text)]


class Item(BaseModel):
    """A recommendable thing: a stable id, a human-readable title and free-form attributes."""

    model_config = ConfigDict(frozen=True)

    id: NonEmptyText
    title: NonEmptyText
    attributes: dict[str, Any] = Field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.id)


#: A float that is not NaN or infinite.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Interaction(BaseModel):
    """One thing a user did with an item, in time order within a history."""

    model_config = ConfigDict(frozen=True)

    item: Item
    timestamp: FiniteFloat | None = None
    rating: FiniteFloat | None = None


class UserHistory(BaseModel):
    """A user's interactions, oldest first."""

    user_id: str = "anonymous"
    interactions: list[Interaction] = Field(default_factory=list)

    @classmethod
    def from_items(cls, items: Iterable[Item], user_id: str = "anonymous") -> UserHistory:
        """Build a history from items given oldest first."""
        return cls(user_id=user_id, interactions=[Interaction(item=item) for item in items])

    @property
    def items(self) -> list[Item]:
        """The items interacted with, oldest first."""
        return [interaction.item for interaction in self.interactions]

    def __len__(self) -> int:
        return len(self.interactions)


class Catalog(Mapping[str, Item]):
    """An immutable id -> :class:`Item` mapping with lookups that fail with clear errors."""

    def __init__(self, items: Iterable[Item], *, source: str | None = None) -> None:
        self._items: dict[str, Item] = {}
        for item in items:
            if item.id in self._items:
                raise DataError(f"duplicate item id '{item.id}'", path=source, field="id")
            self._items[item.id] = item
        self.source = source

    def __getitem__(self, item_id: str) -> Item:
        return self._items[item_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def resolve(self, ids: Iterable[str]) -> list[Item]:
        """The items for ``ids`` in order; a :class:`DataError` lists every id that is not in the catalog."""
        ids = list(ids)
        missing = [item_id for item_id in ids if item_id not in self._items]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
            where = f" {self.source}" if self.source else ""
            raise DataError(f"{len(missing)} item id(s) not in the catalog{where}: {shown}")
        return [self._items[item_id] for item_id in ids]

    def find_title(self, title: str) -> Item | None:
        """The item whose title equals ``title`` ignoring case and surrounding spaces, if any."""
        wanted = title.strip().casefold()
        for item in self._items.values():
            if item.title.casefold() == wanted:
                return item
        return None


def item_from_title(title: str, catalog: Catalog | None = None) -> Item:
    """The catalog item with this title, or a new item whose id is derived from the free-text title."""
    if not title.strip():
        raise DataError("a title must not be empty", field="title")
    if catalog is not None:
        found = catalog.find_title(title)
        if found is not None:
            return found
    return Item(id=f"title:{title.strip()}", title=title)


# ---------------------------------------------------------------------------------------------- readers


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, decoded line) pairs of a text file (``.gz``: gzip-compressed); undecodable bytes raise a
    DataError at their line."""
    try:
        handle = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror}", path=path) from None
    number = 0
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                try:
                    yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path=path, line=number) from None
        except (EOFError, OSError, zlib.error) as exc:  # a truncated or corrupt gzip file
            raise DataError(f"cannot read file: {exc}", path=path, line=number + 1) from None


#: how deeply JSON values (in JSONL files, configurations, batch requests) may nest
MAX_JSON_DEPTH = 64


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"{text} is too large for a number")
    return value


def json_depth(value: Any) -> int:
    """How deeply ``value`` (parsed JSON or TOML: dicts and lists) nests; a scalar is 0. Iterative."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, depth = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` for user files: NaN, Infinity and numbers too large for a float are refused, and so
    is nesting deeper than :data:`MAX_JSON_DEPTH`; each as a ``ValueError`` whose message says so (a
    :class:`json.JSONDecodeError`, with its position, for malformed JSON)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSONL file; errors name the file and line."""
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            value = loads_json(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc.msg} at column {exc.colno})", path=path, line=number) from None
        except ValueError as exc:
            raise DataError(f"invalid JSON: {exc}", path=path, line=number) from None
        if not isinstance(value, dict):
            raise DataError(f"expected a JSON object, got {type(value).__name__}", path=path, line=number)
        yield number, value


#: Where a line of a CSV file ends within a decoded line: after a lone ``\r`` too (as ``newline=""`` reads).
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


def csv_rows(
    path: Path, required: tuple[tuple[str, ...], ...], delimiter: str = ","
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for every non-blank row of a CSV file (TSV with ``delimiter="\t"``; ``.gz`` too),
    streamed; ``required`` lists, per needed column, its accepted names. The one CSV reader of promptrec: every
    error names the file, the line and, for a missing column, the field."""
    kind = "CSV" if delimiter == "," else "TSV"

    def physical_lines() -> Iterator[str]:
        for _, line in _lines(path):
            yield from (piece for piece in _LONE_CR.split(line) if piece)

    reader = csv.reader(physical_lines(), delimiter=delimiter, strict=True)

    def malformed(exc: csv.Error, start: int) -> DataError:
        if "unexpected end of data" in str(exc):
            return DataError(f"unterminated quote: the quoted field that starts on line {start} never ends",
                             path=path, line=start)
        return DataError(f"malformed {kind}: {exc}", path=path, line=max(reader.line_num, start))

    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"empty {kind} file (no header row)", path=path, line=1) from None
    except csv.Error as exc:
        raise malformed(exc, 1) from None
    header = [name.strip() for name in header]
    for names in required:
        if not any(name in header for name in names):
            raise DataError(f"missing column; the header has {header}", path=path, line=1, field=names[0])
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise malformed(exc, start) from None
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"expected {len(header)} columns, got {len(row)}", path=path, line=number)
        yield number, dict(zip(header, row))


_csv_rows = csv_rows  # the name promptrec.retrieval imports


def _pick(record: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    for name in names:
        if name in record and record[name] not in (None, ""):
            return name, record[name]
    return names[0], None


_ID_FIELDS = ("id", "item_id", "movieId", "itemId")  # promptrec's names, then MovieLens' and RecBole's


def item_from_record(record: Mapping[str, Any], path: Path, line: int) -> Item:
    """An :class:`Item` from a catalog record (``id``/``item_id``, ``title``, the rest as attributes)."""
    id_field, item_id = _pick(record, _ID_FIELDS)
    if item_id is None:
        raise DataError("missing item id", path=path, line=line, field=id_field)
    title = record.get("title")
    if title in (None, ""):
        raise DataError("missing title", path=path, line=line, field="title")
    attributes = {k: v for k, v in record.items() if k not in (*_ID_FIELDS, "title", "attributes") and v != ""}
    extra = record.get("attributes", {})
    if not isinstance(extra, dict):
        raise DataError("must be an object", path=path, line=line, field="attributes")
    attributes.update(extra)
    try:
        return Item(id=item_id, title=title, attributes=attributes)
    except ValueError as exc:
        field = "id"
        errors = getattr(exc, "errors", lambda: [])()
        if errors and errors[0].get("loc"):
            field = str(errors[0]["loc"][0])
        message = errors[0]["msg"] if errors else str(exc)
        raise DataError(message, path=path, line=line, field=field) from None


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise DataError("unknown file type; use .jsonl or .csv", path=path)


def read_catalog(path: str | Path) -> Catalog:
    """Read a catalog from a ``.jsonl`` or ``.csv`` file (see the module docstring for the fields)."""
    path = Path(path)
    items: dict[str, Item] = {}
    if _format(path) == "jsonl":
        records: Iterator[tuple[int, Mapping[str, Any]]] = jsonl_objects(path)
    else:
        records = _csv_rows(path, (_ID_FIELDS, ("title",)))
    for line, record in records:
        item = item_from_record(record, path, line)
        if item.id in items:
            raise DataError(f"duplicate item id '{item.id}'", path=path, line=line, field="id")
        items[item.id] = item
    return Catalog(items.values(), source=str(path))


def read_histories(path: str | Path, catalog: Catalog | None = None) -> dict[str, UserHistory]:
    """Read user histories (user id -> history, oldest first) from a ``.jsonl`` or ``.csv`` file.

    Item ids are looked up in ``catalog``; an entry that is a full item object needs no catalog.
    """
    path = Path(path)
    if _format(path) == "jsonl":
        return _jsonl_histories(path, catalog)
    return _csv_histories(path, catalog)


def _lookup(item_id: Any, catalog: Catalog | None, path: Path, line: int, field: str) -> Item:
    if catalog is None:
        raise DataError("item ids need a catalog (or give full item objects)", path=path, line=line, field=field)
    key = str(item_id).strip()
    if key not in catalog:
        raise DataError(f"item id '{key}' is not in the catalog", path=path, line=line, field=field)
    return catalog[key]


def _jsonl_histories(path: Path, catalog: Catalog | None) -> dict[str, UserHistory]:
    histories: dict[str, UserHistory] = {}
    for line, record in jsonl_objects(path):
        user_id = record.get("user_id")
        if user_id in (None, ""):
            raise DataError("missing user id", path=path, line=line, field="user_id")
        entries = record.get("history")
        if not isinstance(entries, list):
            raise DataError("must be a list of item ids or item objects", path=path, line=line, field="history")
        items = []
        for index, entry in enumerate(entries):
            field = f"history[{index}]"
            if isinstance(entry, dict):
                try:
                    items.append(item_from_record(entry, path, line))
                except DataError as exc:
                    raise DataError(exc.reason, path=path, line=line, field=f"{field}.{exc.field}") from None
            elif isinstance(entry, (str, int)) and not isinstance(entry, bool):
                items.append(_lookup(entry, catalog, path, line, field))
            else:
                raise DataError("must be an item id or an item object", path=path, line=line, field=field)
        histories[str(user_id)] = UserHistory.from_items(items, user_id=str(user_id))
    return histories


def _optional_float(value: str | None, path: Path, line: int, field: str) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise DataError(f"not a number: {value!r}", path=path, line=line, field=field) from None
    if not math.isfinite(number):
        raise DataError(f"not a finite number: {value!r}", path=path, line=line, field=field)
    return number


def _csv_histories(path: Path, catalog: Catalog | None) -> dict[str, UserHistory]:
    rows: dict[str, list[tuple[float, int, Interaction]]] = {}
    for line, row in _csv_rows(path, (("user_id",), _ID_FIELDS)):
        user_id = row["user_id"].strip()
        if not user_id:
            raise DataError("missing user id", path=path, line=line, field="user_id")
        id_field, item_id = _pick(row, _ID_FIELDS)
        if item_id is None:
            raise DataError("missing item id", path=path, line=line, field=id_field)
        item = _lookup(item_id, catalog, path, line, id_field)
        timestamp = _optional_float(row.get("timestamp"), path, line, "timestamp")
        rating = _optional_float(row.get("rating"), path, line, "rating")
        interaction = Interaction(item=item, timestamp=timestamp, rating=rating)
        rows.setdefault(user_id, []).append((timestamp if timestamp is not None else float("-inf"), line, interaction))
    return {
        user_id: UserHistory(user_id=user_id, interactions=[i for _, _, i in sorted(entries, key=lambda e: e[:2])])
        for user_id, entries in rows.items()
    }
