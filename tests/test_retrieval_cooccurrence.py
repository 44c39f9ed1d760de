"""The co-occurrence retriever against a brute-force item kNN (count and cosine)."""

from __future__ import annotations

import math

import pytest
from retrieval_helpers import N, assert_true_top, sample_histories, users_of

from promptrec.retrieval import CooccurrenceRetriever, Interactions


@pytest.mark.parametrize("similarity", ["count", "cosine"])
def test_cooccurrence_equals_brute_force_item_knn(sliced, index_cache, similarity):
    catalog, sequences = sliced
    interactions = Interactions.from_sequences(catalog, sequences)
    retriever = CooccurrenceRetriever(catalog, interactions, similarity=similarity, cache=index_cache)
    who = users_of(sequences)
    for history in sample_histories(sequences):
        mine = list(dict.fromkeys(history))
        brute = {}
        for c in catalog:
            total = 0.0
            for h in mine:
                common = len(who.get(h, set()) & who.get(c, set()))
                if similarity == "cosine":
                    total += common / math.sqrt(len(who[h]) * len(who[c])) if common else 0.0
                else:
                    total += common
            brute[c] = total
        retrieved = retriever.retrieve([catalog[i] for i in history], N)
        assert_true_top(retrieved, brute, catalog, set(history), N, exact=similarity == "count")
        assert retrieved.scores[0] > 0
