"""The retrieval stage: score a whole catalog for a user and keep the top N (the contract, the index cache
and the handling of bad input are documented in :mod:`promptrec.retrieval.base`).

=====================  ==========================================================================
``popularity``         distinct users per item, from an interactions file
``cooccurrence``       item-kNN (cosine or counts) on co-occurrence in the interactions
``bm25``               BM25 over item text (title and attributes); the query is the history's text
``semantic``           cosine of sentence embeddings of item text (all-MiniLM-L6-v2, or wordllama);
                       an HNSW graph answers ``retrieve`` from 20k items on
``profile``            the LLM's short interest profile as the text query of ``bm25`` or ``semantic``
ensemble               the union of several retrievers' pools, fused by reciprocal rank or weight
=====================  ==========================================================================

Every retriever updates in place: ``add_items(items)`` (upsert by id) and ``add_interactions(user, ids)``;
``promptrec.retrieval.build.build_index`` builds an index ahead of time, locally or through Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptrec.lazy import lazy_exports

if TYPE_CHECKING:
    from promptrec.retrieval.base import (
        DEFAULT_POOL,
        INDEX_VERSION,
        BaseRetriever,
        EmptyPoolError,
        IndexCache,
        Interactions,
        Retrieved,
        Retriever,
        catalog_fingerprint,
        item_text,
        read_interactions,
        top_n,
    )
    from promptrec.retrieval.bm25 import BM25Retriever
    from promptrec.retrieval.cooccurrence import CooccurrenceRetriever
    from promptrec.retrieval.ensemble import EnsembleRetriever
    from promptrec.retrieval.popularity import PopularityRetriever
    from promptrec.retrieval.profile import ProfileRetriever
    from promptrec.retrieval.semantic import SemanticRetriever

#: names loaded on first use (numpy and the indexes stay unloaded until a retriever is needed): name -> module
_LAZY = {
    **dict.fromkeys(("DEFAULT_POOL", "INDEX_VERSION", "BaseRetriever", "EmptyPoolError", "IndexCache", "Interactions",
                     "Retrieved", "Retriever", "catalog_fingerprint", "item_text", "read_interactions", "top_n"),
                    "promptrec.retrieval.base"),
    "BM25Retriever": "promptrec.retrieval.bm25",
    "CooccurrenceRetriever": "promptrec.retrieval.cooccurrence",
    "EnsembleRetriever": "promptrec.retrieval.ensemble",
    "PopularityRetriever": "promptrec.retrieval.popularity",
    "ProfileRetriever": "promptrec.retrieval.profile",
    "SemanticRetriever": "promptrec.retrieval.semantic",
}


__all__ = [
    "DEFAULT_POOL",
    "INDEX_VERSION",
    "BM25Retriever",
    "BaseRetriever",
    "CooccurrenceRetriever",
    "EmptyPoolError",
    "EnsembleRetriever",
    "IndexCache",
    "Interactions",
    "PopularityRetriever",
    "ProfileRetriever",
    "Retrieved",
    "Retriever",
    "SemanticRetriever",
    "catalog_fingerprint",
    "item_text",
    "read_interactions",
    "top_n",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
