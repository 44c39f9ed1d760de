"""Retrievers on real MovieLens data, each checked against a brute-force computation on a slice; the index
cache's isolation between catalogs; bad input."""

from __future__ import annotations

import json
import logging
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import DATASETS  # noqa: E402

from promptrec.data import Catalog, Item, UserHistory  # noqa: E402
from promptrec.errors import DataError, PromptrecError  # noqa: E402
from promptrec.retrieval import (  # noqa: E402
    BM25Retriever,
    CooccurrenceRetriever,
    EmptyPoolError,
    EnsembleRetriever,
    IndexCache,
    Interactions,
    PopularityRetriever,
    SemanticRetriever,
    catalog_fingerprint,
    item_text,
    read_interactions,
    top_n,
)
from promptrec.retrieval.bm25 import tokenize  # noqa: E402
from promptrec.retrieval.semantic import embed  # noqa: E402

MOVIELENS = DATASETS / "movielens-latest-small"
needs_data = pytest.mark.skipif(not MOVIELENS.is_dir(), reason=f"datasets not found at {MOVIELENS}")

SLICE = 400  # catalog items in the brute-force slice
N = 15


@pytest.fixture(scope="module")
def movielens():
    if not MOVIELENS.is_dir():
        pytest.skip(f"datasets not found at {MOVIELENS}")
    from promptrec.evaluation.datasets import load_movielens

    return load_movielens(MOVIELENS)


@pytest.fixture(scope="module")
def sliced(movielens):
    """The first SLICE movies of the catalog and every user's training ratings of them."""
    items = list(movielens.items.values())[:SLICE]
    catalog = Catalog(items)
    sequences = {
        record.user_id: [i for i in record.history if i in catalog] for record in movielens.test.records
    }
    sequences = {user: seq for user, seq in sequences.items() if seq}
    return catalog, sequences


@pytest.fixture(scope="module")
def index_cache(tmp_path_factory):
    return IndexCache(tmp_path_factory.mktemp("index"))


def brute_top(scores: dict[str, float], catalog: Catalog, exclude: set[str], n: int) -> list[tuple[str, float]]:
    position = {item_id: i for i, item_id in enumerate(catalog)}
    ranked = sorted((i for i in catalog if i not in exclude), key=lambda i: (-scores[i], position[i]))
    return [(i, scores[i]) for i in ranked[:n]]


def assert_true_top(retrieved, brute: dict[str, float], catalog: Catalog, exclude: set[str], n: int, *, exact=False):
    """The retrieved pool is a top n of the brute-force scores (same scores, same order up to float ties)."""
    expected = brute_top(brute, catalog, exclude, n)
    assert len(retrieved) == n
    assert not set(retrieved.ids()) & exclude
    assert retrieved.scores == pytest.approx([s for _, s in expected], rel=1e-4, abs=1e-5)
    for item_id, score in zip(retrieved.ids(), retrieved.scores):
        assert brute[item_id] == pytest.approx(score, rel=1e-4, abs=1e-5)
    if exact:
        assert retrieved.ids() == [i for i, _ in expected]


def users_of(sequences) -> dict[str, set[str]]:
    who: dict[str, set[str]] = {}
    for user, sequence in sequences.items():
        for item_id in sequence:
            who.setdefault(item_id, set()).add(user)
    return who


