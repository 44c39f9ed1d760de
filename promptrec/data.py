"""Items, user histories and catalogs, and the readers for promptrec's JSONL and CSV files.

File formats (one object per line for JSONL, a header row for CSV):

* catalog: ``id`` (or ``item_id``; MovieLens' ``movieId`` and ``itemId`` too), ``title``, and any other fields, which become the item's attributes
  (a JSONL line may also carry them under ``attributes``).
* histories, JSONL: ``{"user_id": "u1", "history": ["id1", "id2", ...]}``, oldest first; an entry may be
  an item object (``{"id": ..., "title": ...}``) instead of an id.
* histories, CSV: ``user_id,item_id[,timestamp][,rating]``, one interaction a row, ordered by timestamp
  (MovieLens' ``userId,movieId`` too); every interactions file is parsed by :func:`interaction_rows`.

The format comes from the extension: ``.jsonl``/``.ndjson``, ``.csv``, ``.tsv`` (each may end in ``.gz``)
and ``.parquet`` (needs pyarrow: ``pip install 'promptrec[pandas]'``). Your own column names are given as a
:class:`Columns` (``--id-col``, ``--title-col``, ``--text-cols``, ``--user-col``, ``--item-col``,
``--time-col``, ``--rating-col`` on the command line, ``[data]`` in a configuration file). DataFrames and
plain records come in through :meth:`Catalog.from_pandas`, :meth:`Catalog.from_polars` and
:meth:`Catalog.from_records`.

Every error names the file, the line and the field; a missing column is named with the columns there are.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import math
import re
import zlib
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass
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


_ID_FIELDS = ("id", "item_id", "movieId", "itemId")  # promptrec's names, then MovieLens' and RecBole's
_USER_FIELDS = ("user_id", "userId")


def _column_names(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else list(value)
    return tuple(name.strip() for name in names if name and name.strip())


@dataclass(frozen=True)
class Columns:
    """Your own column (or JSONL field) names; ``None`` keeps promptrec's usual ones.

    Catalogs: ``id`` (default: ``id``, ``item_id``, ``movieId`` or ``itemId``), ``title`` (``title``) and
    ``text``: the columns kept as the item's attributes, which the prompt shows and the text retrievers read
    (default: every other column). Interactions and histories: ``user`` (``user_id``, ``userId``), ``item``
    (as ``id``), ``time`` (``timestamp``: seconds, or an ISO 8601 date) and ``rating`` (``rating``).

    >>> Columns(id="movieId", title="name", text=["genres", "year"])
    """

    id: str | None = None
    title: str | None = None
    text: tuple[str, ...] | None = None
    user: str | None = None
    item: str | None = None
    time: str | None = None
    rating: str | None = None

    def __post_init__(self) -> None:
        for name in ("id", "title", "user", "item", "time", "rating"):
            value = getattr(self, name)
            object.__setattr__(self, name, value.strip() if isinstance(value, str) and value.strip() else None)
        object.__setattr__(self, "text", _column_names(self.text))

    @classmethod
    def of(cls, columns: Columns | Mapping[str, Any] | None = None, **names: Any) -> Columns:
        """``columns`` (a :class:`Columns` or a mapping of its fields) with ``names`` on top (``None`` ignored)."""
        given = columns.__dict__ if isinstance(columns, Columns) else dict(columns or {})
        unknown = sorted(set(given) - set(cls.__dataclass_fields__))
        if unknown:
            raise DataError(f"unknown column option(s) {', '.join(unknown)}; the options are: "
                            f"{', '.join(cls.__dataclass_fields__)}")
        return cls(**{**given, **{k: v for k, v in names.items() if v is not None}})

    def catalog_required(self) -> tuple[tuple[str, ...], ...]:
        """Per needed catalog column, the names it may have."""
        return ((self.id,) if self.id else _ID_FIELDS, (self.title or "title",),
                *((name,) for name in self.text or ()))

    def interactions_required(self, users: tuple[str, ...] = _USER_FIELDS) -> tuple[tuple[str, ...], ...]:
        """Per needed interactions column, the names it may have."""
        return ((self.user,) if self.user else users, (self.item,) if self.item else _ID_FIELDS,
                *((name,) for name in (self.time, self.rating) if name))

    def item_record(self, record: Mapping[str, Any], path: str | Path | None = None, line: int | None = None) -> dict[str, Any]:
        """A catalog record with promptrec's names (``id``, ``title``, attributes); the given columns must be
        there (a :class:`DataError` names the one that is not)."""
        if self.id is None and self.title is None and self.text is None:
            return dict(record)
        for name in (self.id, self.title):
            if name is not None and record.get(name) in (None, ""):
                raise DataError("missing " + ("item id" if name == self.id else "title"), path=path, line=line,
                                field=name)
        renamed = {k: v for k, v in record.items() if not (self.id and k in _ID_FIELDS) and k not in (self.id, self.title)}
        if self.id:
            renamed["id"] = record[self.id]
        if self.title:
            renamed["title"] = record[self.title]
        if self.text is not None:
            nested = renamed.get("attributes") if isinstance(renamed.get("attributes"), Mapping) else {}
            kept = {name: record[name] if name in record else nested.get(name) for name in self.text}
            renamed = {"id": renamed.get("id", _pick(record, _ID_FIELDS)[1]), "title": renamed.get("title"),
                       **{k: v for k, v in kept.items() if v is not None}}
        return renamed

    def interaction_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """An interaction row with promptrec's names (``user_id``, ``item_id``, ``timestamp``, ``rating``)."""
        renamed = dict(record)
        if self.item:
            renamed = {k: v for k, v in renamed.items() if k not in _ID_FIELDS}
        for name, standard in ((self.user, "user_id"), (self.item, "item_id"), (self.time, "timestamp"),
                               (self.rating, "rating")):
            if name:
                renamed[standard] = record.get(name)
        return renamed


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

    # -- from data in memory ----------------------------------------------------------------------------

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        *,
        id_col: str | None = None,
        title_col: str | None = None,
        text_cols: Sequence[str] | str | None = None,
        source: str = "records",
    ) -> Catalog:
        """A catalog from mappings (``{"id": ..., "title": ..., "genres": ...}``; other keys become attributes).

        ``id_col``, ``title_col`` and ``text_cols`` name your own fields as :class:`Columns` does; an error
        names the record (``records:3``, 1-based) and the field."""
        columns = Columns(id=id_col, title=title_col, text=text_cols)  # type: ignore[arg-type]
        items: dict[str, Item] = {}
        for number, record in enumerate(records, start=1):
            if not isinstance(record, Mapping):
                raise DataError(f"expected a mapping, got {type(record).__name__}", path=source, line=number)
            plain = {str(key): _plain(value) for key, value in record.items()}
            plain = {key: value for key, value in plain.items() if value is not None}
            item = item_from_record(columns.item_record(plain, source, number), Path(source), number)
            if item.id in items:
                raise DataError(f"duplicate item id '{item.id}'", path=source, line=number, field=id_col or "id")
            items[item.id] = item
        return cls(items.values(), source=source)

    @classmethod
    def from_pandas(
        cls,
        frame: Any,
        *,
        id_col: str | None = None,
        title_col: str | None = None,
        text_cols: Sequence[str] | str | None = None,
    ) -> Catalog:
        """A catalog from a pandas DataFrame, one item a row (an id in the index counts as a column).

        >>> Catalog.from_pandas(pd.DataFrame({"id": ["m1"], "title": ["Alien"], "genres": ["Horror|Sci-Fi"]}))

        A missing column is a :class:`DataError` naming it and listing the columns there are; an error in a row
        names it (``DataFrame:3``: the third row)."""
        columns = Columns(id=id_col, title=title_col, text=text_cols)  # type: ignore[arg-type]
        index_names = [name for name in getattr(frame.index, "names", []) if name is not None]
        if index_names and _missing_columns([str(n) for n in frame.columns], columns.catalog_required()[:1]) is not None:
            frame = frame.reset_index()
        return cls._from_frame(frame.columns, lambda: frame.to_dict("records"), columns)

    @classmethod
    def from_polars(
        cls,
        frame: Any,
        *,
        id_col: str | None = None,
        title_col: str | None = None,
        text_cols: Sequence[str] | str | None = None,
    ) -> Catalog:
        """A catalog from a polars DataFrame, one item a row; errors as :meth:`from_pandas`'s."""
        columns = Columns(id=id_col, title=title_col, text=text_cols)  # type: ignore[arg-type]
        return cls._from_frame(frame.columns, lambda: frame.iter_rows(named=True), columns)

    @classmethod
    def _from_frame(cls, names: Iterable[Any], rows: Callable[[], Iterable[Mapping[str, Any]]],
                    columns: Columns) -> Catalog:
        """The one path of both frame readers: the columns checked (a missing one named with the columns
        there are), then the rows (``rows()``, one mapping a row) read as :meth:`from_records` reads them."""
        present = [str(name) for name in names]
        missing = _missing_columns(present, columns.catalog_required())
        if missing is not None:
            raise missing_column_error(missing, present, path="DataFrame")
        return cls.from_records(rows(), id_col=columns.id, title_col=columns.title, text_cols=columns.text,
                                source="DataFrame")

    # -- lookups -------------------------------------------------------------------------------------------

    def __getitem__(self, item_id: str) -> Item:
        return self._items[item_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> ValuesView[Item]:
        """The items, in order (the underlying dict's view: listing 10,000 items takes microseconds, not the
        milliseconds of the Mapping mixin's item-by-item look-ups)."""
        return self._items.values()

    def items(self) -> ItemsView[str, Item]:
        """``(id, item)`` pairs, in order (the underlying dict's view)."""
        return self._items.items()

    def resolve(self, ids: Iterable[str]) -> list[Item]:
        """The items for ``ids`` in order; a :class:`DataError` lists every id that is not in the catalog."""
        ids = list(ids)
        missing = [item_id for item_id in ids if item_id not in self._items]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
            where = f" {self.source}" if self.source else ""
            raise DataError(f"{len(missing)} item id(s) not in the catalog{where}: {shown}")
        return [self._items[item_id] for item_id in ids]

    def lookup(self, entries: Iterable[Item | str | int]) -> list[Item]:
        """Items for ``entries`` in order: an :class:`Item` as it is, a string (or number) as an item id, else as
        a title (ignoring case and surrounding spaces). A :class:`DataError` lists every entry that is neither,
        with the closest titles, so ``["Alien", "m04"]`` works and ``["Allien"]`` says what it found."""
        found: list[Item] = []
        unknown: list[str] = []
        for entry in entries:
            if isinstance(entry, Item):
                found.append(entry)
                continue
            if isinstance(entry, bool) or not isinstance(entry, (str, int)):
                raise DataError(f"a history entry must be an Item, an item id or a title, not {type(entry).__name__}")
            key = str(entry).strip()
            item = self._items.get(key) or self.find_title(key)
            if item is None:
                unknown.append(key)
            else:
                found.append(item)
        if unknown:
            import difflib

            titles = {item.title.casefold(): item.title for item in self._items.values()}
            notes = []
            for entry in unknown[:5]:
                close = difflib.get_close_matches(entry.casefold(), titles, n=2, cutoff=0.75)
                notes.append(repr(entry) + (f" (did you mean {' or '.join(repr(titles[c]) for c in close)}?)" if close else ""))
            where = f" {self.source}" if self.source else ""
            raise DataError(f"{len(unknown)} history entr{'y is' if len(unknown) == 1 else 'ies are'} not in the catalog"
                            f"{where} (neither an item id nor a title): " + ", ".join(notes)
                            + (" ..." if len(unknown) > 5 else ""))
        return found

    def history(self, entries: UserHistory | Iterable[Item | str | int], user_id: str = "anonymous") -> UserHistory:
        """``entries`` as a :class:`UserHistory` (oldest first); strings are ids or titles (:meth:`lookup`)."""
        if isinstance(entries, UserHistory):
            return entries
        return UserHistory.from_items(self.lookup(entries), user_id=user_id)

    def find_title(self, title: str) -> Item | None:
        """The item whose title equals ``title`` ignoring case and surrounding spaces, if any."""
        wanted = title.strip().casefold()
        for item in self._items.values():
            if item.title.casefold() == wanted:
                return item
        return None


def history_of(user: UserHistory | Iterable[Item | str | int], catalog: Catalog | None = None) -> UserHistory:
    """``user`` as a :class:`UserHistory`: a history as it is, a sequence of items as one (oldest first).
    Strings are item ids or titles in ``catalog`` (:meth:`Catalog.lookup`, which names the ones that are
    neither); without a catalog they are a :class:`DataError` that says how to give them."""
    if isinstance(user, UserHistory):
        return user
    entries = [user] if isinstance(user, (str, Item)) else list(user)
    if all(isinstance(entry, Item) for entry in entries):
        return UserHistory.from_items(entries)  # type: ignore[arg-type]
    if catalog is None:
        shown = ", ".join(repr(e) for e in entries if not isinstance(e, Item))[:200]
        raise DataError(f"history entries {shown} are not Items: give Items, or ids and titles through "
                        "catalog.history([...]) (a Recommender resolves them in its catalog)", field="history")
    return catalog.history(entries)


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
    missing = _missing_columns(header, required)
    if missing is not None:
        error = missing_column_error(missing, header, path=path, line=1)
        if delimiter == "," and len(header) == 1 and "\t" in header[0]:
            raise DataError(error.reason + " (this file is tab-separated: name it .tsv, or write it with commas; "
                            "the header read as one column)", path=path, line=1, field=error.field)
        raise error
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
        message = errors[0]["msg"].removeprefix("Value error, ") if errors else str(exc)
        raise DataError(message, path=path, line=line, field=field) from None


#: file extension -> format (a ``.gz`` after it is read through gzip; Parquet files compress themselves)
FORMATS: dict[str, str] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


def _format(path: Path) -> str:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
        if suffixes and suffixes[-1] == ".parquet":
            suffixes.pop()
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise DataError(f"unknown file type; use one of: {', '.join(FORMATS)}", path=path)
    return kind


def _plain(value: Any) -> Any:
    """A value from pandas, polars or pyarrow as plain Python: numpy scalars unwrapped, arrays as lists,
    dates as POSIX seconds, NaN and NaT as ``None``."""
    import datetime

    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC).timestamp()
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and type(value).__module__.startswith(("numpy", "pandas", "pyarrow")):
        converted = tolist()
        return _plain(converted) if not isinstance(converted, list) else [_plain(v) for v in converted]
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return value.to_pydatetime().timestamp()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _missing_columns(present: Sequence[str], required: tuple[tuple[str, ...], ...]) -> tuple[str, ...] | None:
    for names in required:
        if not any(name in present for name in names):
            return names
    return None


