"""BM25 between a text query (the history's item text, or an interest profile) and every item's text.

Item text is the title plus every attribute value (:func:`~promptrec.retrieval.base.item_text`). Tokens,
weights and scoring are promptrec's one BM25, :class:`~promptrec.retrieval.bm25_index.BM25Index` (bm25s'
tokens and Lucene formulas, ``k1 = 1.5``, ``b = 0.75``): the index is cached on disk with the postings' term
frequencies and the document lengths, so that :meth:`BM25Retriever.add_items` tokenises only the new and
changed items and re-weighs the postings; the weights equal those of ``bm25s.BM25(method="lucene").index(...)``
over the whole catalog. A query term that occurs ``q`` times in the query adds ``q`` times its weight, so the
history's most frequent genres and words count most.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from promptrec.data import Catalog
from promptrec.errors import DataError
from promptrec.retrieval.base import MAX_QUERY_ITEMS, BaseRetriever, IndexCache, User, item_text, query_text
from promptrec.retrieval.bm25_index import BM25Index, tokenize

__all__ = ["BM25Retriever", "tokenize"]

logger = logging.getLogger(__name__)


class BM25Retriever(BaseRetriever):
    """BM25 over the catalog's item text; the query is the text of the user's recent history items.

    Args:
        catalog: the items to retrieve from.
        k1, b: BM25's term-frequency saturation and length normalisation.
        max_query_items: the most recent history items whose text makes the query.
        cache: see :class:`~promptrec.retrieval.base.BaseRetriever`.
    """

    name = "bm25"

    def __init__(
        self,
        catalog: Catalog,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        max_query_items: int = MAX_QUERY_ITEMS,
        cache: IndexCache | None | bool = None,
    ) -> None:
        super().__init__(catalog, cache=cache)
        self.k1, self.b = k1, b
        self.max_query_items = max_query_items
        self.index = BM25Index(k1=k1, b=b)

    def _params(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "tokens": "bm25s-en-v1", "postings": 2}

    def _build(self) -> dict[str, np.ndarray]:
        self.index = BM25Index.from_texts((item_text(item) for item in self._items), k1=self.k1, b=self.b)
        empty = self.index.empty
        if empty == len(self._items):
            raise DataError(f"no item of the catalog has any indexable text for BM25 ({empty} items)")
        if empty:
            logger.warning("bm25: %d of %d catalog items have no indexable text (only stop words or "
                           "one-character words); they are retrieved only on ties", empty, len(self._items))
        return self.index.arrays()

    def _export(self) -> dict[str, np.ndarray]:
        return self.index.arrays()

    def _attach(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.index = BM25Index.from_arrays(arrays, k1=self.k1, b=self.b)

    def _update_items(self, changed: np.ndarray, start: int) -> None:
        """Only the changed and new items are tokenised; their postings replace the old ones, and every
        weight is recomputed from the postings (a new document changes every idf and the mean length)."""
        self.index.update(changed, [item_text(self._items[i]) for i in changed.tolist()],
                          [item_text(item) for item in self._items[start:]])

    def text_scores(self, text: str) -> np.ndarray:
        """BM25 scores of every catalog item for the query ``text`` (all 0 when it has no known word)."""
        self.build()
        return self.index.text_scores(text)

    def scores(self, user: User) -> np.ndarray:
        """BM25 of every item against the text of the user's most recent ``max_query_items`` items."""
        text = query_text(user, self.max_query_items)
        if not text.strip():
            logger.info("bm25: empty history, so an empty query: every score is 0")
        return self.text_scores(text)

    def texts(self) -> Sequence[str]:
        """The indexed text of every catalog item, in catalog order."""
        return [item_text(item) for item in self._items]
