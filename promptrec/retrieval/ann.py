"""Approximate nearest neighbours for the embedding retrievers: an HNSW graph (usearch) over unit vectors.

Exact search reads every vector once per query (about 0.08 ms per MB: 12 ms at 100k MiniLM vectors), so
above :data:`ANN_THRESHOLD` items the semantic retriever's :meth:`retrieve` asks an HNSW graph for the
nearest items instead, and scores what it returns exactly. Below the threshold, and for ``scores()`` (the
whole catalog's scores, which the evaluation and the pipeline's query and feedback stages read), search is
exact.

usearch was chosen over faiss-cpu and hnswlib on measured recall@100 against exact search, speed and build
time (eval/README.md), and because it removes and re-adds vectors in place (incremental updates), keeps
vectors in ``f16`` (half the memory, no measurable loss in recall), builds on every core and serialises to
bytes (so the graph is stored in the index cache as a ``uint8`` array, no pickle).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from promptrec.errors import MissingDependencyError

logger = logging.getLogger(__name__)

#: Catalogs with at least this many items get an HNSW graph (``ann="auto"``); smaller ones search exactly.
ANN_THRESHOLD = 20_000
#: HNSW parameters: neighbours per node, and the candidate lists while building and searching. The search
#: list is at least 4 x the number of results asked for.
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 256
#: What the graph is, for the index cache key.
KIND = f"usearch-hnsw-f16-M{CONNECTIVITY}-ef{EXPANSION_ADD}"


def _usearch() -> Any:
    _ray_before_usearch()
    try:
        from usearch.index import Index
    except ImportError:
        raise MissingDependencyError("usearch", "semantic") from None
    return Index


def _ray_before_usearch() -> None:
    """Load Ray's native library before usearch's, where Ray is installed and usearch not yet loaded.

    Both carry their own copy of the C++ standard library; when usearch's is loaded first, a later
    ``ray.init()`` in the same process dies in ``std::regex`` ("terminate called after throwing an instance of
    'std::regex_error'", SIGABRT): the Ray engine after a semantic index with an HNSW graph, or a test run.
    Loaded in the other order both work (measured with usearch 2.26 and Ray 2.x); it costs about 0.5 s once."""
    import importlib.util
    import sys

    if "usearch.compiled" in sys.modules or "ray._raylet" in sys.modules:
        return
    try:
        if importlib.util.find_spec("ray") is not None:
            import ray._raylet  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - a broken Ray must not stop the semantic retriever
        logger.debug("ray not loaded before usearch: %s", exc)


class HNSW:
    """An HNSW graph over the rows of a ``float32`` matrix of unit vectors, keyed by row position."""

    def __init__(self, index: Any) -> None:
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray, threads: int = 0) -> HNSW:
        """A graph over ``vectors`` (row ``i`` has key ``i``), built on ``threads`` threads (0: all cores)."""
        Index = _usearch()
        index = Index(ndim=vectors.shape[1], metric="ip", dtype="f16", connectivity=CONNECTIVITY,
                      expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)
        if len(vectors):
            index.add(np.arange(len(vectors), dtype=np.uint64), np.ascontiguousarray(vectors, dtype=np.float32),
                      threads=threads)
        return cls(index)

    @classmethod
    def from_bytes(cls, data: np.ndarray) -> HNSW:
        """The graph :meth:`to_bytes` saved."""
        return cls(_usearch().restore(bytearray(np.asarray(data, dtype=np.uint8).tobytes()), view=False))

    def to_bytes(self) -> np.ndarray:
        """The graph as a ``uint8`` array (for the index cache)."""
        return np.frombuffer(bytes(self.index.save()), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.index)

    def upsert(self, positions: np.ndarray, vectors: np.ndarray) -> None:
        """Replace (or add) the vectors at ``positions``."""
        if not len(positions):
            return
        keys = np.asarray(positions, dtype=np.uint64)
        present = np.asarray([self.index.contains(int(k)) for k in keys], dtype=bool)
        if present.any():
            self.index.remove(keys[present])
        self.index.add(keys, np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, vector: np.ndarray, k: int) -> np.ndarray:
        """Positions of (about) the ``k`` rows with the largest inner product with ``vector``."""
        self.index.expansion_search = max(EXPANSION_SEARCH, 4 * k)
        matches = self.index.search(np.asarray(vector, dtype=np.float32), k, threads=1)
        return np.asarray(matches.keys, dtype=np.int64)
