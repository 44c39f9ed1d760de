"""BM25 between a text query (the history's item text, or an interest profile) and every item's text.

Item text is the title plus every attribute value (:func:`~promptrec.retrieval.base.item_text`); tokens are
lower-cased words of two or more characters (bm25s' pattern) without English stop words (bm25s' list). The
index is an eager one, as bm25s builds (every term's documents with their precomputed BM25 weight, bm25s'
Lucene variant of the idf and term-frequency formulas, ``k1 = 1.5``, ``b = 0.75``), cached on disk with the
postings' term frequencies and the document lengths, so that :meth:`BM25Retriever.add_items` tokenises only
the new and changed items and re-weighs the postings (a new document changes every idf): the weights
equal those of ``bm25s.BM25(method="lucene").index(...)`` over the whole catalog. A query term that occurs ``q`` times in the query adds ``q`` times
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
        self._vocab_all: dict[str, int] = {"": 0}
        self._csr: Any = None
        self._p_term = self._p_doc = np.zeros(0, dtype=np.int64)
        self._p_tf = np.zeros(0, dtype=np.float32)
        self._doclen = np.zeros(0, dtype=np.int64)

    def _params(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "tokens": "bm25s-en-v1", "postings": 2}

    # -- the index: postings (term, document, term frequency), weighted with bm25s' Lucene formulas ----------
    def _tokens(self, start: int = 0, only: np.ndarray | None = None) -> tuple[list[int], list[np.ndarray]]:
        """Token ids (vocabulary grown as needed) of ``self._items[start:]`` or of the positions ``only``."""
        where = range(start, len(self._items)) if only is None else only.tolist()
        docs, ids = [], []
        for position in where:
            tokens = tokenize(item_text(self._items[position]), self._stop) or [""]
            docs.append(position)
            ids.append(np.fromiter((self._vocab_all.setdefault(t, len(self._vocab_all)) for t in tokens),
                                   dtype=np.int64, count=len(tokens)))
        return docs, ids

    def _postings(self, docs: list[int], ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(term, doc, tf) triples of the documents ``docs`` with token ids ``ids``."""
        if not docs:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=np.float32)
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        terms = np.concatenate(ids)
        owner = np.repeat(np.asarray(docs, dtype=np.int64), lengths)
        keys, tf = np.unique((owner << 32) | terms, return_counts=True)  # (doc, term) pairs, sorted
        return keys & 0xFFFFFFFF, keys >> 32, tf.astype(np.float32)

    def _weigh(self) -> None:
        """Every posting's BM25 weight from the postings and the document lengths (bm25s' Lucene idf and
        term-frequency component, the formulas ``bm25s.BM25(method="lucene")`` indexes with)."""
        from bm25s.scoring import _score_idf_lucene, _score_tfc_lucene

        order = np.lexsort((self._p_doc, self._p_term))
        self._p_term, self._p_doc, self._p_tf = self._p_term[order], self._p_doc[order], self._p_tf[order]
        n_docs, n_terms = len(self._items), len(self._vocab_all)
        df = np.bincount(self._p_term, minlength=n_terms)
        idf = np.asarray([_score_idf_lucene(int(d), N=n_docs) if d else 0.0 for d in df], dtype=np.float32)
        avg = self._doclen.mean()
        tfc = _score_tfc_lucene(self._p_tf, l_d=self._doclen[self._p_doc].astype(np.float64), l_avg=avg,
                                k1=self.k1, b=self.b)
        self._data = (idf[self._p_term] * tfc.astype(np.float32)).astype(np.float32)
        self._indices = self._p_doc.astype(np.int32)
        self._indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self._vocab = {word: index for word, index in self._vocab_all.items() if word}
        self._csr = None

    def _build(self) -> dict[str, np.ndarray]:
        self._vocab_all = {"": 0}  # bm25s' empty token: keeps a document with no words indexable
        docs, ids = self._tokens(0)
        empty = sum(1 for i in ids if len(i) == 1 and i[0] == 0)
        if empty == len(self._items):
            raise DataError(f"no item of the catalog has any indexable text for BM25 ({empty} items)")
        if empty:
            logger.warning("bm25: %d of %d catalog items have no indexable text (only stop words or "
                           "one-character words); they are retrieved only on ties", empty, len(self._items))
        self._doclen = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        self._p_term, self._p_doc, self._p_tf = self._postings(docs, ids)
        self._weigh()
        return self._export()

    def _export(self) -> dict[str, np.ndarray]:
        return {
            "data": self._data, "indices": self._indices, "indptr": self._indptr,
            "vocab": np.asarray(sorted(self._vocab_all, key=self._vocab_all.__getitem__), dtype=np.str_),
            "tf": self._p_tf, "doclen": self._doclen,
        }

    def _attach(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._data = np.asarray(arrays["data"], dtype=np.float32)
        self._indices = np.asarray(arrays["indices"], dtype=np.int32)
        self._indptr = np.asarray(arrays["indptr"], dtype=np.int64)
        self._vocab_all = {str(word): index for index, word in enumerate(arrays["vocab"].tolist())}
        self._vocab = {word: index for word, index in self._vocab_all.items() if word}
        self._p_tf = np.asarray(arrays["tf"], dtype=np.float32)
        self._doclen = np.asarray(arrays["doclen"], dtype=np.int64)
        self._p_doc = self._indices.astype(np.int64)
        self._p_term = np.repeat(np.arange(len(self._indptr) - 1, dtype=np.int64), np.diff(self._indptr))
        self._csr = None

    def _update_items(self, changed: np.ndarray, start: int) -> None:
        """Only the changed and new items are tokenised; their postings replace the old ones, and every
        weight is recomputed from the postings (a new document changes every idf and the mean length)."""
        keep = ~np.isin(self._p_doc, changed) if len(changed) else np.ones(len(self._p_doc), dtype=bool)
        docs_c, ids_c = self._tokens(only=changed)
        docs_n, ids_n = self._tokens(start)
        docs, ids = docs_c + docs_n, ids_c + ids_n
        terms, owners, tf = self._postings(docs, ids)
        self._p_term = np.concatenate([self._p_term[keep], terms])
        self._p_doc = np.concatenate([self._p_doc[keep], owners])
        self._p_tf = np.concatenate([self._p_tf[keep], tf])
        self._doclen = np.concatenate([self._doclen, np.zeros(len(self._items) - start, dtype=np.int64)])
        self._doclen[np.asarray(docs, dtype=np.int64)] = [len(i) for i in ids]
        self._weigh()

    def text_scores(self, text: str) -> np.ndarray:
        """BM25 scores of every catalog item for the query ``text`` (all 0 when it has no known word)."""
        self.build()
        counts = Counter(self._vocab[t] for t in tokenize(text, self._stop) if t in self._vocab)
        n_items = len(self._items)
        if not counts:
            return np.zeros(n_items, dtype=np.float32)
        terms = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        weights = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        # the query terms' rows of the terms x items weight matrix, summed with their counts as weights (scipy's
        # sparse product: one pass over those postings in C, about 2x numpy's concatenate + bincount)
        return np.asarray(self._matrix()[terms].T @ weights, dtype=np.float32).ravel()

    def _matrix(self) -> Any:
        """The weights as a terms x items CSR matrix (views of the index arrays, made once)."""
        if self._csr is None or self._csr.shape != (len(self._indptr) - 1, len(self._items)):
            from scipy.sparse import csr_matrix

            self._csr = csr_matrix((self._data, self._indices, self._indptr),
                                   shape=(len(self._indptr) - 1, len(self._items)))
        return self._csr

    def scores(self, user: User) -> np.ndarray:
        """BM25 of every item against the text of the user's most recent ``max_query_items`` items."""
        text = query_text(user, self.max_query_items)
        if not text.strip():
            logger.info("bm25: empty history, so an empty query: every score is 0")
        return self.text_scores(text)

    def texts(self) -> Sequence[str]:
        """The indexed text of every catalog item, in catalog order."""
        return [item_text(item) for item in self._items]
