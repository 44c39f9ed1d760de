"""Semantic similarity of item text: sentence embeddings (all-MiniLM-L6-v2 by default, or wordllama).

Every item's text (title and attributes, as the embedder renders it: ``title: ...; genres: ...`` for
MiniLM) is embedded once (cached on disk, ``float32``, L2-normalised) by an
embedder (:mod:`promptrec.retrieval.embedders`); a user is the normalised mean of their recent history
items' embeddings (an item that is not in the catalog is embedded from its text), a text query (an interest
profile) is embedded directly, and the score is the cosine similarity.

* ``scores(user)`` / ``text_scores`` / ``vector_scores``: one exact ``(items x dim) @ dim`` product.
* ``retrieve(user, n)``: exact below :data:`~promptrec.retrieval.ann.ANN_THRESHOLD` items, else the top
  items of an HNSW graph (:mod:`promptrec.retrieval.ann`), scored exactly and sorted (ties by position);
  if the graph returns too few once the history is removed, the exact search answers.
* ``add_items``: only the new and changed items are embedded; their rows (and graph nodes) are replaced or
  appended, so the vectors equal a full rebuild's.

The index cache key holds the embedder's name (model and weights), the dimensions and the graph's kind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from promptrec.data import Catalog
from promptrec.errors import DataError
from promptrec.retrieval.ann import ANN_THRESHOLD, HNSW, KIND
from promptrec.retrieval.base import (
    DEFAULT_POOL,
    MAX_QUERY_ITEMS,
    BaseRetriever,
    IndexCache,
    Retrieved,
    User,
    as_history,
)
from promptrec.retrieval.embedders import WORDLLAMA_DIM, Embedder, get_embedder

logger = logging.getLogger(__name__)

#: wordllama's embedding size (kept for callers of the wordllama-only version of this module).
DIM = WORDLLAMA_DIM
Ann = Literal["auto", "exact", "hnsw"]


def load_wordllama() -> Any:
    """wordllama's bundled 256-d model, loaded once per process from the installed package (no network)."""
    from promptrec.retrieval.embedders import WordLlamaEmbedder

    WordLlamaEmbedder()
    return WordLlamaEmbedder.model()


def embed(texts: Sequence[str], embedder: str | Embedder | None = "wordllama") -> np.ndarray:
    """L2-normalised ``float32`` embeddings of ``texts`` by ``embedder`` (zeros for a text with nothing known)."""
    return get_embedder(embedder).embed(texts)