def missing_column_error(names: tuple[str, ...], present: Sequence[str], *, path: str | Path | None = None,
                         line: int | None = None) -> DataError:
    """The error for a missing column: it names the column (and the other names it may have) and lists the
    columns there are."""
    also = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
    return DataError(f"missing column '{names[0]}'{also}; the columns are: {', '.join(map(str, present)) or 'none'}",
                     path=path, line=line, field=names[0])


def parquet_rows(path: Path, required: tuple[tuple[str, ...], ...] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, row) for every row of a Parquet file, streamed in batches; values as plain Python."""
    try:
        import pyarrow
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataError("reading Parquet needs pyarrow: pip install 'promptrec[pandas]'", path=path) from None
    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        table = parquet.ParquetFile(path)
    except (OSError, pyarrow.ArrowException) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", path=path) from None
    names = table.schema_arrow.names
    missing = _missing_columns(names, required)
    if missing is not None:
        raise missing_column_error(missing, names, path=path)
    number = 0
    for batch in table.iter_batches(batch_size=65_536):
        for row in batch.to_pylist():
            number += 1
            plain = {key: _plain(value) for key, value in row.items()}
            yield number, {key: value for key, value in plain.items() if value is not None}


def table_rows(path: str | Path, required: tuple[tuple[str, ...], ...] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) for every record of a JSONL, CSV, TSV or Parquet file, by its extension; ``required``
    is checked against a CSV/TSV header or a Parquet schema (JSONL records are checked one by one)."""
    path = Path(path)
    kind = _format(path)
    if kind == "jsonl":
        return jsonl_objects(path)
    if kind == "parquet":
        return parquet_rows(path, required)
    return csv_rows(path, required, "\t" if kind == "tsv" else ",")


