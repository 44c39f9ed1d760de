"""The semantic retriever against a brute-force cosine of the mean history embedding (both embedders); finding a
sequel; the HNSW path against exact search; add_items against a full rebuild; the embedder in the cache key."""

from __future__ import annotations

import numpy as np
import pytest
from retrieval_helpers import N, assert_true_top, needs_data, sample_histories

from promptrec.data import Catalog, Item
from promptrec.retrieval import BM25Retriever, IndexCache, SemanticRetriever
from promptrec.retrieval.semantic import embed


@pytest.mark.parametrize("embedder", ["minilm", "wordllama"])
def test_semantic_equals_brute_force_cosine_of_mean_history_embedding(sliced, index_cache, embedder):
    catalog, sequences = sliced
    if embedder == "minilm":  # a fifth of wordllama's speed: 150 of the slice's items
        catalog = Catalog(list(catalog.values())[:150])
        sequences = {u: [i for i in s if i in catalog] for u, s in sequences.items()}
        sequences = {u: s for u, s in sequences.items() if len(s) >= 2}
    retriever = SemanticRetriever(catalog, embedder=embedder, cache=index_cache)
    model = retriever.embedder
    ids = list(catalog)
    vectors = embed([model.text(catalog[i]) for i in ids], embedder)  # embedded again, not read from the index
    for history in sample_histories(sequences, count=3):
        mean = np.mean([embed([model.text(catalog[i])], embedder)[0] for i in history], axis=0)
        mean /= np.linalg.norm(mean)
        brute = {i: float(v @ mean) for i, v in zip(ids, vectors)}
        retrieved = retriever.retrieve([catalog[i] for i in history], N)
        assert_true_top(retrieved, brute, catalog, set(history), N)


def test_the_default_embedder_is_minilm_and_the_environment_changes_it(sliced, monkeypatch):
    catalog, _ = sliced
    assert SemanticRetriever(catalog, cache=False).embedder.dim == 384
    monkeypatch.setenv("PROMPTREC_EMBEDDER", "wordllama")
    assert SemanticRetriever(catalog, cache=False).embedder.dim == 256


def test_an_index_built_by_one_embedder_is_never_served_for_another(sliced, tmp_path):
    catalog, _ = sliced
    cache = IndexCache(tmp_path)
    SemanticRetriever(catalog, embedder="wordllama", cache=cache).build()
    other = SemanticRetriever(catalog, embedder="minilm", cache=cache).build()
    assert not other.index_loaded_from_cache
    again = SemanticRetriever(catalog, embedder="wordllama", cache=cache).build()
    assert again.index_loaded_from_cache and again._vectors.shape[1] == 256


@needs_data
def test_semantic_and_bm25_find_the_sequel_on_the_whole_catalog(movielens, index_cache):
    catalog = Catalog(movielens.items.values())
    alien = catalog.find_title("Alien (1979)")
    for retriever in (BM25Retriever(catalog, cache=index_cache),
                      SemanticRetriever(catalog, embedder="wordllama", cache=index_cache)):
        titles = [item.title for item in retriever.retrieve([alien], 20).items]
        assert "Alien³ (a.k.a. Alien 3) (1992)" in titles, (retriever.name, titles)


def test_minilm_puts_the_sci_fi_films_first_for_a_sci_fi_history():
    from pathlib import Path

    import promptrec.demo
    from promptrec.data import read_catalog

    catalog = read_catalog(Path(promptrec.demo.__file__).parent / "movies.jsonl")
    history = [catalog["m01"], catalog["m03"], catalog["m04"]]  # The Matrix, Alien, Blade Runner
    top = SemanticRetriever(catalog, embedder="minilm", cache=False).retrieve(history, 5).items
    assert all("Sci-Fi" in item.attributes["genres"] for item in top), [i.title for i in top]


def test_the_hnsw_path_finds_what_exact_search_finds_and_scores_exactly(sliced, index_cache):
    catalog, sequences = sliced
    exact = SemanticRetriever(catalog, embedder="wordllama", ann="exact", cache=index_cache)
    graph = SemanticRetriever(catalog, embedder="wordllama", ann="hnsw", cache=index_cache)
    assert graph.uses_ann and not exact.uses_ann
    overlap = []
    for history in sample_histories(sequences, count=5):
        user = [catalog[i] for i in history]
        a, b = exact.retrieve(user, N), graph.retrieve(user, N)
        assert not set(b.ids()) & set(history) and len(b) == N
        assert b.info == {"search": "hnsw"} and b.scores == sorted(b.scores, reverse=True)
        truth = exact.scores(user)
        positions = {item_id: index for index, item_id in enumerate(catalog)}
        assert b.scores == pytest.approx([float(truth[positions[i]]) for i in b.ids()], abs=1e-5)
        overlap.append(len(set(a.ids()) & set(b.ids())) / N)
    assert np.mean(overlap) >= 0.95, overlap
    # the graph is cached with the vectors, and loads back
    again = SemanticRetriever(catalog, embedder="wordllama", ann="hnsw", cache=index_cache).build()
    assert again.index_loaded_from_cache and again.uses_ann


@pytest.mark.parametrize("ann", ["exact", "hnsw"])
def test_add_items_embeds_only_the_new_and_changed_items_and_equals_a_rebuild(sliced, ann):
    catalog, sequences = sliced
    items = list(catalog.values())[:160]
    start = Catalog(items[:120])
    retriever = SemanticRetriever(start, embedder="minilm", ann=ann, cache=False)
    retriever.build()
    changed = [Item(id=items[5].id, title="Blade Runner", attributes={"genres": ["Sci-Fi"]})]
    retriever.add_items(items[120:] + changed)
    final = [changed[0] if item.id == changed[0].id else item for item in items]
    assert list(retriever.catalog) == [item.id for item in final]
    assert retriever.catalog[items[5].id].title == "Blade Runner"
    rebuilt = SemanticRetriever(Catalog(final), embedder="minilm", ann=ann, cache=False).build()
    np.testing.assert_allclose(retriever._vectors, rebuilt._vectors, atol=1e-5)
    recall = []
    for history in sample_histories(sequences, count=3):
        user = [retriever.catalog[i] for i in history if i in retriever.catalog] or items[:3]
        updated, fresh = retriever.retrieve(user, N).ids(), rebuilt.retrieve(user, N).ids()
        if ann == "exact":
            assert updated == fresh  # exact search: the same as a full rebuild
        recall.append(len(set(updated) & set(fresh)) / N)
    assert np.mean(recall) >= 0.95, recall  # an updated graph finds what a rebuilt one finds (the bar)


def test_the_query_interface_is_unchanged(sliced):
    catalog, _ = sliced
    retriever = SemanticRetriever(catalog, cache=False)
    vector = retriever.text_vector("a space adventure")
    assert vector.shape == (384,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(retriever.text_scores("a space adventure"), retriever.vector_scores(vector))
    assert not retriever.text_vector("   ").any()
    assert retriever.scores([]).shape == (len(catalog),)


def test_bad_arguments_are_clear_errors(sliced):
    catalog, _ = sliced
    with pytest.raises(ValueError, match="dim must be 384"):
        SemanticRetriever(catalog, embedder="minilm", dim=128)
    with pytest.raises(ValueError, match="ann must be"):
        SemanticRetriever(catalog, ann="faiss")  # type: ignore[arg-type]
