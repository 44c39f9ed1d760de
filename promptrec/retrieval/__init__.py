"""The retrieval stage: score a whole catalog for a user and keep the top N (see :mod:`promptrec.retrieval.base`)."""

from promptrec.retrieval.base import (
    DEFAULT_POOL,
    BaseRetriever,
    EmptyPoolError,
    IndexCache,
    Interactions,
    Retrieved,
    Retriever,
    catalog_fingerprint,
    read_interactions,
    top_n,
)
from promptrec.retrieval.cooccurrence import CooccurrenceRetriever
from promptrec.retrieval.popularity import PopularityRetriever

__all__ = [
    "DEFAULT_POOL",
    "BaseRetriever",
    "CooccurrenceRetriever",
    "EmptyPoolError",
    "IndexCache",
    "Interactions",
    "PopularityRetriever",
    "Retrieved",
    "Retriever",
    "catalog_fingerprint",
    "read_interactions",
    "top_n",
]
