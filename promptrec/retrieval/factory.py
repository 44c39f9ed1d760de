"""Retrievers by name, for the command line and batch requests: ``bm25``, ``semantic+cooccurrence``...

=================  ============================================================================
``auto``           ``cooccurrence`` when interactions are given, else ``semantic`` (text only)
``popularity``     needs interactions
``cooccurrence``   item-kNN, cosine; needs interactions
``bm25``           BM25 over item text
``semantic``       sentence embeddings of item text (all-MiniLM-L6-v2 by default; ``semantic:wordllama``,
                   ``semantic:minilm`` name the embedder)
``profile``        the LLM's interest profile as the query of ``semantic`` (``profile-bm25``: of BM25)
``A+B[+C]``        an ensemble: the union of the members' pools, fused by reciprocal rank
=================  ============================================================================
"""

from __future__ import annotations

from collections.abc import Callable

from promptrec.data import Catalog
from promptrec.errors import DataError
from promptrec.retrieval.base import IndexCache, Interactions, Retriever

#: The retriever names :func:`make_retriever` knows (``A+B`` combines them).
RETRIEVERS: tuple[str, ...] = ("auto", "popularity", "cooccurrence", "bm25", "semantic", "profile", "profile-bm25")
NEEDS_INTERACTIONS = frozenset({"popularity", "cooccurrence"})


def resolve_name(spec: str, has_interactions: bool) -> str:
    """``auto`` made concrete: ``cooccurrence`` with interactions, else ``semantic``."""
    spec = spec.strip().lower()
    return ("cooccurrence" if has_interactions else "semantic") if spec == "auto" else spec


def make_retriever(
    spec: str,
    catalog: Catalog,
    *,
    interactions: Interactions | None = None,
    profile_writer: Callable[[Retriever], Retriever] | None = None,
    index_cache: IndexCache | None | bool = None,
    embedder: str | None = None,
) -> Retriever:
    """The retriever named ``spec`` over ``catalog`` (see the module docstring for the names).

    ``profile_writer`` wraps a text retriever into a :class:`~promptrec.retrieval.profile.ProfileRetriever`
    (it holds the model and the scenario); ``profile`` needs it. ``embedder`` is the semantic retrievers'
    embedder when the spec does not name one (``None``: :func:`~promptrec.retrieval.embedders.default_embedder`).
    Unknown names and missing interactions raise :class:`~promptrec.errors.DataError`.
    """
    from promptrec.retrieval.bm25 import BM25Retriever
    from promptrec.retrieval.cooccurrence import CooccurrenceRetriever
    from promptrec.retrieval.ensemble import EnsembleRetriever
    from promptrec.retrieval.popularity import PopularityRetriever
    from promptrec.retrieval.semantic import SemanticRetriever

    parts = [resolve_name(part, interactions is not None) for part in spec.split("+") if part.strip()]
    if not parts:
        raise DataError("no retriever named", field="retriever")
    built: list[Retriever] = []
    for part in parts:
        name, _, named = part.partition(":")
        if named and name not in ("semantic", "profile"):
            raise DataError(f"only semantic and profile take an embedder (':{named}'), not {name}", field="retriever")
        chosen = named or embedder
        if name not in RETRIEVERS:
            raise DataError(f"unknown retriever '{name}'; choose from: {', '.join(RETRIEVERS)} (or A+B)",
                            field="retriever")
        if name in NEEDS_INTERACTIONS and interactions is None:
            raise DataError(f"the {name} retriever needs interactions (--interactions FILE: user_id,item_id rows "
                            "or a histories .jsonl)", field="retriever")
        if name == "popularity":
            built.append(PopularityRetriever(catalog, interactions, cache=index_cache))  # type: ignore[arg-type]
        elif name == "cooccurrence":
            built.append(CooccurrenceRetriever(catalog, interactions, cache=index_cache))  # type: ignore[arg-type]
        elif name == "bm25":
            built.append(BM25Retriever(catalog, cache=index_cache))
        elif name == "semantic":
            built.append(SemanticRetriever(catalog, embedder=chosen, cache=index_cache))
        else:
            if profile_writer is None:
                raise DataError("the profile retriever needs a model to write the profile", field="retriever")
            base = BM25Retriever(catalog, cache=index_cache) if name == "profile-bm25" else SemanticRetriever(
                catalog, embedder=chosen, cache=index_cache)
            built.append(profile_writer(base))
    return built[0] if len(built) == 1 else EnsembleRetriever(built)
