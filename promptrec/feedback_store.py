"""A persistent store of the feedback users give on recommendations, on SQLite.

A record says that a user, in a scenario, was shown some items and reacted to one of them: ``liked``,
``disliked``, ``clicked``, ``skipped`` or ``rating`` (with a value on a 0-5 scale, 1-5 stars; MovieLens' half
stars fit), at a time, optionally with a free-text comment. The acted-on item's title is kept with it, so a
prompt can show the feedback without a catalog.

Why SQLite (the standard library's :mod:`sqlite3`) and not diskcache: feedback is a log of small records
that is read by user and scenario, in time order, and deleted by user. That is an indexed table query,
which diskcache (a key-value store) would turn into full scans or hand-kept index keys. SQLite gives
transactions across processes: in WAL mode readers never block the writer, writers queue on the busy
timeout, and each write is one ``BEGIN IMMEDIATE`` transaction, so several processes can add at once and
nothing is lost or half-written; an import is a single transaction, so it lands whole or not at all. The
file is one portable database that ``sqlite3`` can open, and no pickle is ever involved. (WAL needs a
local file system; do not put the database on a network share.)

The default database is ``$PROMPTREC_FEEDBACK_DB``, else ``feedback.sqlite3`` in the platform's user data
folder (e.g. ``~/.local/share/promptrec``).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from promptrec.data import Item, NonEmptyText, jsonl_objects
from promptrec.errors import DataError, PromptrecError

logger = logging.getLogger(__name__)

Label = Literal["liked", "disliked", "clicked", "skipped", "rating"]
LABELS: tuple[str, ...] = ("liked", "disliked", "clicked", "skipped", "rating")
#: A rating at or below this (on the 1-5 scale) counts as a rejection of the item.
NEGATIVE_RATING = 2.0
SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,"
    " scenario TEXT NOT NULL, item_id TEXT NOT NULL, item_title TEXT NOT NULL, label TEXT NOT NULL, rating REAL,"
    " shown TEXT NOT NULL, timestamp REAL NOT NULL, comment TEXT)",
    "CREATE INDEX IF NOT EXISTS feedback_by_user ON feedback (user_id, scenario, timestamp)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_COLUMNS = ("uid", "user_id", "scenario", "item_id", "item_title", "label", "rating", "shown", "timestamp", "comment")


class FeedbackStoreError(PromptrecError):
    """The feedback database cannot be opened, read or written (locked too long, not a database...)."""


class FeedbackRecord(BaseModel):
    """One reaction of a user to an item, as stored and as exported (one JSONL line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uid: NonEmptyText = Field(default_factory=lambda: uuid.uuid4().hex, description="unique id; imports skip known ones")
    user_id: NonEmptyText
    scenario: NonEmptyText
    item_id: NonEmptyText
    item_title: NonEmptyText
    label: Label
    rating: float | None = Field(None, ge=0, le=5, allow_inf_nan=False, validate_default=True,
                                 description="with label 'rating' only")
    shown: list[str] = Field(default_factory=list, description="ids of the items shown with it, in order")
    timestamp: float = Field(default_factory=time.time, allow_inf_nan=False, description="seconds since the epoch")
    comment: str | None = None

    @field_validator("shown", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> list[str]:
        if not isinstance(value, (list, tuple)):
            raise ValueError("must be a list of item ids")
        ids = [entry.id if isinstance(entry, Item) else entry for entry in value]
        if any(isinstance(i, bool) or not isinstance(i, (str, int)) or not str(i).strip() for i in ids):
            raise ValueError("must be a list of non-empty item ids")
        return [str(i).strip() for i in ids]

    @field_validator("comment", mode="before")
    @classmethod
    def _comment(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value.strip() or None

    @field_validator("rating", mode="after")
    @classmethod
    def _rating_matches_label(cls, value: float | None, info: ValidationInfo) -> float | None:
        label = info.data.get("label")
        if label == "rating" and value is None:
            raise ValueError("label 'rating' needs a rating value (0-5)")
        if label not in ("rating", None) and value is not None:
            raise ValueError(f"a rating value goes with label 'rating', not '{label}'")
        return value

    @property
    def negative(self) -> bool:
        """Whether this reaction rejects the item (disliked, or rated at most :data:`NEGATIVE_RATING`)."""
        return self.label == "disliked" or (self.rating is not None and self.rating <= NEGATIVE_RATING)

    @property
    def positive(self) -> bool:
        """Whether this reaction accepts the item (liked, clicked, or rated above :data:`NEGATIVE_RATING`)."""
        return self.label in ("liked", "clicked") or (self.rating is not None and self.rating > NEGATIVE_RATING)


def decisive_reactions(records: Iterable[FeedbackRecord]) -> dict[str, FeedbackRecord]:
    """Each item's latest decisive reaction among ``records`` (oldest first): liked, clicked, disliked or a
    rating. A later one replaces an earlier one (a like after a dislike takes the rejection back), and the
    result is ordered by those latest reactions; ``skipped`` and mere showings decide nothing. The one place
    of this rule (:meth:`FeedbackStore.negative_items`, :class:`~promptrec.feedback_signal.FeedbackSignal`)."""
    latest: dict[str, FeedbackRecord] = {}
    for record in records:
        if record.positive or record.negative:
            latest.pop(record.item_id, None)  # re-insert: dict order is the order of the latest reaction
            latest[record.item_id] = record
    return latest


def rejected_items(records: Iterable[FeedbackRecord]) -> set[str]:
    """Ids of the items whose latest decisive reaction (:func:`decisive_reactions`) rejects them."""
    return {item_id for item_id, record in decisive_reactions(records).items() if record.negative}


def content_uid(record: dict[str, Any]) -> str:
    """A uid derived from a record's content, for imported lines that carry none (re-imports stay idempotent)."""
    text = json.dumps({k: record.get(k) for k in _COLUMNS if k != "uid"}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _validation_error(exc: ValidationError, **where: Any) -> DataError:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or None
    message = error["msg"].removeprefix("Value error, ")
    return DataError(message, field=field, **where)


def default_feedback_db() -> Path:
    """``$PROMPTREC_FEEDBACK_DB``, else ``feedback.sqlite3`` in the platform's user data folder."""
    configured = os.environ.get("PROMPTREC_FEEDBACK_DB")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("promptrec", appauthor=False)) / "feedback.sqlite3"


@dataclass(frozen=True)
class ImportResult:
    """What :meth:`FeedbackStore.import_jsonl` did: records read, and how many were new."""

    read: int
    added: int

    @property
    def duplicates(self) -> int:
        """Records skipped because the store already had them (same uid)."""
        return self.read - self.added


class FeedbackStore:
    """Feedback records in a SQLite database file, safe for several processes and threads at once.

    Each operation opens its own short-lived connection, so a store may be shared across threads and
    survives ``fork``; every write is one transaction.

    Args:
        path: the database file (created with its folder); default :func:`default_feedback_db`.
        timeout: seconds a write waits for another process's write to finish before failing.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 30.0) -> None:
        self.path = Path(path).expanduser() if path is not None else default_feedback_db()
        self.timeout = timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FeedbackStoreError(f"{self.path}: cannot create the folder: {exc.strerror}") from None
        self._initialise()

    def __repr__(self) -> str:
        return f"FeedbackStore({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise FeedbackStoreError(f"{self.path}: cannot open the feedback database: {exc}") from None
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            yield connection
        except sqlite3.OperationalError as exc:
            hint = "; another process held it too long, retry or raise timeout" if "locked" in str(exc) else ""
            raise FeedbackStoreError(f"{self.path}: {exc}{hint}") from None
        except sqlite3.IntegrityError as exc:
            raise FeedbackStoreError(f"{self.path}: a record was refused by the database: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise FeedbackStoreError(f"{self.path}: not a usable feedback database: {exc}") from None
        finally:
            connection.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front, so it never deadlocks."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _initialise(self) -> None:
        with self._connect() as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise FeedbackStoreError(
                    f"{self.path}: written by a newer promptrec (schema {version} > {SCHEMA_VERSION}); upgrade promptrec"
                )
            deadline = time.monotonic() + self.timeout
            while connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                try:  # switching needs a moment when no other connection is busy; then it stays (in the file)
                    connection.execute("PRAGMA journal_mode = WAL")
                except sqlite3.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            if version < SCHEMA_VERSION:
                connection.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:  # (executescript would commit first)
                    connection.execute(statement)
                connection.execute("COMMIT")

    # ------------------------------------------------------------------------------------------ writes

    def add(
        self,
        user_id: str,
        scenario: str,
        item: Item | str,
        label: Label,
        *,
        title: str | None = None,
        shown: Sequence[Item | str] = (),
        rating: float | None = None,
        comment: str | None = None,
        timestamp: float | None = None,
    ) -> FeedbackRecord:
        """Record that ``user_id`` reacted with ``label`` to ``item`` (an Item, or an id plus ``title``).

        ``shown`` are the items (or ids) shown with it; ``rating`` goes with label ``rating`` only;
        ``timestamp`` defaults to now. Raises :class:`DataError` naming the field of an invalid value.
        """
        fields: dict[str, Any] = {
            "user_id": user_id,
            "scenario": scenario,
            "item_id": item.id if isinstance(item, Item) else item,
            "item_title": title if title is not None else (item.title if isinstance(item, Item) else None),
            "label": label,
            "rating": rating,
            "shown": list(shown),
            "comment": comment,
        }
        if fields["item_title"] is None:
            raise DataError("an item given by id needs its title (title=...)", field="item_title")
        if timestamp is not None:
            fields["timestamp"] = timestamp
        try:
            record = FeedbackRecord(**fields)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        self.add_records([record])
        logger.debug("feedback %s: %s %s %s", self.path, user_id, label, record.item_id)
        return record

    def add_records(self, records: Iterable[FeedbackRecord]) -> int:
        """Insert records in one transaction (all or none); ones whose uid is known are skipped.

        Returns how many were new.
        """
        rows = [_row(record) for record in records]
        placeholders = ", ".join("?" for _ in _COLUMNS)
        with self._write() as connection:
            before = connection.total_changes
            # only a known uid is skipped; any other constraint failing is an error, never a silent drop
            connection.executemany(
                f"INSERT INTO feedback ({', '.join(_COLUMNS)}) VALUES ({placeholders}) ON CONFLICT (uid) DO NOTHING",
                rows,
            )
            return connection.total_changes - before

    def clear(self, user_id: str | None = None, scenario: str | None = None) -> int:
        """Delete the feedback of ``user_id`` (all users when None), in ``scenario`` if given; return how many."""
        where, params = _where(user_id, scenario)
        with self._write() as connection:
            return connection.execute(f"DELETE FROM feedback{where}", params).rowcount

    def import_jsonl(self, path: str | Path) -> ImportResult:
        """Add the records of a JSONL file (as :meth:`export_jsonl` writes them), all or nothing.

        Every line is validated before anything is written: a malformed line raises :class:`DataError`
        with ``file:line`` and the field, and the store is left unchanged. Lines without ``uid`` get one
        from their content; records already in the store (same uid) are skipped, so re-importing is safe.
        """
        path = Path(path)
        records: list[FeedbackRecord] = []
        for line, obj in jsonl_objects(path):
            if obj.get("uid") is None:
                obj = {**obj, "uid": content_uid(obj)}
            try:
                records.append(FeedbackRecord(**obj))
            except ValidationError as exc:
                raise _validation_error(exc, path=path, line=line) from None
        added = self.add_records(records)
        logger.info("imported %d feedback records from %s (%d already present)", added, path, len(records) - added)
        return ImportResult(read=len(records), added=added)

    # ------------------------------------------------------------------------------------------- reads

    def export_jsonl(self, path: str | Path, *, user_id: str | None = None, scenario: str | None = None) -> int:
        """Write the records (of ``user_id`` / ``scenario`` if given) to a JSONL file, oldest first.

        The file is replaced atomically, so a reader never sees half of it. Returns how many were written.
        """
        path = Path(path)
        if path.is_symlink():
            raise DataError(f"is a symbolic link (to {os.readlink(path)}); export does not replace a link or "
                            "the file it points to: give the real path, or another name", path=path)
        if path.is_dir():
            raise DataError("is a folder; give a file name", path=path)
        records = self.list(user_id, scenario)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with partial.open("w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(record.model_dump_json() + "\n")
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise DataError(f"cannot write: {exc.strerror}", path=path) from None
        return len(records)

    def negative_items(self, user_id: str, scenario: str | None = None) -> set[str]:
        """Ids of the items ``user_id`` rejected (in ``scenario``, or any when None).

        An item is rejected when the user's latest decisive reaction to it is ``disliked`` or a rating of
        at most :data:`NEGATIVE_RATING`; a later like, click or good rating takes the rejection back, and
        ``skipped`` decides nothing.
        """
        return rejected_items(self.list(user_id, scenario))

    def count(self, user_id: str | None = None, scenario: str | None = None) -> int:
        """How many records there are (of ``user_id`` / ``scenario`` if given)."""
        where, params = _where(user_id, scenario)
        with self._connect() as connection:
            return int(connection.execute(f"SELECT COUNT(*) FROM feedback{where}", params).fetchone()[0])

    def list(
        self, user_id: str | None = None, scenario: str | None = None, *, limit: int | None = None
    ) -> builtins.list[FeedbackRecord]:
        """The records (of ``user_id`` / ``scenario`` if given), oldest first; the newest ``limit`` if given."""
        where, params = _where(user_id, scenario)
        query = f"SELECT {', '.join(_COLUMNS)} FROM feedback{where} ORDER BY timestamp DESC, id DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._connect() as connection:
            rows = connection.execute(query, params).fetchall()
        records = []
        for row in reversed(rows):
            values = dict(zip(_COLUMNS, row))
            try:
                values["shown"] = json.loads(values["shown"])
                records.append(FeedbackRecord(**values))
            except (ValueError, ValidationError) as exc:  # a row edited by hand; skip it rather than fail
                logger.warning("%s: skipping unreadable feedback row %s: %s", self.path, values["uid"], exc)
        return records


def _row(record: FeedbackRecord) -> tuple[Any, ...]:
    values = record.model_dump()
    values["shown"] = json.dumps(values["shown"], ensure_ascii=False)
    return tuple(values[column] for column in _COLUMNS)


_REQUEST_RECORDS: ContextVar[tuple[FeedbackRecord, ...]] = ContextVar("promptrec_request_feedback", default=())


class RequestFeedback:
    """A read-only feedback store over the records of the request being answered, for callers that keep
    feedback elsewhere (the recommendation service keeps it in its own database and reads it per request).

    A :class:`~promptrec.ranker.Ranker` whose :class:`~promptrec.feedback.FeedbackConfig` has this store shows
    those records as its prompt's in-context examples and demotes or removes what they reject, exactly as it
    does with a :class:`FeedbackStore`; so the service's prompts carry the same examples as ``promptrec rank
    --user``. The records are set for the duration of a call with :meth:`serving`, in a context variable, so
    concurrent requests in other threads each see their own.
    """

    @staticmethod
    @contextmanager
    def serving(records: Iterable[FeedbackRecord]) -> Iterator[None]:
        """Within the block (in this thread or task), the store holds ``records`` (oldest first)."""
        token = _REQUEST_RECORDS.set(tuple(records))
        try:
            yield
        finally:
            _REQUEST_RECORDS.reset(token)

    def list(self, user_id: str | None = None, scenario: str | None = None, *,
             limit: int | None = None) -> builtins.list[FeedbackRecord]:
        """The records being served (of ``user_id`` / ``scenario`` if given), oldest first (by timestamp, as
        :meth:`FeedbackStore.list`); the newest ``limit`` if given."""
        records = sorted((r for r in _REQUEST_RECORDS.get() if (user_id is None or r.user_id == user_id)
                          and (scenario is None or r.scenario == scenario)), key=lambda r: r.timestamp)
        return records[-limit:] if limit else records

    def __iter__(self) -> Iterator[FeedbackRecord]:
        return iter(self.list())

    def negative_items(self, user_id: str, scenario: str | None = None) -> set[str]:
        """Ids of the items ``user_id`` rejected among the records served (:meth:`FeedbackStore.negative_items`)."""
        return rejected_items(self.list(user_id, scenario))

    def add(self, *args: Any, **kwargs: Any) -> FeedbackRecord:
        raise FeedbackStoreError("this feedback store is read-only: the service records feedback with POST /feedback")


def _where(user_id: str | None, scenario: str | None) -> tuple[str, tuple[str, ...]]:
    clauses = [(c, v) for c, v in (("user_id", user_id), ("scenario", scenario)) if v is not None]
    if not clauses:
        return "", ()
    return " WHERE " + " AND ".join(f"{c} = ?" for c, _ in clauses), tuple(v for _, v in clauses)
