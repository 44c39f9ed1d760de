"""Building a retriever's index ahead of time, locally or through Ray Data (``promptrec index build``).

The expensive part of an index is embedding every item's text for the semantic retriever (MiniLM embeds a
few hundred texts a second per machine). With ``engine="ray"`` the texts become a Ray Dataset that
``map_batches`` embeds on a pool of actors (each loads the embedder once), on one machine or a cluster; the
driver gathers the vectors in catalog order, builds the HNSW graph where the catalog is large enough, and
stores the index in the same cache entry (same key) a local build writes, so any later
``SemanticRetriever(catalog)`` on a machine that shares the cache folder loads it. The vectors equal a local
build's (the same model and code; a batch's padding changes nothing). Other retrievers have no embedding
step: they are built locally by either engine.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from promptrec.retrieval.base import BaseRetriever, IndexCache

logger = logging.getLogger(__name__)

Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = ("local", "ray")


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_index` did: the engine, the items, the seconds it took, and the cache entry."""

    retriever: str
    engine: str
    items: int
    seconds: float
    loaded_from_cache: bool
    entry: Path | None


class _EmbedBatch:
    """A Ray Data actor: loads the embedder once, embeds a batch of texts (column ``text``)."""

    def __init__(self, embedder: str) -> None:
        from promptrec.retrieval.embedders import get_embedder

        self.embedder = get_embedder(embedder)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(t) for t in batch["text"]])
        return {"position": batch["position"], "vector": vectors}


def embed_with_ray(embedder: str, texts: list[str], *, batch_size: int = 256, concurrency: int = 1) -> np.ndarray:
    """``texts`` embedded by ``embedder`` on ``concurrency`` Ray actors, rows in the order of ``texts``
    (Ray must be initialised: :func:`promptrec.ray.init_ray`)."""
    from promptrec.ray import import_ray

    ray = import_ray()
    dataset = ray.data.from_items([{"position": i, "text": t} for i, t in enumerate(texts)])
    embedded = dataset.map_batches(_EmbedBatch, fn_constructor_args=(embedder,), batch_size=batch_size,
                                   concurrency=concurrency, batch_format="numpy")
    out: np.ndarray | None = None
    for batch in embedded.iter_batches(batch_format="numpy", batch_size=None):
        vectors = np.asarray(np.stack(list(batch["vector"])) if batch["vector"].dtype == object else batch["vector"],
                             dtype=np.float32)
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[np.asarray(batch["position"], dtype=np.int64)] = vectors
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def build_index(retriever: BaseRetriever, engine: Engine = "local", *, ray_address: str | None = None,
                num_cpus: int | None = None, batch_size: int = 256, concurrency: int = 1) -> BuildReport:
    """Build ``retriever``'s index (or load it from the cache) with ``engine`` and store it in its cache.

    ``engine="ray"`` embeds a semantic retriever's items through Ray Data (``ray_address``: ``auto`` or
    ``ray://host:10001`` joins a cluster, ``None`` starts a private local instance of ``num_cpus``);
    ``concurrency`` actors take ``batch_size`` texts at a time."""
    from promptrec.retrieval.semantic import SemanticRetriever

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from: {', '.join(ENGINES)}")
    started = time.perf_counter()
    description = IndexCache.describe(retriever.name, retriever.catalog, retriever._params(), retriever._interactions())
    cache = retriever.index_cache
    cached = cache.load(description) if cache is not None else None
    if cached is not None or engine == "local" or not isinstance(retriever, SemanticRetriever):
        retriever.build()
    else:
        from promptrec.ray import import_ray, init_ray

        embedder = _embedder_name(retriever)
        connected = init_ray(ray_address, num_cpus=num_cpus)
        try:
            texts = [retriever.embedder.text(item) for item in retriever.catalog.values()]
            vectors = embed_with_ray(embedder, texts, batch_size=batch_size, concurrency=concurrency)
        finally:
            if connected:
                import_ray().shutdown()
        retriever.build_from_vectors(vectors)
    entry = None
    if cache is not None:
        entry = cache.directory / str(description["kind"]) / IndexCache.key(description)
    return BuildReport(retriever.name, engine, len(retriever.catalog), round(time.perf_counter() - started, 3),
                       retriever.index_loaded_from_cache, entry)


def _embedder_name(retriever: Any) -> str:
    from promptrec.retrieval.embedders import EMBEDDERS, get_embedder

    for name in EMBEDDERS:
        if get_embedder(name).name == retriever.embedder.name:
            return name
    raise ValueError(f"the Ray engine embeds with a named embedder ({', '.join(EMBEDDERS)}), "
                     f"not {retriever.embedder.name}")


__all__ = ["ENGINES", "BuildReport", "Engine", "build_index", "embed_with_ray"]
