"""promptrec's one BM25: tokenisation and scoring over bm25s, shared by every BM25 in the package.

Used by the BM25 retriever (:class:`~promptrec.retrieval.bm25.BM25Retriever`, the catalog's item text), the
evaluation's BM25 baseline (:class:`~promptrec.evaluation.baselines.BM25Baseline`) and the feedback examples'
``similar`` order (:func:`~promptrec.feedback.select_examples`, the fed-back titles against the candidates').

* **Tokens** (:func:`tokenize`): lower-cased words of two or more characters (bm25s' default pattern
  ``(?u)\\b\\w\\w+\\b``) without English stop words (bm25s' list) -- what ``bm25s.tokenization.Tokenizer(
  stopwords="en")`` gives.
* **Weights**: bm25s' Lucene variant (``bm25s.BM25(method="lucene")``): ``idf = log(1 + (N - df + 0.5) /
  (df + 0.5))`` and ``tf / (tf + k1 (1 - b + b |d| / avg|d|))``, ``k1 = 1.5``, ``b = 0.75`` by default. A
  document without any word gets bm25s' empty token, so it keeps a length of 1 and scores 0.
* **Index**: eager, as bm25s builds it: every term's documents with their precomputed weight, term-major
  (CSR ``data``/``indices``/``indptr``), plus the postings' term frequencies and the documents' lengths, so
  that :meth:`BM25Index.update` tokenises only new and changed documents and re-weighs the postings (a new
  document changes every idf).
* **Query**: a query term that occurs ``q`` times adds ``q`` times its weight (bm25s' ``get_scores`` with the
  token repeated). Scoring touches only the query terms' postings: one pass over each posting list, added into
  one float32 vector in place (scipy's compiled column kernel on views of the arrays, no copy).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["BM25Index", "tokenize"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")

#: the token that stands for "no word" (bm25s keeps such a document indexable with it)
EMPTY = ""


@functools.lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """bm25s' English stop words."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str, stop: frozenset[str] | None = None) -> list[str]:
    """The BM25 tokens of ``text``: lower-cased words of 2+ characters, English stop words removed."""
    stop = stopwords() if stop is None else stop
    return [token for token in _TOKEN.findall(text.lower()) if token not in stop]


@functools.lru_cache(maxsize=1)
def _column_kernel() -> Any:
    """scipy's compiled ``csc_matvec`` (``y += A x`` for a CSC matrix), or ``None`` where this scipy lacks it."""
    try:
        from scipy.sparse import _sparsetools

        kernel = _sparsetools.csc_matvec
        out = np.zeros(2, dtype=np.float32)
        kernel(2, 1, np.array([0, 1], dtype=np.int32), np.array([1], dtype=np.int32),
               np.array([2.0], dtype=np.float32), np.array([3.0], dtype=np.float32), out)
        return kernel if out.tolist() == [0.0, 6.0] else None
    except Exception:  # noqa: BLE001 - a private kernel: any change in it means the public path
        return None


