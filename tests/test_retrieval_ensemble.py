"""The ensemble retriever: the union of its members' pools, fused by reciprocal rank or by weights."""

from __future__ import annotations

from retrieval_helpers import N, assert_true_top, sample_histories

from promptrec.retrieval import BM25Retriever, EnsembleRetriever, Interactions, PopularityRetriever


def test_ensemble_is_the_union_of_pools_fused_by_reciprocal_rank(sliced, index_cache):
    catalog, sequences = sliced
    interactions = Interactions.from_sequences(catalog, sequences)
    members = [PopularityRetriever(catalog, interactions, cache=index_cache), BM25Retriever(catalog, cache=index_cache)]
    ensemble = EnsembleRetriever(members, fusion="rrf")
    history = [catalog[i] for i in sample_histories(sequences)[0]]
    pools = [m.retrieve(history, N) for m in members]
    brute = dict.fromkeys(catalog, 0.0)
    for pool in pools:
        for rank, item_id in enumerate(pool.ids(), start=1):
            brute[item_id] += 1 / (60 + rank)
    retrieved = ensemble.retrieve(history, N)
    assert_true_top(retrieved, brute, catalog, {i.id for i in history}, N, exact=True)
    assert set(retrieved.ids()) <= set(pools[0].ids()) | set(pools[1].ids())
    weighted = EnsembleRetriever(members, fusion="weighted", weights=[0.0, 1.0]).retrieve(history, N)
    assert weighted.ids() == pools[1].ids()  # all the weight on BM25: BM25's order