def read_catalog(path: str | Path, columns: Columns | None = None) -> Catalog:
    """Read a catalog from a ``.jsonl``, ``.csv``, ``.tsv`` or ``.parquet`` file (see the module docstring for
    the fields); ``columns`` names your own id, title and text columns."""
    path = Path(path)
    columns = columns or Columns()
    items: dict[str, Item] = {}
    for line, record in table_rows(path, columns.catalog_required()):
        item = item_from_record(columns.item_record(record, path, line), path, line)
        if item.id in items:
            raise DataError(f"duplicate item id '{item.id}'", path=path, line=line, field=columns.id or "id")
        items[item.id] = item
    return Catalog(items.values(), source=str(path))


def read_histories(path: str | Path, catalog: Catalog | None = None, columns: Columns | None = None) -> dict[str, UserHistory]:
    """Read user histories (user id -> history, oldest first) from a ``.jsonl`` file (one user a line) or a
    ``.csv``, ``.tsv`` or ``.parquet`` file (one interaction a row; ``columns`` names your own columns).

    Item ids are looked up in ``catalog``; an entry that is a full item object needs no catalog.
    """
    path = Path(path)
    if _format(path) == "jsonl":
        return _jsonl_histories(path, catalog)
    return _csv_histories(path, catalog, columns or Columns())


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


