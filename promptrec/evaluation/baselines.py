"""Rankers for the harness: the tiny interface every method shares, and the non-LLM baselines.

The baselines are random, BM25 (promptrec's one BM25 index) and the shipped retrievers read at the
candidates (:class:`RetrieverBaseline`): popularity and co-occurrence over the split's training
interactions (:func:`interaction_baselines`), semantic over the item text. No stage is re-implemented here.

A method scores a :class:`~promptrec.evaluation.cases.Query` (never the held-out item) and returns a score
for every candidate, higher is better. :func:`ranked_ids` turns scores into an order and breaks ties by
the candidates' position in the query, which the protocol shuffled with a seed: ties are thus broken
deterministically and independently of which candidate is the truth.
"""

from __future__ import annotations

import logging
import random
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptrec.data import Catalog, Item, UserHistory
from promptrec.evaluation.cases import Query
from promptrec.retrieval.base import Interactions as TrainingInteractions
from promptrec.retrieval.base import item_text  # the text the retrieval stage indexes, one definition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scored:
    """A method's answer for one query: ``scores`` (candidate id -> score) and per-case diagnostics."""

    scores: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)


class Method(Protocol):
    """Anything that scores the candidates of a query."""

    name: str

    def score(self, query: Query) -> Scored:
        """A score for every candidate of ``query``; higher is better."""
        ...


def ranked_ids(query: Query, scores: Mapping[str, float]) -> list[str]:
    """Candidate ids best first: by score (missing = -inf), ties by position in ``query.candidates``."""
    positions = {item.id: index for index, item in enumerate(query.candidates)}
    return sorted(positions, key=lambda item_id: (-scores.get(item_id, float("-inf")), positions[item_id]))


