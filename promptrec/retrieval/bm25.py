"""BM25 between a text query (the history's item text, or an interest profile) and every item's text.

Item text is the title plus every attribute value (:func:`~promptrec.retrieval.base.item_text`); tokens are
lower-cased words of two or more characters (bm25s' pattern) without English stop words (bm25s' list). The
index is bm25s' eager one (every term's documents with their precomputed BM25 weight, Lucene variant,
``k1 = 1.5``, ``b = 0.75``), cached on disk. A query term that occurs ``q`` times in the query adds ``q`` times
its weight, so the history's most frequent genres and words count most.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from promptrec.data import Catalog
from promptrec.errors import DataError
from promptrec.retrieval.base import MAX_QUERY_ITEMS, BaseRetriever, IndexCache, User, item_text, query_text

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str, stopwords: frozenset[str] | None = None) -> list[str]:
    """The BM25 tokens of ``text``: lower-cased words of 2+ characters, English stop words removed."""
    stop = _stopwords() if stopwords is None else stopwords
    return [token for token in _TOKEN.findall(text.lower()) if token not in stop]


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
        self._vocab: dict[str, int] = {}
        self._data = np.zeros(0, dtype=np.float32)
        self._indices = np.zeros(0, dtype=np.int32)
        self._indptr = np.zeros(1, dtype=np.int64)
        self._stop = _stopwords()

    def _params(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "tokens": "bm25s-en-v1"}

    def _build(self) -> dict[str, np.ndarray]:
        import bm25s
        from bm25s.tokenization import Tokenized

        vocab: dict[str, int] = {"": 0}  # bm25s' empty token: keeps a document with no words indexable
        ids: list[list[int]] = []
        empty = 0
        for item in self._items:
            tokens = tokenize(item_text(item), self._stop)
            if not tokens:
                empty += 1
                tokens = [""]
            ids.append([vocab.setdefault(token, len(vocab)) for token in tokens])
        if empty == len(self._items):
            raise DataError(f"no item of the catalog has any indexable text for BM25 ({empty} items)")
        if empty:
            logger.warning("bm25: %d of %d catalog items have no indexable text (only stop words or "
                           "one-character words); they are retrieved only on ties", empty, len(self._items))
        model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        model.index(Tokenized(ids=ids, vocab=vocab), create_empty_token=False, show_progress=False)
        words = np.asarray(sorted(vocab, key=vocab.__getitem__), dtype=np.str_)
        return {
            "data": np.asarray(model.scores["data"], dtype=np.float32),
            "indices": np.asarray(model.scores["indices"], dtype=np.int32),
            "indptr": np.asarray(model.scores["indptr"], dtype=np.int64),
            "vocab": words,
        }

    def _attach(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._data = np.asarray(arrays["data"], dtype=np.float32)
        self._indices = np.asarray(arrays["indices"], dtype=np.int32)
        self._indptr = np.asarray(arrays["indptr"], dtype=np.int64)
        self._vocab = {str(word): index for index, word in enumerate(arrays["vocab"].tolist())}
        self._vocab.pop("", None)

    def text_scores(self, text: str) -> np.ndarray:
        """BM25 scores of every catalog item for the query ``text`` (all 0 when it has no known word)."""
        self.build()
        counts = Counter(self._vocab[t] for t in tokenize(text, self._stop) if t in self._vocab)
        n_items = len(self._items)
        if not counts:
            return np.zeros(n_items, dtype=np.float32)
        terms = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        weights = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        starts, ends = self._indptr[terms], self._indptr[terms + 1]
        lengths = ends - starts
        docs = np.concatenate([self._indices[s:e] for s, e in zip(starts, ends)])
        values = np.concatenate([self._data[s:e] for s, e in zip(starts, ends)]) * np.repeat(weights, lengths)
        return np.bincount(docs, weights=values, minlength=n_items).astype(np.float32)

    def scores(self, user: User) -> np.ndarray:
        """BM25 of every item against the text of the user's most recent ``max_query_items`` items."""
        text = query_text(user, self.max_query_items)
        if not text.strip():
            logger.info("bm25: empty history, so an empty query: every score is 0")
        return self.text_scores(text)

    def texts(self) -> Sequence[str]:
        """The indexed text of every catalog item, in catalog order."""
        return [item_text(item) for item in self._items]