def sample_histories(sequences, count=5):
    users = sorted(sequences, key=lambda u: (-len(sequences[u]), u))
    return [sequences[u][-8:] for u in users[:: max(1, len(users) // count)][:count]]


@needs_data
def test_popularity_equals_brute_force_count_of_distinct_users(sliced, index_cache):
    catalog, sequences = sliced
    retriever = PopularityRetriever(catalog, Interactions.from_sequences(catalog, sequences), cache=index_cache)
    who = users_of(sequences)
    brute = {i: float(len(who.get(i, ()))) for i in catalog}
    for history in sample_histories(sequences):
        retrieved = retriever.retrieve([catalog[i] for i in history], N)
        assert_true_top(retrieved, brute, catalog, set(history), N, exact=True)


@needs_data
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


@needs_data
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


@needs_data
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


@needs_data
def test_read_interactions_reads_movielens_ratings_as_published(movielens):
    catalog = Catalog(movielens.items.values())
    interactions = read_interactions(MOVIELENS / "ratings.csv", catalog)
    assert interactions.n_users == 610 and interactions.skipped == 0
    assert len(interactions) == 100836  # ml-latest-small has one rating per (user, movie)


@needs_data
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


# --------------------------------------------------------------------------------------------- the cache


def _catalog(titles: list[str]) -> Catalog:
    return Catalog(Item(id=f"i{n}", title=t, attributes={"genres": ["Drama"]}) for n, t in enumerate(titles))


def test_an_index_cached_for_one_catalog_is_never_served_for_another(tmp_path):
    cache = IndexCache(tmp_path)
    first = _catalog(["Alien", "Aliens", "Heat", "Up"])
    second = _catalog(["Alien", "Aliens", "Heat", "Down"])  # one title differs
    reordered = Catalog(reversed(list(first.values())))  # same items, another order: other positions
    assert len({catalog_fingerprint(c) for c in (first, second, reordered)}) == 3
    built = BM25Retriever(first, cache=cache).build()
    assert not built.index_loaded_from_cache
    other = BM25Retriever(second, cache=cache).build()
    assert not other.index_loaded_from_cache
    assert other.retrieve([Item(id="q", title="Down")], 1).ids() == ["i3"]  # its own index: "down" is known
    assert BM25Retriever(first, cache=cache).retrieve([Item(id="q", title="Down")], 4).scores == [0.0] * 4
    assert not BM25Retriever(reordered, cache=cache).build().index_loaded_from_cache
    again = BM25Retriever(_catalog(["Alien", "Aliens", "Heat", "Up"]), cache=cache).build()  # equal content
    assert again.index_loaded_from_cache


def test_interactions_are_part_of_the_key_and_a_tampered_entry_is_a_miss(tmp_path):
    cache = IndexCache(tmp_path)
    catalog = _catalog(["A film", "B film", "C film"])
    one = Interactions.from_sequences(catalog, {"u": ["i0", "i1"]})
    two = Interactions.from_sequences(catalog, {"u": ["i0", "i2"]})
    assert not CooccurrenceRetriever(catalog, one, cache=cache).build().index_loaded_from_cache
    retriever = CooccurrenceRetriever(catalog, two, cache=cache)
    assert not retriever.build().index_loaded_from_cache
    assert retriever.retrieve([catalog["i0"]], 1).ids() == ["i2"]
    assert CooccurrenceRetriever(catalog, one, cache=cache).build().index_loaded_from_cache
    for meta in tmp_path.glob("cooccurrence/*/meta.json"):  # claim every entry is for another catalog
        data = json.loads(meta.read_text())
        data["description"]["catalog"] = "0" * 64
        meta.write_text(json.dumps(data))
    fresh = CooccurrenceRetriever(catalog, one, cache=cache).build()
    assert not fresh.index_loaded_from_cache
    assert fresh.retrieve([catalog["i0"]], 1).ids() == ["i1"]


def test_cache_folder_never_unpickles(tmp_path):
    cache = IndexCache(tmp_path)
    catalog = _catalog(["Alien", "Heat"])
    BM25Retriever(catalog, cache=cache).build()
    (entry,) = tmp_path.glob("bm25/*/data.npy")
    np.save(entry, np.array([object()], dtype=object), allow_pickle=True)  # a pickle planted in the cache
    retriever = BM25Retriever(catalog, cache=cache).build()
    assert not retriever.index_loaded_from_cache
    assert retriever.retrieve([Item(id="q", title="Alien")], 1).ids() == ["i0"]


# ------------------------------------------------------------------------------------------------ bad input


def test_interactions_naming_unknown_items_are_counted_and_skipped(tmp_path, caplog):
    catalog = _catalog(["A film", "B film"])
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu1,i0\nu1,gone\nu2,i1\nu2,gone2\n")
    with caplog.at_level(logging.WARNING):
        interactions = read_interactions(path, catalog)
    assert interactions.skipped == 2 and len(interactions) == 2
    assert "skipped 2 interaction(s)" in caplog.text and f"{path}:3" in caplog.text
    path.write_text("user_id,item_id\nu1,x\nu2,y\n")
    with pytest.raises(DataError, match="none of the 2 interactions"):
        read_interactions(path, catalog)
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text('{"user_id": "u1", "history": ["i0", {"id": "i1", "title": "B film"}, "zz"]}\n')
    assert len(read_interactions(jsonl, catalog)) == 2
    jsonl.write_text('{"user_id": "u1", "history": [true]}\n')
    with pytest.raises(DataError, match=r"log.jsonl:1 field 'history\[0\]'"):
        read_interactions(jsonl, catalog)


def test_pool_larger_than_the_catalog_is_clamped_with_a_warning(caplog):
    catalog = _catalog(["Alien", "Aliens", "Heat"])
    with caplog.at_level(logging.WARNING):
        retrieved = BM25Retriever(catalog, cache=False).retrieve([catalog["i0"]], 50)
    assert retrieved.ids() == ["i1", "i2"] and retrieved.requested == 50
    assert "pool of 50 is larger than the 2 catalog items left" in caplog.text


def test_a_history_that_covers_the_catalog_is_a_clear_error():
    catalog = _catalog(["Alien", "Aliens"])
    retriever = SemanticRetriever(catalog, cache=False)
    with pytest.raises(EmptyPoolError, match="nothing left to recommend: all 2 items") as caught:
        retriever.retrieve(UserHistory.from_items(catalog.values()))
    assert isinstance(caught.value, PromptrecError)
    with pytest.raises(EmptyPoolError):
        retriever.retrieve([catalog["i0"]], exclude=["i1"])


def test_items_without_text_warn_and_a_catalog_without_any_is_an_error(caplog):
    some = Catalog([Item(id="a", title="Alien"), Item(id="b", title="The"), Item(id="c", title="?")])
    with caplog.at_level(logging.WARNING):
        BM25Retriever(some, cache=False).build()
    assert "2 of 3 catalog items have no indexable text" in caplog.text
    none = Catalog([Item(id="b", title="The"), Item(id="c", title="? !")])
    with pytest.raises(DataError, match="no item of the catalog has any indexable text"):
        BM25Retriever(none, cache=False).build()


def test_top_n_breaks_ties_by_position_and_never_picks_removed():
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0, 0.0])
    assert top_n(scores, 2).tolist() == [1, 2]
    removed = np.array([False, True, False, False, False, False])
    assert top_n(scores, 4, removed).tolist() == [2, 4, 3, 0]
    assert top_n(scores, 10, removed).tolist() == [2, 4, 3, 0, 5]
    rng = np.random.default_rng(0)
    for _ in range(20):
        values = rng.integers(0, 5, size=200).astype(np.float32)
        expected = sorted(range(200), key=lambda i: (-values[i], i))[:17]
        assert top_n(values, 17).tolist() == expected
