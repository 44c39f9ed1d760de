"""The BM25 retriever against a brute-force Lucene BM25; catalogs without indexable text."""

from __future__ import annotations

import logging
import math
from collections import Counter

import pytest
from retrieval_helpers import N, assert_true_top, sample_histories

from promptrec.data import Catalog, Item
from promptrec.errors import DataError
from promptrec.retrieval import BM25Retriever, item_text
from promptrec.retrieval.bm25 import tokenize


def test_bm25_equals_brute_force_lucene_bm25(sliced, index_cache):
    catalog, sequences = sliced
    retriever = BM25Retriever(catalog, cache=index_cache)
    docs = [tokenize(item_text(item)) for item in catalog.values()]
    k1, b = 1.5, 0.75
    avgdl = sum(len(d) for d in docs) / len(docs)
    df = Counter(t for d in docs for t in set(d))
    for history in sample_histories(sequences):
        query = Counter(t for i in history for t in tokenize(item_text(catalog[i])))
        brute = {}
        for item_id, doc in zip(catalog, docs):
            tf = Counter(doc)
            brute[item_id] = sum(
                count * math.log(1 + (len(docs) - df[t] + 0.5) / (df[t] + 0.5))
                * tf[t] / (tf[t] + k1 * (1 - b + b * len(doc) / avgdl))
                for t, count in query.items() if t in tf
            )
        retrieved = retriever.retrieve([catalog[i] for i in history], N)
        assert_true_top(retrieved, brute, catalog, set(history), N)
        assert retrieved.scores[0] > 0


def test_items_without_text_warn_and_a_catalog_without_any_is_an_error(caplog):
    some = Catalog([Item(id="a", title="Alien"), Item(id="b", title="The"), Item(id="c", title="?")])
    with caplog.at_level(logging.WARNING):
        BM25Retriever(some, cache=False).build()
    assert "2 of 3 catalog items have no indexable text" in caplog.text
    none = Catalog([Item(id="b", title="The"), Item(id="c", title="? !")])
    with pytest.raises(DataError, match="no item of the catalog has any indexable text"):
        BM25Retriever(none, cache=False).build()
