"""Semantic similarity of item text with wordllama's offline 256-dimension embeddings.

Every item's text (title and attributes) is embedded once (cached on disk, ``float32``, L2-normalised); a
user is the normalised mean of their recent history items' embeddings (an item that is not in the catalog
is embedded from its text), a text query (an interest profile) is embedded directly, and the score is the
cosine similarity: one ``(items x 256) @ 256`` product per user.

The model loads with no network: ``WordLlama.load(dim=256, cache_dir=<the wordllama package folder>)``,
where its wheel ships the weights (``weights/``) and the tokenizer config (``tokenizers/``); wordllama's own
lookup of the tokenizer folder misses without that ``cache_dir`` and would try to download it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from promptrec.data import Catalog
from promptrec.errors import DataError, MissingDependencyError
from promptrec.retrieval.base import MAX_QUERY_ITEMS, BaseRetriever, IndexCache, User, as_history, item_text

logger = logging.getLogger(__name__)

#: The embedding size of wordllama's bundled model.
DIM = 256
_MODEL: Any = None
_MODEL_LOCK = threading.Lock()
_BATCH = 4096


def load_wordllama() -> Any:
    """wordllama's bundled 256-d model, loaded once per process from the installed package (no network)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            try:
                import wordllama
                from wordllama import WordLlama
            except ImportError:
                raise MissingDependencyError("wordllama", "semantic") from None
            folder = Path(wordllama.__file__).parent
            _MODEL = WordLlama.load(dim=DIM, cache_dir=folder)
        return _MODEL


def embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised ``float32`` embeddings of ``texts`` (a text with no known token embeds to zeros)."""
    model = load_wordllama()
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    parts = [np.asarray(model.embed(list(texts[i:i + _BATCH]), norm=True), dtype=np.float32)
             for i in range(0, len(texts), _BATCH)]
    vectors = np.nan_to_num(np.concatenate(parts))
    return vectors


class SemanticRetriever(BaseRetriever):
    """Cosine similarity between wordllama embeddings of the items' text and of the user's history.

    A user's scores read the whole ``items x dim`` matrix once (100 MB at 100k items and 256 dimensions), so
    their time is bound by memory bandwidth; ``dim=128`` or ``64`` keeps the first dimensions only
    (wordllama is trained Matryoshka-style, so a prefix is itself an embedding), for a half or a quarter of
    the memory and time at some cost in quality.

    Args:
        catalog: the items to retrieve from.
        max_query_items: the most recent history items that make the user's vector.
        dim: 256 (all), 128 or 64 dimensions.
        cache: see :class:`~promptrec.retrieval.base.BaseRetriever`.
    """

    name = "semantic"

    def __init__(
        self, catalog: Catalog, *, max_query_items: int = MAX_QUERY_ITEMS, dim: int = DIM,
        cache: IndexCache | None | bool = None,
    ) -> None:
        super().__init__(catalog, cache=cache)
        if dim not in (64, 128, DIM):
            raise ValueError(f"dim must be 64, 128 or {DIM}, not {dim}")
        self.max_query_items = max_query_items
        self.dim = dim
        self._vectors = np.zeros((0, dim), dtype=np.float32)

    def _params(self) -> dict[str, Any]:
        import wordllama

        return {"model": f"wordllama-{getattr(wordllama, '__version__', '?')}-l2_supercat-{DIM}", "dim": self.dim}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = embed(texts)
        if self.dim == DIM:
            return vectors
        vectors = np.ascontiguousarray(vectors[:, : self.dim])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def _build(self) -> dict[str, np.ndarray]:
        vectors = self._embed([item_text(item) for item in self._items])
        norms = np.linalg.norm(vectors, axis=1)
        empty = int((norms == 0).sum())
        if empty == len(self._items):
            raise DataError(f"no item of the catalog has any text the embedding model knows ({empty} items)")
        if empty:
            logger.warning("semantic: %d of %d catalog items have no text the embedding model knows; they score 0",
                           empty, len(self._items))
        return {"vectors": vectors}

    def _attach(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._vectors = np.ascontiguousarray(arrays["vectors"], dtype=np.float32)

    def user_vector(self, user: User) -> np.ndarray:
        """The normalised mean embedding of the user's most recent ``max_query_items`` history items."""
        self.build()
        items = as_history(user).items[-self.max_query_items:] if self.max_query_items else []
        inside = [self._where[item.id] for item in items if item.id in self._where]
        outside = [item_text(item) for item in items if item.id not in self._where]
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

    def text_scores(self, text: str) -> np.ndarray:
        """Cosine similarity of every catalog item with the embedding of ``text``."""
        return self.vector_scores(self.text_vector(text))

    def scores(self, user: User) -> np.ndarray:
        """Cosine similarity of every catalog item with the user's history vector (0 for an empty history)."""
        return self.vector_scores(self.user_vector(user))
