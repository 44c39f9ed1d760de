"""Popularity: every item scored by how many distinct users interacted with it (the same for every user).

Incremental: a new interaction adds one to its item's count; a new item starts at 0."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from promptrec.data import Catalog
from promptrec.retrieval.base import DEFAULT_POOL, BaseRetriever, IndexCache, Interactions, Retrieved, User


class PopularityRetriever(BaseRetriever):
    """The most popular items the user has not had yet: score = distinct users who interacted with the item.

    Args:
        catalog: the items to retrieve from.
        interactions: who interacted with what (:class:`~promptrec.retrieval.base.Interactions`, e.g. from
            :func:`~promptrec.retrieval.base.read_interactions`), over this catalog.
        cache: see :class:`~promptrec.retrieval.base.BaseRetriever`.
    """

    name = "popularity"
    uses_interactions = True

    def __init__(self, catalog: Catalog, interactions: Interactions, *, cache: IndexCache | None | bool = None) -> None:
        super().__init__(catalog, cache=cache)
        self.interactions = self._check_interactions(interactions)
        self._counts = np.zeros(len(self.catalog), dtype=np.float32)
        self._order: np.ndarray | None = None  # positions by count, ties by position (made on first retrieve)

    def _interactions(self) -> Interactions:
        return self.interactions

    def _build(self) -> dict[str, np.ndarray]:
        counts = np.diff(self.interactions.matrix.tocsc().indptr).astype(np.float32)
        return {"counts": counts}

    def _attach(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._counts = np.asarray(arrays["counts"], dtype=np.float32)
        self._order = None

    def _params(self) -> dict[str, Any]:
        return {}

    def _export(self) -> dict[str, np.ndarray]:
        return {"counts": self._counts.copy()}

    def _update_items(self, changed: np.ndarray, start: int) -> None:
        """New items start with no users; a changed item keeps its count (its interactions are the same)."""
        self.interactions = self.interactions.with_catalog(self.catalog)
        self._counts = np.concatenate([self._counts, np.zeros(len(self._items) - start, dtype=np.float32)])
        self._order = None

    def _update_interactions(self, interactions: Interactions, new: np.ndarray) -> None:
        """One more user for each item that is new for the user."""
        self.interactions = interactions
        self._counts[new] += 1.0
        self._order = None

    def scores(self, user: User) -> np.ndarray:
        """Distinct users per item (``user`` does not change them)."""
        self.build()
        return self._counts.copy()

    def retrieve(self, user: User, n: int = DEFAULT_POOL, *, exclude: Iterable[str] = ()) -> Retrieved:
        """The most popular ``n`` items not in the history or ``exclude``: the first of one order shared by
        every user (computed once, ties by position), so a user costs O(n + history), not O(catalog)."""
        self.build()
        exclude = list(exclude)
        removed = set(self.history_positions(user).tolist())
        removed.update(self._where[i] for i in exclude if i in self._where)
        if n < 1 or n >= len(self._items) - len(removed):
            return super().retrieve(user, n, exclude=exclude)  # the errors and the clamping warning
        if self._order is None:
            self._order = np.argsort(-self._counts, kind="stable")
        chosen: list[int] = []
        for position in self._order.tolist() if len(self._order) <= 4 * (n + len(removed)) else self._order[
                : 4 * (n + len(removed)) + 16].tolist():
            if position not in removed:
                chosen.append(position)
                if len(chosen) == n:
                    break
        if len(chosen) < n:
            return super().retrieve(user, n, exclude=exclude)
        return Retrieved(items=[self._items[i] for i in chosen], scores=[float(self._counts[i]) for i in chosen],
                         retriever=self.name, requested=n)
