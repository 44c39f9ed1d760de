"""The popularity retriever against a brute-force count of distinct users."""

from __future__ import annotations

from retrieval_helpers import N, assert_true_top, sample_histories, users_of

from promptrec.retrieval import Interactions, PopularityRetriever


def test_popularity_equals_brute_force_count_of_distinct_users(sliced, index_cache):
    catalog, sequences = sliced
    retriever = PopularityRetriever(catalog, Interactions.from_sequences(catalog, sequences), cache=index_cache)
    who = users_of(sequences)
    brute = {i: float(len(who.get(i, ()))) for i in catalog}
    for history in sample_histories(sequences):
        retrieved = retriever.retrieve([catalog[i] for i in history], N)
        assert_true_top(retrieved, brute, catalog, set(history), N, exact=True)
