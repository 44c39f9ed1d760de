"""Stored users' histories kept in memory between their requests, checked against the database each time.

A recommendation for a stored user needs their history as a :class:`~promptrec.data.UserHistory`: one
:class:`~promptrec.data.Interaction` per stored interaction. Reading the rows and making those objects costs
about 5 microseconds an interaction, 12 ms for a MovieLens user with 2,400 ratings; the pipeline itself
then needs about as much again. Interactions change rarely (a ``--interactions`` file seeded at start-up,
a user deleted), and every change bumps the database's interactions version in the same transaction, so a
history made once stays right until that version moves: :class:`HistoryCache` keeps the histories made,
keyed by user, each with the interactions version and the catalog version it was made at (an edited
item is a new :class:`~promptrec.data.Item` object, so a catalog change makes its histories again). Each
request still reads both versions and the user's feedback from the database, so several service processes
on one PostgreSQL stay right.

The cache is bounded by the interactions it holds (least recently used users go first), not by users.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from promptrec.data import UserHistory

#: Interactions kept in memory at most (about 250 bytes each: 250 MB at the default bound).
DEFAULT_MAX_INTERACTIONS = 1_000_000


@dataclass(frozen=True)
class CachedHistory:
    """A user's history as made at an interactions version and a catalog version."""

    interactions_version: int
    catalog_version: int
    history: UserHistory


class HistoryCache:
    """User id -> :class:`CachedHistory`, least recently used out first past ``max_interactions``.

    Thread-safe; the histories it hands out are shared, and nothing may change them."""

    def __init__(self, max_interactions: int = DEFAULT_MAX_INTERACTIONS) -> None:
        self.max_interactions = max_interactions
        self._entries: OrderedDict[str, CachedHistory] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def interactions(self) -> int:
        """Interactions held now."""
        return self._size

    def known_version(self, user_id: str, catalog_version: int) -> int | None:
        """The interactions version of the user's history cached at ``catalog_version`` (``None``: none)."""
        entry = self._entries.get(user_id)
        return entry.interactions_version if entry is not None and entry.catalog_version == catalog_version else None

    def get(self, user_id: str, interactions_version: int, catalog_version: int) -> UserHistory | None:
        """The user's history made at these versions, if cached (a miss is counted)."""
        with self._lock:
            entry = self._entries.get(user_id)
            if (entry is None or entry.interactions_version != interactions_version
                    or entry.catalog_version != catalog_version):
                self.misses += 1
                return None
            self._entries.move_to_end(user_id)
            self.hits += 1
            return entry.history

    def put(self, user_id: str, interactions_version: int, catalog_version: int, history: UserHistory) -> None:
        """Keep ``history`` (replacing the user's older one); the least recently used go past the bound. A
        history larger than the whole bound is not kept."""
        size = len(history.interactions)
        if size > self.max_interactions:
            return
        with self._lock:
            old = self._entries.pop(user_id, None)
            if old is not None:
                self._size -= len(old.history.interactions)
            self._entries[user_id] = CachedHistory(interactions_version, catalog_version, history)
            self._size += size
            while self._size > self.max_interactions and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped.history.interactions)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0


__all__ = ["DEFAULT_MAX_INTERACTIONS", "CachedHistory", "HistoryCache"]
