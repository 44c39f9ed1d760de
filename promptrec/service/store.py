"""The service's state in a real database: catalog items (with a hidden flag), users, their interactions and
their feedback, through SQLAlchemy 2 (Core, no ORM).

Two databases, one schema:

* SQLite (the embedded default): a file in WAL mode with ``synchronous=FULL``, so a write that returned has
  reached the disk (a ``kill -9`` or a power cut loses nothing acknowledged); readers never block the writer.
* PostgreSQL, through a URL (psycopg 3): several service processes behind a load balancer share it. Every
  catalog change bumps one counter (``meta.catalog_version``) in the same transaction, and each row keeps
  the version of its last change, so every process can pick up what the others wrote (:meth:`Store.changes`).

Every write is one transaction: a batch lands whole or not at all. Nothing here knows about
recommendation; :mod:`promptrec.service.engine` turns this state into the pipeline's input.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from promptrec.data import Item
from promptrec.errors import PromptrecError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid alias must be INTEGER

metadata = sa.MetaData()

items_table = sa.Table(
    "items", metadata,
    sa.Column("pk", _KEY, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("attributes", sa.Text, nullable=False, default="{}"),
    sa.Column("hidden", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.BigInteger, nullable=False, index=True),
    sa.Column("updated", sa.Float, nullable=False),
)
users_table = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("labels", sa.Text, nullable=False, default="[]"),
    sa.Column("comment", sa.Text),
    sa.Column("created", sa.Float, nullable=False),
)
interactions_table = sa.Table(
    "interactions", metadata,
    sa.Column("pk", _KEY, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("rating", sa.Float),
    sa.UniqueConstraint("user_id", "item_id", name="interactions_user_item"),
)
feedback_table = sa.Table(
    "feedback", metadata,
    sa.Column("pk", _KEY, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.Text, nullable=False, unique=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("rating", sa.Float),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Index("feedback_by_user", "user_id", "pk"),
)
meta_table = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


#: What :meth:`Store.user_state` sends to the driver (``?`` becomes the driver's marker); the same orders as
#: :meth:`Store.history` and :meth:`Store.feedback`.
_VERSIONS_SQL = "SELECT key, value FROM meta WHERE key IN ('catalog_version', 'interactions_version')"
_HISTORY_SQL = ("SELECT item_id, timestamp, rating FROM interactions WHERE user_id = ? "
                "ORDER BY coalesce(timestamp, 0.0), pk")
_FEEDBACK_SQL = "SELECT pk, uid, user_id, item_id, label, rating, timestamp FROM feedback WHERE user_id = ? ORDER BY pk"


class _NothingChanged(Exception):
    """Rolls back a write that changed no row (so that it bumps no version)."""


class StoreError(PromptrecError):
    """The database cannot be opened, or holds something this promptrec cannot read."""


@dataclass(frozen=True)
class StoredItem:
    """A catalog item as stored: the item, whether it is hidden, and the catalog version of its last change."""

    item: Item
    hidden: bool
    version: int


@dataclass(frozen=True)
class StoredUser:
    """A user as stored: id, free-form labels and comment, when first seen (seconds since the epoch)."""

    id: str
    labels: list[str] = field(default_factory=list)
    comment: str | None = None
    created: float = 0.0


@dataclass(frozen=True)
class StoredFeedback:
    """One feedback record as stored (``seq`` orders records as they arrived)."""

    seq: int
    uid: str
    user_id: str
    item_id: str
    label: str
    rating: float | None
    timestamp: float


@dataclass(frozen=True)
class StoredInteraction:
    """One interaction of a user's stored history."""

    item_id: str
    timestamp: float | None
    rating: float | None


@dataclass(frozen=True)
class UserState:
    """What one recommendation for a stored user reads: the catalog and interactions versions, the history
    (``None`` when the caller said it has this interactions version's already), the feedback."""

    catalog_version: int
    history: list[StoredInteraction] | None
    feedback: list[StoredFeedback]
    interactions_version: int = 0


@dataclass(frozen=True)
class CatalogChanges:
    """Items changed since a catalog version (:meth:`Store.changes`), and the version they bring it to."""

    version: int
    items: list[StoredItem]


def _dialect_insert(connection: Connection, table: sa.Table) -> Any:
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif connection.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - create_engine refuses other databases first
        raise StoreError(f"unsupported database '{connection.dialect.name}'")
    return insert(table)


def _item_row(row: Any) -> StoredItem:
    return StoredItem(Item(id=row.id, title=row.title, attributes=json.loads(row.attributes)), bool(row.hidden),
                      int(row.version))