def _timestamp(value: Any, path: Path, line: int, field: str) -> float | None:
    """Seconds: a number, or an ISO 8601 date or time (``2024-05-01``, ``2024-05-01T10:00:00+02:00``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _optional_float(str(value), path, line, field)
    try:
        return _optional_float(value, path, line, field)
    except DataError:
        import datetime

        try:
            moment = datetime.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise DataError(f"not a number of seconds or an ISO 8601 date: {value!r}", path=path, line=line,
                            field=field) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()


def _csv_histories(path: Path, catalog: Catalog | None, columns: Columns) -> dict[str, UserHistory]:
    rows: dict[str, list[tuple[float, int, Interaction]]] = {}
    for row in interaction_rows(path, columns):
        item = _lookup(row.item_id, catalog, path, row.line, row.item_field)
        interaction = Interaction(item=item, timestamp=row.timestamp, rating=row.rating)
        stamp = row.timestamp if row.timestamp is not None else float("-inf")
        rows.setdefault(row.user_id, []).append((stamp, row.line, interaction))
    return {
        user_id: UserHistory(user_id=user_id, interactions=[i for _, _, i in sorted(entries, key=lambda e: e[:2])])
        for user_id, entries in rows.items()
    }


# ------------------------------------------------------------------------------------ interaction rows

#: the names an interactions file's user and item columns may have (promptrec's, then MovieLens' and RecBole's)
USER_COLUMNS: tuple[str, ...] = ("user_id", "userId", "user")
ITEM_COLUMNS: tuple[str, ...] = ("item_id", "id", "movieId", "itemId", "item")


@dataclass(frozen=True)
class InteractionRow:
    """One interaction as a file has it, located (``line``) for errors.

    ``timestamp`` (seconds) and ``rating`` are ``None`` where the row has none; ``time_field`` names the
    column the time came from; ``item_field`` where the item id was (a column, or ``history[2]`` in a JSONL
    history); ``record`` is the whole row with promptrec's column names (and any others: ``domain``,
    ``split``...).
    """

    line: int
    user_id: str
    item_id: str
    timestamp: float | None = None
    rating: float | None = None
    time_field: str | None = None
    item_field: str = "item_id"
    record: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _id_text(value: Any, path: Path, line: int, field: str, what: str) -> str:
    if value is None or isinstance(value, (bool, dict, list)):
        raise DataError(f"missing {what}" if value is None else f"must be an {what} (a string or a number)",
                        path=path, line=line, field=field)
    text = str(value).strip()
    if not text:
        raise DataError(f"missing {what}", path=path, line=line, field=field)
    return text


def interaction_rows(
    path: str | Path,
    columns: Columns | None = None,
    *,
    users: tuple[str, ...] = USER_COLUMNS,
    items: tuple[str, ...] = ITEM_COLUMNS,
    times: tuple[str, ...] = ("timestamp",),
    require_time: bool = False,
) -> Iterator[InteractionRow]:
    """Every interaction of a file, parsed the one way promptrec parses interactions.

    CSV, TSV and Parquet (and ``.gz``): one interaction a row, through the strict CSV reader. JSONL: a line
    is either one interaction (the same fields as a row) or one user's history,
    ``{"user_id": ..., "history": [ids or item objects]}`` (no times). Column names: ``columns`` (your own),
    else the first of ``users``, ``items`` and ``times`` the row has; ``require_time`` makes a time column
    required (the error names ``times``). Times are seconds or ISO 8601 dates; times and ratings must be
    finite numbers. Every error is a :class:`DataError` naming the file, the line and the field.
    """
    path = Path(path)
    columns = columns or Columns()
    user_names = ("user_id",) if columns.user else users
    item_names = ("item_id",) if columns.item else items
    time_names = ("timestamp",) if columns.time else times
    required: tuple[tuple[str, ...], ...] = ((columns.user,) if columns.user else users,
                                             (columns.item,) if columns.item else items)
    if require_time or columns.time:
        required += ((columns.time,) if columns.time else times,)
    if columns.rating:
        required += ((columns.rating,),)
    jsonl = _format(path) == "jsonl"
    for line, raw in table_rows(path, required):
        user_field, user = _pick(raw, required[0]) if jsonl else (required[0][0], None)
        if jsonl and "history" in raw and not any(name in raw for name in required[1]):
            user_id = _id_text(user, path, line, user_field, "user id")
            entries = raw["history"]
            if not isinstance(entries, list):
                raise DataError("must be a list of item ids or item objects", path=path, line=line, field="history")
            for index, entry in enumerate(entries):
                field = f"history[{index}]"
                if isinstance(entry, dict):
                    _, entry = _pick(entry, ("id", "item_id"))
                if not isinstance(entry, (str, int)) or isinstance(entry, bool) or entry in (None, ""):
                    raise DataError("must be an item id or an item object with an id", path=path, line=line,
                                    field=field)
                yield InteractionRow(line, user_id, str(entry).strip(), item_field=field, record=raw)
            continue
        if jsonl:
            missing = _missing_columns(list(raw), required)
            if missing is not None:
                reason = "missing field" if missing != required[1] else \
                    "missing item id (or a 'history': a list of item ids)"
                raise DataError(reason, path=path, line=line, field=missing[0])
        record = columns.interaction_record(raw)
        user_field, user = _pick(record, user_names)
        user_id = _id_text(user, path, line, columns.user or user_field, "user id")
        item_field, item = _pick(record, item_names)
        item_id = _id_text(item, path, line, columns.item or item_field, "item id")
        time_field = next((name for name in time_names if name in record), None)
        timestamp = None
        if time_field is not None:
            timestamp = _timestamp(record[time_field], path, line, columns.time or time_field)
            if timestamp is None and require_time:
                raise DataError("empty value", path=path, line=line, field=columns.time or time_field)
        rating = record.get("rating")
        rating = _optional_float(None if rating is None else str(rating), path, line, columns.rating or "rating")
        yield InteractionRow(line, user_id, item_id, timestamp, rating, time_field, columns.item or item_field, record)
