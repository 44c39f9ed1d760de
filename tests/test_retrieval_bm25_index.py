"""promptrec's one BM25 against bm25s itself (tokens and scores), its two scoring paths, its in-place update, and
the three users that share it (the retriever, the evaluation baseline, the feedback examples' order)."""

from __future__ import annotations

from collections import Counter

import bm25s
import numpy as np
import pytest
from bm25s.tokenization import Tokenizer
from retrieval_helpers import synthetic_items

from promptrec.data import Catalog, Item
from promptrec.evaluation.baselines import BM25Baseline
from promptrec.feedback import _bm25
from promptrec.retrieval import BM25Retriever, item_text
from promptrec.retrieval import bm25_index as module
from promptrec.retrieval.bm25_index import BM25Index, tokenize


def texts_of(sliced) -> list[str]:
    catalog, _ = sliced
    return [item_text(item) for item in catalog.values()]


def test_tokens_and_scores_equal_bm25s_lucene_on_real_titles(sliced):
    texts = texts_of(sliced)
    tokenizer = Tokenizer(stopwords="en")
    ids = tokenizer.tokenize(texts, show_progress=False)
    words = {number: word for word, number in tokenizer.get_vocab_dict().items()}
    for text, row in zip(texts[:50], ids[:50]):
        assert tokenize(text) == [words[number] for number in row if words[number]]
    reference = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    reference.index(ids, show_progress=False)
    index = BM25Index.from_texts(texts)
    for query in (texts[3] + " " + texts[40], "drama comedy 1995", texts[7] * 3):
        tokens = tokenizer.tokenize([query], update_vocab=False, show_progress=False)[0]
        tokens = [int(t) for t in tokens if words[int(t)]]
        expected = reference.get_scores(tokens)
        got = index.text_scores(query)
        assert got.dtype == np.float32 and got.shape == (len(texts),)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert got.max() > 0


def test_the_compiled_column_path_equals_scipys_public_product(sliced, monkeypatch):
    index = BM25Index.from_texts(texts_of(sliced))
    query = Counter(tokenize(" ".join(texts_of(sliced)[:30])))
    fast = index.scores(query)
    assert module._column_kernel() is not None  # this scipy has it; otherwise the public path is the only one
    monkeypatch.setattr(module, "_column_kernel", lambda: None)
    np.testing.assert_array_equal(index.scores(query), fast)  # same terms, same order: the same float sums


def test_an_update_equals_a_fresh_build_and_arrays_round_trip():
    items = synthetic_items(300, seed=3)
    texts = [item_text(item) for item in items]
    index = BM25Index.from_texts(texts[:250])
    changed = np.array([4, 100], dtype=np.int64)
    texts[4], texts[100] = "Silent River Western", "the"  # the second has no word left
    index.update(changed, [texts[4], texts[100]], texts[250:])
    fresh = BM25Index.from_texts(texts)
    for query in ("silent river", "dragon storm drama 1999", "the of"):
        np.testing.assert_allclose(index.text_scores(query), fresh.text_scores(query), rtol=1e-6, atol=1e-7)
    assert index.empty == fresh.empty == 1
    loaded = BM25Index.from_arrays(index.arrays())
    np.testing.assert_array_equal(loaded.text_scores("silent river"), index.text_scores("silent river"))
    assert loaded.empty == 1 and loaded.n_docs == 300


def test_unknown_words_stop_words_and_weights():
    index = BM25Index.from_texts(["Alien", "Aliens Alien", "Heat"])
    assert not index.text_scores("the of and zebra").any()
    once, twice = index.text_scores("alien"), index.text_scores("alien alien")
    np.testing.assert_allclose(twice, 2 * once)  # a query term's count multiplies its weight
    assert once[0] > once[1] > 0 == once[2]  # the shorter document first
    np.testing.assert_allclose(index.scores({"alien": 0.5, "heat": 0.0}), 0.5 * once)


def test_the_retriever_the_baseline_and_the_feedback_order_share_it():
    items = synthetic_items(200, seed=5)
    query = " ".join(item_text(item) for item in items[:6])
    index = BM25Index.from_texts(item_text(item) for item in items)
    retriever = BM25Retriever(Catalog(items), cache=False)
    np.testing.assert_array_equal(retriever.text_scores(query), index.text_scores(query))
    baseline = BM25Baseline(items).text_scores(query, [item.id for item in items])
    np.testing.assert_array_equal(np.array(list(baseline.values()), dtype=np.float32), index.text_scores(query))
    titles = ["The Notebook", "Star Wars: A New Hope", "Cars", "Notebook Returns: the Notebook"]
    candidates = ["The Notebook", "Interstellar", "Star Trek"]
    scores = _bm25(candidates, titles)
    expected = BM25Index.from_texts(titles, k1=1.2).scores({"notebook": 1, "interstellar": 1, "star": 1, "trek": 1})
    assert scores == pytest.approx(expected.tolist()) and min(scores[0], scores[1], scores[3]) > 0 == scores[2]
    assert _bm25(candidates, []) == []


def test_a_catalog_item_without_words_still_has_a_length_of_one():
    index = BM25Index.from_texts(["The", "Alien Alien"])
    assert index.doclen.tolist() == [1, 2] and index.empty == 1
    assert BM25Retriever(Catalog([Item(id="a", title="The"), Item(id="b", title="Alien")]), cache=False).text_scores(
        "alien").tolist()[0] == 0.0
