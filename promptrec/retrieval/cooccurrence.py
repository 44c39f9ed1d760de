"""Item co-occurrence (item-kNN): items that the users who had the history's items also had.

For a history ``H`` (the distinct history items in the catalog) and an item ``c``:

* ``similarity="count"``: ``score(c) = sum over h in H of |users(h) & users(c)|``, the co-occurrence count
  (LLMRank's co-occurrence baseline; the evaluation measures the shipped cosine);
* ``similarity="cosine"`` (default): ``score(c) = sum over h in H of |users(h) & users(c)| /
  sqrt(|users(h)| * |users(c)|)``, item-kNN with cosine similarity on binary interactions, which keeps the
  most popular items from winning every list.

No item x item matrix is ever built: with ``X`` the binary users x items matrix, the score vector is
``X[U]^T (X[U, H] w)`` over the users ``U`` who had a history item, so one user costs time linear in the
interactions of those users, and memory is two copies (CSR and CSC) of the interactions.

Incremental: :meth:`~CooccurrenceRetriever.add_interactions` and new items update the interactions; the two
sparse copies are re-derived from them once, at the next query (linear in the interactions, no item x item
work), so the scores always equal a fresh build's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from promptrec.data import Catalog
from promptrec.retrieval.base import BaseRetriever, IndexCache, Interactions, User

Similarity = Literal["count", "cosine"]


class CooccurrenceRetriever(BaseRetriever):
    """Item-kNN from co-occurrence in the interactions (see the module docstring for the scores).

    Args:
        catalog: the items to retrieve from.
        interactions: who interacted with what, over this catalog.
        similarity: ``cosine`` (default) or ``count``.
        cache: see :class:`~promptrec.retrieval.base.BaseRetriever`.
    """

    name = "cooccurrence"
    uses_interactions = True

    def __init__(
        self,
        catalog: Catalog,
        interactions: Interactions,
        *,
        similarity: Similarity = "cosine",
        cache: IndexCache | None | bool = None,
    ) -> None:
        super().__init__(catalog, cache=cache)
        if similarity not in ("count", "cosine"):
            raise ValueError(f"unknown similarity '{similarity}'; use 'count' or 'cosine'")
        self.interactions = self._check_interactions(interactions)
        self.similarity: Similarity = similarity
        self._csr: Any = None
        self._csc: Any = None
        self._norm = np.zeros(0, dtype=np.float32)
        self._stale = False

    def _interactions(self) -> Interactions:
        return self.interactions

    def _params(self) -> dict[str, Any]:
        return {}  # the similarity is applied at query time; one index serves both

    def _build(self) -> dict[str, np.ndarray]:
        csr = self.interactions.matrix.tocsr()
        csc = csr.tocsc()
        return {
            "shape": np.asarray(csr.shape, dtype=np.int64),
            "csr_indptr": csr.indptr.astype(np.int64), "csr_indices": csr.indices.astype(np.int32),
            "csc_indptr": csc.indptr.astype(np.int64), "csc_indices": csc.indices.astype(np.int32),
        }

    def _attach(self, arrays: Mapping[str, np.ndarray]) -> None:
        from scipy.sparse import csc_matrix, csr_matrix

        shape = tuple(int(x) for x in arrays["shape"])
        csr_indices = np.asarray(arrays["csr_indices"])
        csc_indices = np.asarray(arrays["csc_indices"])
        self._csr = csr_matrix((np.ones(len(csr_indices), dtype=np.float32), csr_indices, arrays["csr_indptr"]),
                               shape=shape)
        self._csc = csc_matrix((np.ones(len(csc_indices), dtype=np.float32), csc_indices, arrays["csc_indptr"]),
                               shape=shape)
        counts = np.diff(np.asarray(arrays["csc_indptr"])).astype(np.float32)
        with np.errstate(divide="ignore"):
            self._norm = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0).astype(np.float32)

    def _export(self) -> dict[str, np.ndarray]:
        self._refresh()
        csr, csc = self._csr, self._csc
        return {
            "shape": np.asarray(csr.shape, dtype=np.int64),
            "csr_indptr": csr.indptr.astype(np.int64), "csr_indices": csr.indices.astype(np.int32),
            "csc_indptr": csc.indptr.astype(np.int64), "csc_indices": csc.indices.astype(np.int32),
        }

    def _update_items(self, changed: np.ndarray, start: int) -> None:
        """New items are new, empty columns (a changed item's interactions are the same)."""
        self.interactions = self.interactions.with_catalog(self.catalog)
        self._stale = True

    def _update_interactions(self, interactions: Interactions, new: np.ndarray) -> None:
        """The user x item matrices are re-read from ``interactions`` at the next query (one pass over them,
        so a burst of updates costs one)."""
        self.interactions = interactions
        self._stale = True

    def _refresh(self) -> None:
        if self._stale:
            self._stale = False
            self._attach(self._build())

    def item_similarity(self, sources: Sequence[int], targets: Sequence[int]) -> np.ndarray:
        """``(sources x targets)``: how much each source item (a catalog position) adds to each target's score as
        one history item (the users who had both; cosine-weighted unless ``similarity="count"``)."""
        self.build()
        self._refresh()
        together = np.asarray((self._csc[:, sources].T @ self._csc[:, targets]).toarray(), dtype=np.float64)
        if self.similarity == "cosine":
            together *= np.outer(self._norm[sources], self._norm[targets])
        return together

    def scores(self, user: User) -> np.ndarray:
        """Co-occurrence scores of every catalog item with the user's history items (0 when none)."""
        self.build()
        self._refresh()
        history = self.history_positions(user)
        n_items = len(self.catalog)
        if len(history) == 0:
            return np.zeros(n_items, dtype=np.float32)
        weights = self._norm[history] if self.similarity == "cosine" else np.ones(len(history), dtype=np.float32)
        # weighted history items per user: one sparse product over the history's columns (float64, then float32)
        u = np.asarray(self._csc[:, history] @ weights.astype(np.float64)).ravel().astype(np.float32)
        touched = np.flatnonzero(u)
        if len(touched) == 0:
            return np.zeros(n_items, dtype=np.float32)
        scores = np.asarray(self._csr[touched].T @ u[touched], dtype=np.float32).ravel()
        if self.similarity == "cosine":
            scores *= self._norm
        return scores
