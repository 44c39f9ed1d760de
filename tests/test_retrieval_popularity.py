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


def test_retrieve_reads_one_shared_order_and_equals_the_full_sort():
    import numpy as np

    from promptrec.data import Catalog, Item
    from promptrec.retrieval import Interactions, PopularityRetriever, top_n

    rng = np.random.default_rng(0)
    catalog = Catalog(Item(id=f"i{i}", title=f"T{i}") for i in range(300))
    sequences = {f"u{u}": [f"i{i}" for i in rng.integers(0, 300, 8)] for u in range(200)}
    retriever = PopularityRetriever(catalog, Interactions.from_sequences(catalog, sequences), cache=False)
    for history in (["i1", "i2"], [f"i{i}" for i in range(0, 300, 3)], []):
        user = [catalog[i] for i in history]
        expected = top_n(retriever.scores(user), 25, retriever.history_positions(user))
        got = retriever.retrieve(user, 25, exclude=["i7"])
        full = top_n(retriever.scores(user), 26, retriever.history_positions(user)).tolist()
        assert [retriever._where[i] for i in got.ids()] == [p for p in full if p != 7][:25]
        assert len(expected) == 25
    retriever.add_interactions("new", ["i299"] * 3)
    assert retriever.retrieve([], 300 - 1)  # long pools fall back to the full sort
