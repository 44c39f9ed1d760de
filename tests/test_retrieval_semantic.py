"""The semantic retriever against a brute-force cosine of the mean history embedding; finding a sequel."""

from __future__ import annotations

import numpy as np
from retrieval_helpers import N, assert_true_top, needs_data, sample_histories

from promptrec.data import Catalog
from promptrec.retrieval import BM25Retriever, SemanticRetriever, item_text
from promptrec.retrieval.semantic import embed


def test_semantic_equals_brute_force_cosine_of_mean_history_embedding(sliced, index_cache):
    catalog, sequences = sliced
    retriever = SemanticRetriever(catalog, cache=index_cache)
    ids = list(catalog)
    for history in sample_histories(sequences, count=3):
        mean = np.mean([embed([item_text(catalog[i])])[0] for i in history], axis=0)
        mean /= np.linalg.norm(mean)
        vectors = embed([item_text(catalog[i]) for i in ids])  # embedded again, not read from the index
        brute = {i: float(v @ mean) for i, v in zip(ids, vectors)}
        retrieved = retriever.retrieve([catalog[i] for i in history], N)
        assert_true_top(retrieved, brute, catalog, set(history), N)


@needs_data
def test_semantic_and_bm25_find_the_sequel_on_the_whole_catalog(movielens, index_cache):
    catalog = Catalog(movielens.items.values())
    alien = catalog.find_title("Alien (1979)")
    for retriever in (BM25Retriever(catalog, cache=index_cache), SemanticRetriever(catalog, cache=index_cache)):
        titles = [item.title for item in retriever.retrieve([alien], 20).items]
        assert "Alien³ (a.k.a. Alien 3) (1992)" in titles, (retriever.name, titles)
