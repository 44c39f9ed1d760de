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


def test_an_ensemble_adds_items_and_interactions_to_every_member():
    from promptrec.data import Catalog, Item
    from promptrec.retrieval import BM25Retriever, EnsembleRetriever, Interactions, PopularityRetriever

    catalog = Catalog([Item(id="a", title="Alien"), Item(id="b", title="Heat"), Item(id="c", title="Up")])
    interactions = Interactions.from_sequences(catalog, {"u1": ["a", "b"], "u2": ["b"]})
    ensemble = EnsembleRetriever([BM25Retriever(catalog, cache=False),
                                  PopularityRetriever(catalog, interactions, cache=False)])
    ensemble.add_items([Item(id="d", title="Alien Nation")])
    ensemble.add_interactions("u3", ["d", "d", "a"])
    assert list(ensemble.catalog) == ["a", "b", "c", "d"]
    assert all(list(member.catalog) == ["a", "b", "c", "d"] for member in ensemble.retrievers)
    assert ensemble.retrievers[1].scores([]).tolist() == [2.0, 2.0, 0.0, 1.0]
    assert ensemble.retrieve([Item(id="x", title="Alien")], 3).ids() == ["a", "b", "d"]