class RandomBaseline:
    """Uniform random scores, seeded per case (the expected NDCG is the analytic random reference)."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def score(self, query: Query) -> Scored:
        rng = random.Random(f"{self.seed}|random|{query.case_id}")
        return Scored({item.id: rng.random() for item in query.candidates})


#: the 20-candidate rows that a shipped retriever scores from the split's training interactions: row -> the
#: retriever's name in :data:`promptrec.retrieval.factory.REGISTRY`
INTERACTION_ROWS: dict[str, str] = {"popularity": "popularity", "co-occurrence": "cooccurrence"}


def interaction_baselines(catalog: Catalog, train: Iterable[Sequence[str]]) -> list[RetrieverBaseline]:
    """The popularity and co-occurrence rows (:data:`INTERACTION_ROWS`): the shipped retrievers, built by
    :func:`~promptrec.retrieval.factory.make_retriever` over ``catalog`` from ``train`` (one id sequence per
    training user, e.g. ``dataset.split(split).train``, which never holds the split's held-out items), read
    at the candidates by :class:`RetrieverBaseline`.

    ``catalog`` must hold every item a history may name (for cross-domain data, both domains': see
    :func:`~promptrec.evaluation.pipelines.pipeline_catalog`), so that co-occurrence links a history item to
    the candidates; the retrievers score what ``promptrec rank`` scores (co-occurrence: cosine item-kNN)."""
    from promptrec.retrieval.factory import make_retriever

    interactions = TrainingInteractions.from_sequences(catalog, list(train))
    return [RetrieverBaseline(row, make_retriever(name, catalog, interactions=interactions, index_cache=False))
            for row, name in INTERACTION_ROWS.items()]


class BM25Baseline:
    """BM25 between the history's text (the query: every history item's text) and each candidate's text.

    promptrec's one BM25 (:class:`~promptrec.retrieval.bm25_index.BM25Index`: bm25s' tokens, English stop words
    removed, and Lucene weights), over the whole target catalog, so that term weights (IDF) come from the
    catalog, not from the 20 candidates.
    """

    name = "bm25"

    def __init__(self, catalog: Sequence[Item]) -> None:
        from promptrec.retrieval.bm25_index import BM25Index

        self._row = {item.id: row for row, item in enumerate(catalog)}
        self._index = BM25Index.from_texts(item_text(item) for item in catalog)

    def text_scores(self, text: str, ids: Sequence[str]) -> dict[str, float]:
        """BM25 scores of the catalog items ``ids`` for the query ``text`` (0 for unknown ids)."""
        all_scores = self._index.text_scores(text)
        return {item_id: float(all_scores[self._row[item_id]]) if item_id in self._row else 0.0 for item_id in ids}

    def score(self, query: Query) -> Scored:
        text = " ".join(item_text(item) for item in query.history)
        return Scored(self.text_scores(text, [item.id for item in query.candidates]))


class RetrieverBaseline:
    """A retriever of :mod:`promptrec.retrieval` as a 20-candidate baseline: its whole-catalog scores for the
    query's history, read at the candidates (``semantic``: embeddings of the item text; ``popularity`` and
    ``co-occurrence``: :func:`interaction_baselines`). A candidate outside its catalog scores ``missing``."""

    def __init__(self, name: str, retriever: Any, *, missing: float = float("-inf")) -> None:
        self.name = name
        self.retriever = retriever
        self.missing = missing
        self._where = {item_id: i for i, item_id in enumerate(retriever.catalog)}

    def score(self, query: Query) -> Scored:
        scores = self.retriever.scores(UserHistory.from_items(query.history, user_id=query.user_id))
        return Scored({item.id: float(scores[self._where[item.id]]) if item.id in self._where else self.missing
                       for item in query.candidates})


# ------------------------------------------------------------------------- deprecated (issue 23), kept working


class _TrainingSequences:
    """Deprecated ``Interactions(sequences)``: one id sequence per training user, as the shipped retrievers'
    :class:`~promptrec.retrieval.base.Interactions` over a catalog of the ids they name."""

    def __init__(self, sequences: Iterable[Sequence[str]]) -> None:
        seqs = [tuple(str(i) for i in sequence) for sequence in sequences]
        self.catalog = Catalog(Item(id=i, title=i) for i in dict.fromkeys(i for seq in seqs for i in seq))
        self.interactions = TrainingInteractions.from_sequences(self.catalog, seqs)

    @property
    def popularity(self) -> Counter[str]:
        """Distinct training users per item (the popularity retriever's scores)."""
        from promptrec.retrieval.popularity import PopularityRetriever

        if not len(self.catalog):
            return Counter()
        counts = PopularityRetriever(self.catalog, self.interactions, cache=False).scores(UserHistory())
        return Counter({item_id: int(n) for item_id, n in zip(self.catalog, counts)})


def _popularity_baseline(interactions: _TrainingSequences) -> RetrieverBaseline:
    """Deprecated: the popularity retriever over ``interactions`` (an unseen candidate scores 0)."""
    from promptrec.retrieval.popularity import PopularityRetriever

    return RetrieverBaseline("popularity", PopularityRetriever(interactions.catalog, interactions.interactions,
                                                               cache=False), missing=0.0)


def _cooccurrence_baseline(interactions: _TrainingSequences) -> RetrieverBaseline:
    """Deprecated: the co-occurrence retriever with the counts this baseline always gave (``count``)."""
    from promptrec.retrieval.cooccurrence import CooccurrenceRetriever

    return RetrieverBaseline("co-occurrence", CooccurrenceRetriever(
        interactions.catalog, interactions.interactions, similarity="count", cache=False), missing=0.0)


_DEPRECATED: dict[str, tuple[Any, str]] = {
    "Interactions": (_TrainingSequences, "promptrec.retrieval.base.Interactions.from_sequences(catalog, sequences)"),
    "PopularityBaseline": (_popularity_baseline, "interaction_baselines(catalog, train)"),
    "CooccurrenceBaseline": (_cooccurrence_baseline, "interaction_baselines(catalog, train)"),
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        value, instead = _DEPRECATED[name]
        warnings.warn(f"promptrec.evaluation.baselines.{name} is deprecated; use {instead} (the shipped retrievers)",
                      DeprecationWarning, stacklevel=2)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