class BM25Index:
    """BM25 weights of a list of documents (texts), term-major, built and updated in place.

    >>> index = BM25Index.from_texts(["Alien Sci-Fi", "Heat Crime", "Aliens Sci-Fi Action"])
    >>> index.text_scores("alien")          # one float32 score per document
    array([0.3923317, 0.       , 0.       ], dtype=float32)

    Args:
        k1, b: BM25's term-frequency saturation and length normalisation.
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.stop = stopwords()
        self.vocab: dict[str, int] = {EMPTY: 0}  # every token ever seen -> its id (id 0: the empty token)
        self.data = np.zeros(0, dtype=np.float32)  # the postings' weights, term-major
        self.indices = np.zeros(0, dtype=np.int32)  # their documents
        self.indptr = np.zeros(1, dtype=np.int64)  # term t's postings: [indptr[t], indptr[t + 1])
        self.tf = np.zeros(0, dtype=np.float32)  # their term frequencies
        self.doclen = np.zeros(0, dtype=np.int64)  # tokens per document (1 for a document without words)
        self.empty = 0  # documents without any word

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, k1: float = 1.5, b: float = 0.75) -> BM25Index:
        """The index of ``texts`` (document ``i`` is ``texts[i]``)."""
        index = cls(k1=k1, b=b)
        index.update(np.zeros(0, dtype=np.int64), [], list(texts))
        return index

    # -- persistence: the arrays an on-disk cache stores ----------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The index as arrays (``data``, ``indices``, ``indptr``, ``vocab``, ``tf``, ``doclen``)."""
        return {
            "data": self.data, "indices": self.indices, "indptr": self.indptr,
            "vocab": np.asarray(sorted(self.vocab, key=self.vocab.__getitem__), dtype=np.str_),
            "tf": self.tf, "doclen": self.doclen,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], *, k1: float = 1.5, b: float = 0.75) -> BM25Index:
        """An index from :meth:`arrays`' output (the weights as stored, not recomputed)."""
        index = cls(k1=k1, b=b)
        index.data = np.asarray(arrays["data"], dtype=np.float32)
        index.indices = np.asarray(arrays["indices"], dtype=np.int32)
        index.indptr = np.asarray(arrays["indptr"], dtype=np.int64)
        index.vocab = {str(word): number for number, word in enumerate(arrays["vocab"].tolist())}
        index.tf = np.asarray(arrays["tf"], dtype=np.float32)
        index.doclen = np.asarray(arrays["doclen"], dtype=np.int64)
        index.empty = int(np.diff(index.indptr)[0]) if len(index.indptr) > 1 else 0
        return index

    @property
    def n_docs(self) -> int:
        return len(self.doclen)

    # -- building and updating --------------------------------------------------------------------------------
    def _token_ids(self, text: str) -> np.ndarray:
        tokens = tokenize(text, self.stop) or [EMPTY]
        return np.fromiter((self.vocab.setdefault(t, len(self.vocab)) for t in tokens), dtype=np.int64,
                           count=len(tokens))

    def update(self, changed: np.ndarray, changed_texts: Sequence[str], new_texts: Sequence[str]) -> None:
        """Documents ``changed[i]`` now read ``changed_texts[i]``, and ``new_texts`` are appended. Only those
        are tokenised; every weight is recomputed from the postings (the result equals a fresh build)."""
        changed = np.asarray(changed, dtype=np.int64)
        start = self.n_docs
        docs = changed.tolist() + list(range(start, start + len(new_texts)))
        ids = [self._token_ids(text) for text in [*changed_texts, *new_texts]]
        # the postings' term and document, from the index itself (not kept between updates: 16 bytes a posting)
        old_doc = self.indices.astype(np.int64)
        old_term = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))
        keep = ~np.isin(old_doc, changed) if len(changed) else np.ones(len(old_doc), dtype=bool)
        terms, owners, tf = _postings(docs, ids)
        self.doclen = np.concatenate([self.doclen, np.zeros(len(new_texts), dtype=np.int64)])
        if docs:
            self.doclen[np.asarray(docs, dtype=np.int64)] = [len(i) for i in ids]
        self._weigh(np.concatenate([old_term[keep], terms]), np.concatenate([old_doc[keep], owners]),
                    np.concatenate([self.tf[keep], tf]))

    def _weigh(self, term: np.ndarray, doc: np.ndarray, tf: np.ndarray) -> None:
        """Every posting's weight from the postings (term, document, term frequency) and the document lengths
        (bm25s' Lucene formulas); the postings are stored term-major."""
        from bm25s.scoring import _score_idf_lucene, _score_tfc_lucene

        order = np.lexsort((doc, term))
        term, doc, self.tf = term[order], doc[order], tf[order]
        df = np.bincount(term, minlength=len(self.vocab))
        idf = np.asarray([_score_idf_lucene(int(d), N=self.n_docs) if d else 0.0 for d in df], dtype=np.float32)
        average = self.doclen.mean() if self.n_docs else 1.0
        tfc = _score_tfc_lucene(self.tf, l_d=self.doclen[doc].astype(np.float64), l_avg=average,
                                k1=self.k1, b=self.b)
        self.data = (idf[term] * tfc.astype(np.float32)).astype(np.float32)
        self.indices = doc.astype(np.int32)
        self.indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self.empty = int(df[0]) if len(df) else 0

    # -- scoring ----------------------------------------------------------------------------------------------
    def query(self, text: str) -> Counter[str]:
        """The query terms of ``text`` with their counts (words the index has never seen included)."""
        return Counter(tokenize(text, self.stop))

    def scores(self, query: Mapping[str, float]) -> np.ndarray:
        """One float32 BM25 score per document for ``query`` (term -> its weight in the query, e.g. its count);
        terms the index lacks, and the empty token, add nothing. All 0 when no term is known."""
        known = [(self.vocab[t], w) for t, w in query.items() if t and t in self.vocab and w]
        return self._accumulate([t for t, _ in known], [w for _, w in known])

    def text_scores(self, text: str) -> np.ndarray:
        """:meth:`scores` of the query ``text`` (each token counted as often as it occurs)."""
        return self.scores(self.query(text))

    def _accumulate(self, terms: Sequence[int], weights: Sequence[float]) -> np.ndarray:
        """``sum_t weights[t] * row t of the term x document weights``, in the order given (float32)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        if not terms:
            return out
        kernel = _column_kernel()
        if kernel is None or self.n_docs >= 2**31:
            from scipy.sparse import csr_matrix

            matrix = csr_matrix((self.data, self.indices, self.indptr), shape=(len(self.indptr) - 1, self.n_docs))
            rows = np.asarray(terms, dtype=np.int64)
            return np.asarray(matrix[rows].T @ np.asarray(weights, dtype=np.float32), dtype=np.float32).ravel()
        # each posting list is one CSC column over the documents: y += w * column, on views (no copy)
        bounds = np.zeros(2, dtype=np.int32)
        x = np.zeros(1, dtype=np.float32)
        for term, weight in zip(terms, weights):
            first, last = int(self.indptr[term]), int(self.indptr[term + 1])
            if last > first:
                bounds[1] = last - first
                x[0] = weight
                kernel(self.n_docs, 1, bounds, self.indices[first:last], self.data[first:last], x, out)
        return out


def _postings(docs: list[int], ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(term, doc, tf) triples of the documents ``docs`` with token ids ``ids``."""
    if not docs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
    terms = np.concatenate(ids)
    owner = np.repeat(np.asarray(docs, dtype=np.int64), lengths)
    keys, tf = np.unique((owner << 32) | terms, return_counts=True)  # (doc, term) pairs, sorted
    return keys & 0xFFFFFFFF, keys >> 32, tf.astype(np.float32)
