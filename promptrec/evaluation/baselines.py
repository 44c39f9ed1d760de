"""Rankers for the harness: the tiny interface every method shares, and the non-LLM baselines.

A method scores a :class:`~promptrec.evaluation.cases.Query` (never the held-out item) and returns a score
for every candidate, higher is better. :func:`ranked_ids` turns scores into an order and breaks ties by
the candidates' position in the query, which the protocol shuffled with a seed: ties are thus broken
deterministically and independently of which candidate is the truth.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptrec.data import Item
from promptrec.evaluation.cases import Query
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


class Interactions:
    """Training interactions indexed for popularity and co-occurrence (one id tuple per training user)."""

    def __init__(self, sequences: Iterable[Sequence[str]]) -> None:
        self.users_of: dict[str, set[int]] = {}
        for user, sequence in enumerate(sequences):
            for item_id in sequence:
                self.users_of.setdefault(item_id, set()).add(user)
        self.popularity: Counter[str] = Counter({item_id: len(users) for item_id, users in self.users_of.items()})


class PopularityBaseline:
    """Training users who interacted with the candidate (counted on the split's training data only)."""

    name = "popularity"

    def __init__(self, interactions: Interactions) -> None:
        self.interactions = interactions

    def score(self, query: Query) -> Scored:
        popularity = self.interactions.popularity
        return Scored({item.id: float(popularity.get(item.id, 0)) for item in query.candidates})


class CooccurrenceBaseline:
    """Item-to-item co-occurrence: for each candidate, the sum over history items of the number of training
    users who have both (a user's own training items count too; the held-out item never does)."""

    name = "co-occurrence"

    def __init__(self, interactions: Interactions) -> None:
        self.interactions = interactions

    def score(self, query: Query) -> Scored:
        users_of = self.interactions.users_of
        history = [users_of.get(item_id, set()) for item_id in dict.fromkeys(item.id for item in query.history)]
        scores = {}
        for item in query.candidates:
            theirs = users_of.get(item.id)
            scores[item.id] = float(sum(len(theirs & mine) for mine in history)) if theirs else 0.0
        return Scored(scores)


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
    query's history, read at the candidates (e.g. ``semantic``: wordllama embeddings of the item text)."""

    def __init__(self, name: str, retriever: Any) -> None:
        self.name = name
        self.retriever = retriever
        self._where = {item_id: i for i, item_id in enumerate(retriever.catalog)}

    def score(self, query: Query) -> Scored:
        from promptrec.data import UserHistory

        scores = self.retriever.scores(UserHistory.from_items(query.history, user_id=query.user_id))
        return Scored({item.id: float(scores[self._where[item.id]]) if item.id in self._where else float("-inf")
                       for item in query.candidates})
