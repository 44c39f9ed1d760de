"""What every retriever shares: reading interactions, the on-disk index cache and its isolation, top_n, empty pools."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from retrieval_helpers import MOVIELENS, _catalog, needs_data

from promptrec.data import Catalog, Item, UserHistory
from promptrec.errors import DataError, PromptrecError
from promptrec.retrieval import (
    BM25Retriever,
    CooccurrenceRetriever,
    EmptyPoolError,
    IndexCache,
    Interactions,
    SemanticRetriever,
    catalog_fingerprint,
    read_interactions,
    top_n,
)


@needs_data
def test_read_interactions_reads_movielens_ratings_as_published(movielens):
    catalog = Catalog(movielens.items.values())
    interactions = read_interactions(MOVIELENS / "ratings.csv", catalog)
    assert interactions.n_users == 610 and interactions.skipped == 0
    assert len(interactions) == 100836  # ml-latest-small has one rating per (user, movie)


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



@pytest.mark.parametrize("size", [16_384, 50_001, 200_000])
def test_top_n_on_large_arrays_equals_a_full_sort_ties_removed_and_infinities_included(size):
    rng = np.random.default_rng(size)
    for case in range(6):
        values = rng.integers(0, 40 if case % 2 else 4, size=size).astype(np.float32)
        if case >= 2:
            values[rng.choice(size, size=size // 3, replace=False)] = 0.0  # BM25-like: many zeros
        removed = rng.random(size) < 0.01
        if case == 5:
            values[:] = -np.inf
            values[rng.choice(size, size=7, replace=False)] = 1.0  # fewer finite scores than asked for
        n = [1, 20, 100, 16, 20, 20][case]
        masked = np.where(removed, -np.inf, values)
        finite = np.flatnonzero(np.isfinite(masked))
        expected = finite[np.lexsort((finite, -masked[finite]))][:n]
        assert top_n(values, n, removed).tolist() == expected.tolist()
    with_nan = rng.random(size)
    with_nan[5] = np.nan
    assert len(top_n(with_nan, 20)) == 20  # a NaN takes the partition path; it must not raise

# ---------------------------------------------------------------------------------------- hardening (issue 27)

#: (name, damage to an entry's arrays): each is detected by the checksum in meta.json, and rebuilt
ARRAY_DAMAGE = [
    ("zeroed file", lambda path, array: path.write_bytes(b"\x00" * path.stat().st_size)),
    ("truncated file", lambda path, array: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])),
    ("wrong length", lambda path, array: np.save(path, array[: max(len(array) // 2, 1)], allow_pickle=False)),
    ("values zeroed, same shape", lambda path, array: np.save(path, np.zeros_like(array), allow_pickle=False)),
    ("another dtype or order", lambda path, array: np.save(
        path, array.astype(np.float64 if array.dtype != np.float64 else np.float32) if array.dtype.kind in "fiu"
        else array[::-1], allow_pickle=False)),
]


@pytest.mark.parametrize(("name", "damage"), ARRAY_DAMAGE, ids=[case[0] for case in ARRAY_DAMAGE])
def test_damaged_index_arrays_are_detected_and_rebuilt(tmp_path, caplog, name, damage):
    cache = IndexCache(tmp_path)
    catalog = _catalog(["Alien", "Aliens", "Heat", "Up", "Down"])
    query = [Item(id="q", title="Aliens Heat")]
    expected = BM25Retriever(catalog, cache=cache).retrieve(query, 5)
    for path in tmp_path.glob("bm25/*/*.npy"):
        damage(path, np.load(path, allow_pickle=False))
    with caplog.at_level(logging.WARNING):
        rebuilt = BM25Retriever(catalog, cache=cache).build()
    assert not rebuilt.index_loaded_from_cache and "rebuilding" in caplog.text
    assert rebuilt.retrieve(query, 5).ids() == expected.ids() and rebuilt.retrieve(query, 5).scores == expected.scores
    assert BM25Retriever(catalog, cache=cache).build().index_loaded_from_cache  # the rebuilt entry took its place


#: (name, the index cache folder): each is a warning, and the retriever builds in memory as usual
INDEX_FOLDER_FAULTS = [
    ("a file", lambda tmp: ((tmp / "f").write_text("x"), tmp / "f")[1]),
    ("under a file", lambda tmp: ((tmp / "f").write_text("x"), tmp / "f" / "retrieval")[1]),
    ("cannot be made", lambda tmp: "/proc/self/promptrec-index"),
]


@pytest.mark.parametrize(("name", "make"), INDEX_FOLDER_FAULTS, ids=[case[0] for case in INDEX_FOLDER_FAULTS])
def test_an_unusable_index_cache_folder_is_a_warning(tmp_path, caplog, name, make):
    catalog = _catalog(["Alien", "Aliens", "Heat"])
    with caplog.at_level(logging.WARNING):
        retriever = BM25Retriever(catalog, cache=IndexCache(make(tmp_path))).build()
    assert not retriever.index_loaded_from_cache and "index cache" in caplog.text
    assert retriever.retrieve([Item(id="q", title="Heat")], 1).ids() == ["i2"]


def test_an_entry_without_checksums_is_rebuilt(tmp_path):
    cache = IndexCache(tmp_path)
    catalog = _catalog(["Alien", "Heat"])
    BM25Retriever(catalog, cache=cache).build()
    for meta in tmp_path.glob("bm25/*/meta.json"):  # as an older promptrec wrote it
        data = json.loads(meta.read_text())
        del data["checksums"]
        meta.write_text(json.dumps(data))
    assert not BM25Retriever(catalog, cache=cache).build().index_loaded_from_cache
    assert BM25Retriever(catalog, cache=cache).build().index_loaded_from_cache


# ------------------------------------------------------------------------------------- incremental updates


def _final(items, changed):
    by_id = {item.id: item for item in changed}
    return [by_id.get(item.id, item) for item in items]


def test_adding_1000_items_to_a_100k_index_equals_a_full_rebuild():
    from retrieval_helpers import HashEmbedder, synthetic_items

    from promptrec.retrieval import PopularityRetriever

    items = synthetic_items(101_000)
    start, new = Catalog(items[:100_000]), items[100_000:]
    changed = [Item(id=items[i].id, title="Silent Storm Dragon", attributes={"genres": ["Horror"]}) for i in (3, 999)]
    rng = np.random.default_rng(1)
    sequences = {f"u{u}": [items[i].id for i in rng.integers(0, 100_000, 12)] for u in range(3000)}
    later = {"u7": [new[0].id, new[1].id, items[5].id], "u9999": [new[2].id, items[5].id, "not-an-item"]}
    embedder = HashEmbedder()

    def made(catalog, interactions):
        return [BM25Retriever(catalog, cache=False), PopularityRetriever(catalog, interactions, cache=False),
                CooccurrenceRetriever(catalog, interactions, cache=False),
                SemanticRetriever(catalog, embedder=embedder, ann="exact", cache=False)]

    updated = made(start, Interactions.from_sequences(start, sequences))
    for retriever in updated:
        retriever.build()
        retriever.add_items(new + changed)
        for user, ids in later.items():
            retriever.add_interactions(user, ids)
    final = Catalog(_final(items, changed))
    merged = dict(sequences)
    for user, ids in later.items():
        merged[user] = merged.get(user, []) + [i for i in ids if i in final]
    rebuilt = made(final, Interactions.from_sequences(final, merged))
    users = [[final[i] for i in sequences[f"u{u}"]] for u in (1, 2, 3)] + [[final[i] for i in merged["u7"]],
                                                                        [new[5], final[items[3].id]]]
    for a, b in zip(updated, rebuilt):
        assert list(a.catalog) == list(final)
        for user in users:
            np.testing.assert_allclose(a.scores(user), b.scores(user), rtol=1e-6, atol=1e-6, err_msg=a.name)
            assert a.retrieve(user, 20).ids() == b.retrieve(user, 20).ids(), a.name


def test_adding_items_to_an_hnsw_index_keeps_recall_above_095():
    from retrieval_helpers import HashEmbedder, synthetic_items

    items = synthetic_items(31_000, seed=3)
    retriever = SemanticRetriever(Catalog(items[:30_000]), embedder=HashEmbedder(), cache=False)
    assert retriever.uses_ann  # 30k items: past the threshold
    retriever.add_items(items[30_000:])
    exact = SemanticRetriever(Catalog(items), embedder=HashEmbedder(), ann="exact", cache=False)
    rng = np.random.default_rng(4)
    overlap = []
    for _ in range(10):
        user = [items[i] for i in rng.integers(0, 31_000, 5)]
        got, want = retriever.retrieve(user, 100), exact.retrieve(user, 100)
        assert got.info == {"search": "hnsw"}
        overlap.append(len(set(got.ids()) & set(want.ids())) / 100)
    assert np.mean(overlap) >= 0.95, overlap


def test_add_items_upserts_by_id_and_saves_under_the_new_catalog(tmp_path):
    catalog = _catalog(["Alien", "Heat", "Up"])
    cache = IndexCache(tmp_path)
    retriever = BM25Retriever(catalog, cache=cache)
    retriever.add_items([])  # nothing to do
    assert retriever.catalog is catalog
    retriever.add_items([Item(id="i1", title="Heat Wave"), Item(id="i9", title="Alien Nation"),
                         Item(id="i9", title="Alien Nation 2")])
    assert [(i, retriever.catalog[i].title) for i in retriever.catalog] == [
        ("i0", "Alien"), ("i1", "Heat Wave"), ("i2", "Up"), ("i9", "Alien Nation 2")]
    retriever.save_index()
    loaded = BM25Retriever(retriever.catalog, cache=cache).build()
    assert loaded.index_loaded_from_cache
    assert np.array_equal(loaded.text_scores("alien heat"), retriever.text_scores("alien heat"))
    with pytest.raises(DataError, match="Item objects"):
        retriever.add_items([{"id": "x", "title": "X"}])  # type: ignore[list-item]
