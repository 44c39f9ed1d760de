"""Popularity: every item scored by how many distinct users interacted with it (the same for every user).

Incremental: a new interaction adds one to its item's count; a new item starts at 0."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from promptrec.data import Catalog
from promptrec.retrieval.base import BaseRetriever, IndexCache, Interactions, User


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

    def _interactions(self) -> Interactions:
        return self.interactions

    def _build(self) -> dict[str, np.ndarray]:
        counts = np.diff(self.interactions.matrix.tocsc().indptr).astype(np.float32)
        return {"counts": counts}

    def _attach(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._counts = np.asarray(arrays["counts"], dtype=np.float32)

    def _params(self) -> dict[str, Any]:
        return {}

    def _export(self) -> dict[str, np.ndarray]:
        return {"counts": self._counts.copy()}

    def _update_items(self, changed: np.ndarray, start: int) -> None:
        """New items start with no users; a changed item keeps its count (its interactions are the same)."""
        self.interactions = self.interactions.with_catalog(self.catalog)
        self._counts = np.concatenate([self._counts, np.zeros(len(self._items) - start, dtype=np.float32)])

    def _update_interactions(self, interactions: Interactions, new: np.ndarray) -> None:
        """One more user for each item that is new for the user."""
        self.interactions = interactions
        self._counts[new] += 1.0

    def scores(self, user: User) -> np.ndarray:
        """Distinct users per item (``user`` does not change them)."""
        self.build()
        return self._counts.copy()