class Store:
    """The service's database (see the module docstring).

    Args:
        url: a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``;
            :func:`~promptrec.service.settings.sqlalchemy_url` makes one from ``--db``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = _create_engine(url)
            with self.engine.begin() as connection:
                metadata.create_all(connection)
                self._check_schema(connection)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot open the database {self.where}: {_reason(exc)}") from None
        except ModuleNotFoundError as exc:
            raise StoreError(f"the database driver '{exc.name}' is missing; install it with: "
                             "pip install 'promptrec[server]'") from None

    @property
    def where(self) -> str:
        """The database's URL without its password."""
        return sa.make_url(self.url).render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def _check_schema(self, connection: Connection) -> None:
        insert = _dialect_insert(connection, meta_table)
        for key, value in (("schema_version", SCHEMA_VERSION), ("catalog_version", 0), ("interactions_version", 0)):
            connection.execute(insert.values(key=key, value=value).on_conflict_do_nothing(index_elements=["key"]))
        version = connection.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).scalar_one()
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.where} was written by a newer promptrec (schema {version} > {SCHEMA_VERSION}); "
                             "upgrade promptrec")

    def _bump(self, connection: Connection, counter: str = "catalog_version") -> int:
        """The next catalog (or interactions) version, taken in ``connection``'s transaction (a row lock on
        PostgreSQL)."""
        column = meta_table.c.value
        return int(connection.execute(
            meta_table.update().where(meta_table.c.key == counter).values(value=column + 1).returning(column)
        ).scalar_one())

    # ---------------------------------------------------------------------------------------- catalog

    def upsert_items(self, items: Sequence[Item], *, only_new: bool = False) -> int:
        """Insert ``items``, or replace the title and attributes of those already there (their hidden flag
        stays), in one transaction; ``only_new`` leaves existing ones untouched. Returns how many rows
        changed."""
        if not items:
            return 0
        try:
            return self._upsert_items(items, only_new)
        except _NothingChanged:  # rolled back: the version stays, as nothing changed
            return 0

    def _upsert_items(self, items: Sequence[Item], only_new: bool) -> int:
        with self.engine.begin() as connection:
            version, now = self._bump(connection), time.time()
            rows = [{"id": item.id, "title": item.title, "attributes": _json(item.attributes), "hidden": False,
                     "version": version, "updated": now} for item in items]
            statement = _dialect_insert(connection, items_table)
            if only_new:
                statement = statement.on_conflict_do_nothing(index_elements=["id"])
            else:
                statement = statement.on_conflict_do_update(index_elements=["id"], set_={
                    "title": statement.excluded.title, "attributes": statement.excluded.attributes,
                    "version": statement.excluded.version, "updated": statement.excluded.updated})
            statement = statement.returning(items_table.c.pk)
            changed = sum(len(connection.execute(statement, chunk).all()) for chunk in _chunks(rows, 500))
            if not changed:
                raise _NothingChanged()
            return changed

    def set_hidden(self, item_id: str, hidden: bool = True) -> bool:
        """Hide (or show again) an item; ``False`` when there is no such item."""
        with self.engine.begin() as connection:
            if connection.execute(sa.select(items_table.c.pk).where(items_table.c.id == item_id)).first() is None:
                return False
            version = self._bump(connection)
            connection.execute(items_table.update().where(items_table.c.id == item_id).values(
                hidden=hidden, version=version, updated=time.time()))
            return True

    def get_item(self, item_id: str) -> StoredItem | None:
        """The item with this id (hidden or not), if any."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(items_table).where(items_table.c.id == item_id)).first()
        return _item_row(row) if row is not None else None

    def items(self, *, after: int = 0, limit: int | None = None, include_hidden: bool = True) -> list[StoredItem]:
        """Items in catalog order (the order they were first added), starting after position ``after``."""
        query = sa.select(items_table).where(items_table.c.pk > after).order_by(items_table.c.pk)
        if not include_hidden:
            query = query.where(items_table.c.hidden.is_(False))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return [_item_row(row) for row in connection.execute(query)]

    def item_page(self, cursor: int = 0, limit: int = 100) -> tuple[list[StoredItem], int | None]:
        """A page of items in catalog order from an opaque ``cursor`` (0: the start); returns the items and
        the next page's cursor (``None`` after the last page)."""
        query = sa.select(items_table).where(items_table.c.pk > cursor).order_by(items_table.c.pk).limit(limit)
        with self.engine.connect() as connection:
            rows = list(connection.execute(query))
        return [_item_row(row) for row in rows], (int(rows[-1].pk) if len(rows) == limit else None)

    def search_items(self, text: str, *, limit: int = 20, offset: int = 0, include_hidden: bool = False) -> list[StoredItem]:
        """Items whose title (or, after those, attributes) contain every word of ``text``, ignoring case;
        titles that start with the text first, then catalog order."""
        words = [word for word in text.casefold().split() if word]
        title = sa.func.lower(items_table.c.title)
        blob = sa.func.lower(items_table.c.title + " " + items_table.c.attributes)
        query = sa.select(items_table)
        for word in words:
            query = query.where(blob.contains(word, autoescape=True))
        if not include_hidden:
            query = query.where(items_table.c.hidden.is_(False))
        in_title = sa.and_(*(title.contains(word, autoescape=True) for word in words)) if words else sa.true()
        starts = title.startswith(text.casefold().strip(), autoescape=True) if words else sa.true()
        query = query.order_by(sa.case((starts, 0), (in_title, 1), else_=2), items_table.c.pk)
        with self.engine.connect() as connection:
            return [_item_row(row) for row in connection.execute(query.limit(limit).offset(offset))]

    def catalog_version(self) -> int:
        """The counter every catalog change bumps (0 for a database that never had an item)."""
        with self.engine.connect() as connection:
            return int(connection.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == "catalog_version")).scalar_one())

    def changes(self, since: int) -> CatalogChanges:
        """The items changed (added, edited, hidden or shown) after catalog version ``since``, in catalog
        order, and the version they bring the caller to."""
        with self.engine.connect() as connection:
            version = int(connection.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == "catalog_version")).scalar_one())
            if version <= since:
                return CatalogChanges(version, [])
            rows = connection.execute(sa.select(items_table).where(items_table.c.version > since)
                                      .where(items_table.c.version <= version).order_by(items_table.c.pk))
            return CatalogChanges(version, [_item_row(row) for row in rows])

    def count_items(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(items_table)).scalar_one())

    # ------------------------------------------------------------------------------------------ users

    def upsert_user(self, user: StoredUser) -> None:
        """Create a user, or replace its labels and comment."""
        with self.engine.begin() as connection:
            statement = _dialect_insert(connection, users_table)
            connection.execute(statement.values(
                id=user.id, labels=_json(list(user.labels)), comment=user.comment, created=user.created or time.time(),
            ).on_conflict_do_update(index_elements=["id"], set_={"labels": statement.excluded.labels,
                                                                 "comment": statement.excluded.comment}))

    def get_user(self, user_id: str) -> StoredUser | None:
        """The user, if it was created or gave feedback."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(users_table).where(users_table.c.id == user_id)).first()
        if row is None:
            return None
        return StoredUser(row.id, json.loads(row.labels), row.comment, row.created)

    def user_exists(self, user_id: str) -> bool:
        """Whether the user exists, or has interactions (a user seen only in an interactions file)."""
        with self.engine.connect() as connection:
            if connection.execute(sa.select(users_table.c.id).where(users_table.c.id == user_id)).first():
                return True
            return connection.execute(sa.select(interactions_table.c.pk).where(
                interactions_table.c.user_id == user_id).limit(1)).first() is not None

    def delete_user(self, user_id: str) -> bool:
        """Delete a user with its interactions and feedback; ``False`` when there was nothing of it."""
        with self.engine.begin() as connection:
            removed = 0
            for table in (feedback_table, interactions_table, users_table):
                column = table.c.id if table is users_table else table.c.user_id
                count = connection.execute(table.delete().where(column == user_id)).rowcount or 0
                if count and table is interactions_table:
                    self._bump(connection, "interactions_version")
                removed += count
            return removed > 0

    # ----------------------------------------------------------------------------- history and feedback

    def add_interactions(self, rows: Iterable[tuple[str, str, float | None, float | None]]) -> int:
        """Add ``(user_id, item_id, timestamp, rating)`` interactions in one transaction; a (user, item) pair
        that is already there is kept as it is. Returns how many were new."""
        added = 0
        with self.engine.begin() as connection:
            statement = _dialect_insert(connection, interactions_table).on_conflict_do_nothing(
                index_elements=["user_id", "item_id"]).returning(interactions_table.c.pk)
            for chunk in _chunks(({"user_id": u, "item_id": i, "timestamp": t, "rating": r} for u, i, t, r in rows), 5000):
                added += len(connection.execute(statement, chunk).all())
            if added:  # readers that keep histories in memory (the service) see that they changed
                self._bump(connection, "interactions_version")
        return added

    def history(self, user_id: str) -> list[StoredInteraction]:
        """The user's interactions, oldest first (by timestamp, then as added)."""
        with self.engine.connect() as connection:
            return self._history(connection, user_id)

    def _history(self, connection: Connection, user_id: str) -> list[StoredInteraction]:
        table = interactions_table
        query = (sa.select(table.c.item_id, table.c.timestamp, table.c.rating).where(table.c.user_id == user_id)
                 .order_by(sa.func.coalesce(table.c.timestamp, 0.0), table.c.pk))
        return [StoredInteraction(*row) for row in connection.execute(query)]

    def user_state(self, user_id: str, *, known_interactions: int | None = None) -> UserState:
        """The catalog and interactions versions, the user's history and feedback, read in one connection
        (what a recommendation needs, in one pool checkout). ``known_interactions``: the interactions
        version whose history the caller holds; when it is still current the history is not read
        (``history=None``).

        This is the service's hot path (every recommendation), so it sends fixed SQL straight to the driver:
        no statement compilation, no ORM-style row processing; the same rows as :meth:`history` and
        :meth:`feedback`."""
        marker = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        with self.engine.connect() as connection:
            run = connection.exec_driver_sql
            versions = dict(run(_VERSIONS_SQL).fetchall())
            catalog, interactions = int(versions["catalog_version"]), int(versions.get("interactions_version", 0))
            history = None
            if known_interactions is None or known_interactions != interactions:
                history = [StoredInteraction(*row) for row in run(_HISTORY_SQL.replace("?", marker), (user_id,))]
            feedback = [StoredFeedback(int(pk), uid, user, item, label, rating, timestamp)
                        for pk, uid, user, item, label, rating, timestamp in run(_FEEDBACK_SQL.replace("?", marker), (user_id,))]
        return UserState(catalog, history, feedback, interactions)

    def all_interactions(self) -> dict[str, list[str]]:
        """Every user's interacted item ids (oldest first): what a co-occurrence or popularity index counts."""
        table = interactions_table
        query = sa.select(table.c.user_id, table.c.item_id).order_by(
            table.c.user_id, sa.func.coalesce(table.c.timestamp, 0.0), table.c.pk)
        users: dict[str, list[str]] = {}
        with self.engine.connect() as connection:
            for user_id, item_id in connection.execute(query):
                users.setdefault(user_id, []).append(item_id)
        return users

    def count_interactions(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(interactions_table)).scalar_one())

    def add_feedback(self, records: Sequence[StoredFeedback]) -> int:
        """Store feedback records in one transaction, creating their users; a known ``uid`` is skipped.
        Returns how many were new (``seq`` of the records given is ignored)."""
        if not records:
            return 0
        now = time.time()
        with self.engine.begin() as connection:
            users = _dialect_insert(connection, users_table).on_conflict_do_nothing(index_elements=["id"])
            connection.execute(users, [{"id": u, "labels": "[]", "comment": None, "created": now}
                                       for u in dict.fromkeys(r.user_id for r in records)])
            statement = _dialect_insert(connection, feedback_table).on_conflict_do_nothing(
                index_elements=["uid"]).returning(feedback_table.c.pk)
            return len(connection.execute(statement, [
                {"uid": r.uid, "user_id": r.user_id, "item_id": r.item_id, "label": r.label, "rating": r.rating,
                 "timestamp": r.timestamp} for r in records]).all())

    def feedback(self, user_id: str, *, label: str | None = None, limit: int | None = None) -> list[StoredFeedback]:
        """The user's feedback (with ``label`` only, if given) in the order it arrived; the newest ``limit``."""
        with self.engine.connect() as connection:
            return self._feedback(connection, user_id, label, limit)

    def _feedback(self, connection: Connection, user_id: str, label: str | None = None,
                  limit: int | None = None) -> list[StoredFeedback]:
        table = feedback_table
        query = sa.select(table).where(table.c.user_id == user_id)
        if label is not None:
            query = query.where(table.c.label == label)
        query = query.order_by(table.c.pk.desc())
        if limit is not None:
            query = query.limit(limit)
        rows = list(connection.execute(query))
        return [StoredFeedback(int(r.pk), r.uid, r.user_id, r.item_id, r.label, r.rating, r.timestamp)
                for r in reversed(rows)]

    def count_feedback(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(feedback_table)).scalar_one())


def _create_engine(url: str) -> Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise StoreError("an in-memory SQLite database would lose everything on restart; give a file path")
        from pathlib import Path

        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False},
                                  pool_size=8, max_overflow=24)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cursor.execute("PRAGMA synchronous=FULL")  # a commit that returned is on the disk
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_size=8, max_overflow=24, pool_pre_ping=True)
    raise StoreError(f"unsupported database '{parsed.get_backend_name()}': give a SQLite file path or a "
                     "postgresql:// URL")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).strip().splitlines()[0]


__all__ = ["CatalogChanges", "SCHEMA_VERSION", "Store", "StoreError", "StoredFeedback", "StoredInteraction",
           "StoredItem", "StoredUser", "UserState"]
