"""Retrievers by name, for the command line, the configuration and batch requests: ``bm25``,
``semantic+cooccurrence``, ``semantic:wordllama``...

Every retriever is one :class:`RetrieverKind` in :data:`REGISTRY`: its name, the class that implements it (a
``module:Class`` path, imported on first use) and what it needs. Adding a retriever is one module plus one
:func:`register` call (or one entry below). The names:

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

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promptrec.errors import DataError

if TYPE_CHECKING:
    from promptrec.data import Catalog
    from promptrec.retrieval.base import IndexCache, Interactions, Retriever


@dataclass(frozen=True)
class RetrieverKind:
    """One retriever name: ``target`` (``module:Class``) is built as ``Class(catalog, [interactions,]
    [embedder=...,] cache=...)``; a kind that ``wraps`` another is that kind's retriever with the LLM's
    interest profile as its query (built by the caller's ``profile_writer``)."""

    name: str
    target: str = ""
    needs_interactions: bool = False
    takes_embedder: bool = False
    wraps: str | None = None

    @property
    def needs_model(self) -> bool:
        """Whether building it needs an LLM (it writes the user's interest profile)."""
        return self.wraps is not None

    def build(self, catalog: Catalog, *, interactions: Interactions | None, cache: IndexCache | None | bool,
              embedder: str | None) -> Retriever:
        """This kind's retriever over ``catalog`` (a wrapping kind: the retriever it wraps)."""
        if self.wraps is not None:
            return REGISTRY[self.wraps].build(catalog, interactions=interactions, cache=cache, embedder=embedder)
        module, _, attribute = self.target.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
        args: list[Any] = [catalog, interactions] if self.needs_interactions else [catalog]
        kwargs: dict[str, Any] = {"embedder": embedder} if self.takes_embedder else {}
        return cls(*args, cache=cache, **kwargs)  # type: ignore[no-any-return]


#: every retriever by name (``auto`` is resolved by :func:`resolve_name` before the look-up)
REGISTRY: dict[str, RetrieverKind] = {}


def register(kind: RetrieverKind) -> RetrieverKind:
    """Add ``kind`` to :data:`REGISTRY` (a name already there is an error)."""
    if kind.name in REGISTRY or kind.name == "auto":
        raise ValueError(f"retriever '{kind.name}' is already registered")
    if kind.wraps is None and ":" not in kind.target:
        raise ValueError(f"retriever '{kind.name}': target must be 'module:Class', not {kind.target!r}")
    REGISTRY[kind.name] = kind
    return kind


for _kind in (
    RetrieverKind("popularity", "promptrec.retrieval.popularity:PopularityRetriever", needs_interactions=True),
    RetrieverKind("cooccurrence", "promptrec.retrieval.cooccurrence:CooccurrenceRetriever", needs_interactions=True),
    RetrieverKind("bm25", "promptrec.retrieval.bm25:BM25Retriever"),
    RetrieverKind("semantic", "promptrec.retrieval.semantic:SemanticRetriever", takes_embedder=True),
    RetrieverKind("profile", takes_embedder=True, wraps="semantic"),
    RetrieverKind("profile-bm25", wraps="bm25"),
):
    register(_kind)


def names() -> tuple[str, ...]:
    """Every name a spec's part may use: ``auto`` and the registered kinds."""
    return ("auto", *REGISTRY)


def __getattr__(name: str) -> Any:
    # RETRIEVERS and NEEDS_INTERACTIONS follow the registry (also after a later register())
    if name == "RETRIEVERS":
        return names()
    if name == "NEEDS_INTERACTIONS":
        return frozenset(kind.name for kind in REGISTRY.values() if kind.needs_interactions)
    raise AttributeError(name)


def resolve_name(spec: str, has_interactions: bool) -> str:
    """``auto`` made concrete: ``cooccurrence`` with interactions, else ``semantic``."""
    spec = spec.strip().lower()
    return ("cooccurrence" if has_interactions else "semantic") if spec == "auto" else spec


def parse_spec(spec: str, *, has_interactions: bool = True) -> list[tuple[RetrieverKind, str | None]]:
    """Each part of ``spec`` (``A+B``, ``semantic:wordllama``) as its kind and the embedder it names.

    Unknown names, an embedder on a kind that takes none and an empty spec raise
    :class:`~promptrec.errors.DataError` (field ``retriever``); what a kind needs is checked by
    :func:`make_retriever`.
    """
    parts = [resolve_name(part, has_interactions) for part in spec.split("+") if part.strip()]
    if not parts:
        raise DataError("no retriever named", field="retriever")
    parsed = []
    for part in parts:
        name, _, named = part.partition(":")
        kind = REGISTRY.get(name)
        if kind is None:
            raise DataError(f"unknown retriever '{name}'; choose from: {', '.join(names())} (or A+B)",
                            field="retriever")
        if named and not kind.takes_embedder:
            takers = " and ".join(k.name for k in REGISTRY.values() if k.takes_embedder)
            raise DataError(f"only {takers} take an embedder (':{named}'), not {name}", field="retriever")
        parsed.append((kind, named or None))
    return parsed


def kinds_of(spec: str, *, has_interactions: bool = False) -> Iterator[RetrieverKind]:
    """The kinds a spec names (``auto`` resolved by :func:`resolve_name`); unknown parts are skipped."""
    for part in spec.split("+"):
        name = resolve_name(part, has_interactions).partition(":")[0]
        if name in REGISTRY:
            yield REGISTRY[name]


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
    from promptrec.retrieval.ensemble import EnsembleRetriever

    built: list[Retriever] = []
    for kind, named in parse_spec(spec, has_interactions=interactions is not None):
        if kind.needs_interactions and interactions is None:
            raise DataError(f"the {kind.name} retriever needs interactions (--interactions FILE: user_id,item_id rows "
                            "or a histories .jsonl)", field="retriever")
        if kind.needs_model and profile_writer is None:
            raise DataError(f"the {kind.name} retriever needs a model to write the profile", field="retriever")
        retriever = kind.build(catalog, interactions=interactions, cache=index_cache, embedder=named or embedder)
        built.append(profile_writer(retriever) if kind.needs_model else retriever)  # type: ignore[misc]
    return built[0] if len(built) == 1 else EnsembleRetriever(built)