class SemanticRetriever(BaseRetriever):
    """Cosine similarity between sentence embeddings of the items' text and of the user's history.

    Args:
        catalog: the items to retrieve from.
        embedder: ``"minilm"``, ``"wordllama"``, an :class:`~promptrec.retrieval.embedders.Embedder`, or
            ``None`` for the default (``$PROMPTREC_EMBEDDER``, else ``minilm``).
        max_query_items: the most recent history items that make the user's vector.
        dim: keep the first ``dim`` dimensions only (wordllama: 256, 128 or 64; it is trained
            Matryoshka-style, so a prefix is itself an embedding); ``None``: all of them.
        ann: ``"auto"`` (an HNSW graph from :data:`~promptrec.retrieval.ann.ANN_THRESHOLD` items on),
            ``"exact"`` or ``"hnsw"`` (always a graph).
        cache: see :class:`~promptrec.retrieval.base.BaseRetriever`.
    """

    name = "semantic"

    def __init__(
        self, catalog: Catalog, *, embedder: str | Embedder | None = None, max_query_items: int = MAX_QUERY_ITEMS,
        dim: int | None = None, ann: Ann = "auto", cache: IndexCache | None | bool = None,
    ) -> None:
        super().__init__(catalog, cache=cache)
        self.embedder = get_embedder(embedder)
        full = self.embedder.dim
        if dim is not None and (dim > full or (full == WORDLLAMA_DIM and dim not in (64, 128, 256))
                                or (full != WORDLLAMA_DIM and dim != full)):
            raise ValueError(f"dim must be {'64, 128 or 256' if full == WORDLLAMA_DIM else full} for the "
                             f"{self.embedder.name} embedder, not {dim}")
        if ann not in ("auto", "exact", "hnsw"):
            raise ValueError(f"ann must be 'auto', 'exact' or 'hnsw', not {ann!r}")
        self.max_query_items = max_query_items
        self.dim = dim or full
        self.ann: Ann = ann
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._graph: HNSW | None = None

    def _use_graph(self) -> bool:
        return self.ann == "hnsw" or (self.ann == "auto" and len(self.catalog) >= ANN_THRESHOLD)

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.embedder.name, "dim": self.dim}
        if self._use_graph():
            params["ann"] = KIND
        return params

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.embedder.embed(texts)
        if self.dim == vectors.shape[1]:
            return vectors
        vectors = np.ascontiguousarray(vectors[:, : self.dim])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def _build(self) -> dict[str, np.ndarray]:
        vectors = self._embed([self.embedder.text(item) for item in self._items])
        norms = np.linalg.norm(vectors, axis=1)
        empty = int((norms == 0).sum())
        if empty == len(self._items):
            raise DataError(f"no item of the catalog has any text the embedding model knows ({empty} items)")
        if empty:
            logger.warning("semantic: %d of %d catalog items have no text the embedding model knows; they score 0",
                           empty, len(self._items))
        arrays = {"vectors": vectors}
        if self._use_graph():
            arrays["graph"] = HNSW.build(vectors).to_bytes()
        return arrays

    def build_from_vectors(self, vectors: np.ndarray) -> SemanticRetriever:
        """Use ``vectors`` (one unit row per catalog item, in catalog order, made by this retriever's embedder
        elsewhere: :func:`promptrec.retrieval.build.embed_with_ray`) as the index: the graph is built where
        the catalog is large enough, and the index is stored in the cache under the usual key."""
        from promptrec.retrieval.base import IndexCache as _Cache

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(self._items), self.embedder.dim):
            raise DataError(f"expected {len(self._items)} x {self.embedder.dim} vectors for the catalog, got "
                            f"{' x '.join(map(str, vectors.shape))}")
        if self.dim != vectors.shape[1]:
            vectors = np.ascontiguousarray(vectors[:, : self.dim])
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        arrays = {"vectors": vectors}
        if self._use_graph():
            arrays["graph"] = HNSW.build(vectors).to_bytes()
        if self.index_cache is not None:
            self.index_cache.store(_Cache.describe(self.name, self.catalog, self._params(), None), arrays)
        self._attach(arrays)
        self.index_loaded_from_cache = False
        self._ready = True
        return self

    def _attach(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._vectors = np.ascontiguousarray(arrays["vectors"], dtype=np.float32)
        self._graph = HNSW.from_bytes(arrays["graph"]) if "graph" in arrays else None

    def _export(self) -> dict[str, np.ndarray]:
        arrays = {"vectors": self._vectors}
        if self._use_graph():
            if self._graph is None:
                self._graph = HNSW.build(self._vectors)
            arrays["graph"] = self._graph.to_bytes()
        return arrays

    def _update_items(self, changed: np.ndarray, start: int) -> None:
        """Embeds the changed and new items only; their rows (and graph nodes) are replaced or appended."""
        where = np.concatenate([changed, np.arange(start, len(self._items))]).astype(np.int64)
        fresh = self._embed([self.embedder.text(self._items[i]) for i in where])
        vectors = np.concatenate([self._vectors, np.zeros((len(self._items) - start, self.dim), dtype=np.float32)])
        vectors[where] = fresh
        self._vectors = vectors
        if self._graph is not None:
            self._graph.upsert(where, fresh)
        elif self._use_graph():  # the catalog grew past the threshold
            self._graph = HNSW.build(self._vectors)

    @property
    def vectors(self) -> np.ndarray:
        """The items' embeddings, one normalised row per catalog item (in catalog order); builds the index.
        The pipeline's diverse cold-start fallback spreads over them."""
        self.build()
        return self._vectors

    @property
    def uses_ann(self) -> bool:
        """Whether :meth:`retrieve` asks an HNSW graph (built) rather than scanning every vector."""
        self.build()
        return self._graph is not None

    def user_vector(self, user: User) -> np.ndarray:
        """The normalised mean embedding of the user's most recent ``max_query_items`` history items."""
        self.build()
        items = as_history(user).items[-self.max_query_items:] if self.max_query_items else []
        inside = [self._where[item.id] for item in items if item.id in self._where]
        outside = [self.embedder.text(item) for item in items if item.id not in self._where]
        parts = [self._vectors[inside]] if inside else []
        if outside:
            parts.append(self._embed(outside))
        if not parts:
            return np.zeros(self.dim, dtype=np.float32)
        vector = np.concatenate(parts).mean(axis=0)
        norm = float(np.linalg.norm(vector))
        return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)

    def text_vector(self, text: str) -> np.ndarray:
        """The normalised embedding of a free-text query."""
        return self._embed([text])[0] if text.strip() else np.zeros(self.dim, dtype=np.float32)

    def vector_scores(self, vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of every catalog item with ``vector`` (normalised)."""
        self.build()
        # einsum's own single-threaded loop, not BLAS: a matrix-vector product is bound by memory bandwidth,
        # and a multi-threaded BLAS waits for its slowest thread on a loaded machine (measured 2-10x slower)
        return np.einsum("ij,j->i", self._vectors, np.asarray(vector, dtype=np.float32))

    def item_similarity(self, sources: Sequence[int], targets: Sequence[int]) -> np.ndarray:
        """``(sources x targets)``: the cosine of the items' embeddings (catalog positions)."""
        vectors = self.vectors
        return vectors[list(sources)] @ vectors[list(targets)].T

    def text_scores(self, text: str) -> np.ndarray:
        """Cosine similarity of every catalog item with the embedding of ``text``."""
        return self.vector_scores(self.text_vector(text))

    def scores(self, user: User) -> np.ndarray:
        """Cosine similarity of every catalog item with the user's history vector (0 for an empty history)."""
        return self.vector_scores(self.user_vector(user))

    def retrieve(self, user: User, n: int = DEFAULT_POOL, *, exclude: Iterable[str] = ()) -> Retrieved:
        """The best ``n`` items: from the HNSW graph when there is one (see the module docstring), else exact."""
        self.build()
        exclude = list(exclude)
        if self._graph is None or n < 1:
            return super().retrieve(user, n, exclude=exclude)
        vector = self.user_vector(user)
        if not np.any(vector):
            return super().retrieve(user, n, exclude=exclude)
        removed = set(self.history_positions(user).tolist())
        removed.update(self._where[i] for i in exclude if i in self._where)
        want = min(n, len(self._items) - len(removed))
        found = self._graph.search(vector, min(len(self._items), n + len(removed)))
        found = np.asarray([p for p in found.tolist() if p not in removed and p < len(self._items)], dtype=np.int64)
        if len(found) < want or want <= 0:
            return super().retrieve(user, n, exclude=exclude)
        scores = self._vectors[found] @ vector
        order = np.lexsort((found, -scores))[:want]
        chosen = found[order]
        return Retrieved(items=[self._items[i] for i in chosen], scores=[float(s) for s in scores[order]],
                         retriever=self.name, requested=n, info={"search": "hnsw"})
