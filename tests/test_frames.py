"""promptrec.frames: many users in (a DataFrame, a mapping, histories), one long DataFrame out."""

import pytest

pandas = pytest.importorskip("pandas")

from promptrec import Catalog, Item, Recommender  # noqa: E402
from promptrec.errors import DataError  # noqa: E402
from promptrec.frames import RESULT_COLUMNS, recommend_many  # noqa: E402
from promptrec.retrieval import CooccurrenceRetriever, Interactions  # noqa: E402

ITEMS = [Item(id=f"i{n}", title=f"Item {n}", attributes={"n": n}) for n in range(1, 7)]


@pytest.fixture()
def recommender(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    catalog = Catalog(ITEMS)
    (tmp_path / "events.csv").write_text("user_id,item_id\n" + "".join(
        f"u{u},i{i}\n" for u, items in enumerate([(1, 2, 3), (1, 2), (2, 3, 4), (4, 5), (5, 6)]) for i in items))
    from promptrec.retrieval import read_interactions

    interactions: Interactions = read_interactions(tmp_path / "events.csv", catalog)
    return Recommender(CooccurrenceRetriever(catalog, interactions))


def test_a_long_frame_in_gives_a_long_frame_out_in_input_order(recommender):
    users = pandas.DataFrame({"user": ["bob", "ann", "bob"], "item": ["i5", "i1", "Item 4"],
                              "t": [2, 1, 1]})
    table = recommend_many(recommender, users, k=2, user_col="user", item_col="item", time_col="t")
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert table["user_id"].tolist() == ["bob", "bob", "ann", "ann"]  # users as they first appear
    assert table["rank"].tolist() == [1, 2, 1, 2]
    # each user's rows are exactly what recommend() gives for their history (oldest first by t: i4 then i5)
    expected = recommender.recommend(recommender.retriever.catalog.history(["i4", "i5"]), k=2)
    assert table[table.user_id == "bob"]["item_id"].tolist() == expected.ids()
    assert table[table.user_id == "bob"]["retrieval_score"].tolist() == [r.retrieval_score for r in expected]
    assert not set(table[table.user_id == "ann"]["item_id"]) & {"i1"}  # the history is never recommended


def test_mappings_and_histories_and_errors(recommender):
    catalog = recommender.retriever.catalog
    by_mapping = recommend_many(recommender, {"ann": ["i1", "Item 2"]}, k=3)
    by_history = recommend_many(recommender, [catalog.history(["i1", "i2"], user_id="ann")], k=3)
    assert by_mapping.equals(by_history)
    with pytest.raises(DataError, match=r"user 'ann': 1 history entry is not in the catalog.*neither an item id nor a title.*'nope'"):
        recommend_many(recommender, {"ann": ["nope"]})
    with pytest.raises(DataError, match="missing column 'user_id'; the columns are: who, item_id"):
        recommend_many(recommender, pandas.DataFrame({"who": ["a"], "item_id": ["i1"]}))
    everything = {"all": [item.id for item in ITEMS], "ann": ["i1"]}
    with pytest.raises(DataError, match="user 'all'"):
        recommend_many(recommender, everything)
    kept = recommend_many(recommender, everything, errors="skip")
    assert set(kept["user_id"]) == {"ann"}


def test_ranking_to_pandas_and_records(recommender):
    ranking = recommender.recommend(recommender.retriever.catalog.history(["i1"], user_id="ann"), k=3)
    records = ranking.to_records()
    assert [r["item_id"] for r in records] == ranking.ids()
    assert records[0]["user_id"] == "ann" and records[0]["rank"] == 1 and records[0]["llm_score"] is None
    frame = ranking.to_pandas()
    assert frame["item_id"].tolist() == ranking.ids() and "fused_score" in frame.columns
    assert "attr_n" in ranking.to_pandas(attributes=True).columns


def test_the_recommender_takes_titles_and_many_users(recommender):
    by_title = recommender.recommend(["Item 1", "i2"], k=2)
    assert by_title.ids() == recommender.recommend(recommender.retriever.catalog.history(["i1", "i2"]), k=2).ids()
    with pytest.raises(DataError, match="not in the catalog .*'Item 99'"):
        recommender.recommend(["Item 99"])
    table = recommender.recommend_many({"ann": ["i1"], "bob": ["i5"]}, k=2)
    assert table.equals(recommend_many(recommender, {"ann": ["i1"], "bob": ["i5"]}, k=2))


def test_pandas_and_polars_catalogs_share_one_reader_with_the_same_errors():
    polars = pytest.importorskip("polars")
    frame = pandas.DataFrame({"movie": ["m1", "m2", "m3"], "title": ["Alien", "Up", " "], "year": [1979, 2009, 2001]})
    for read, given in ((Catalog.from_pandas, frame), (Catalog.from_polars, polars.from_pandas(frame))):
        with pytest.raises(DataError, match=r"^DataFrame field 'id': missing column 'id' \(or .*\); the columns are: "
                                            r"movie, title, year$"):
            read(given)
        with pytest.raises(DataError, match=r"DataFrame field 'genres': missing column 'genres'; the columns are"):
            read(given, id_col="movie", text_cols=["genres"])
        with pytest.raises(DataError, match=r"^DataFrame:3 field 'title': must not be empty"):
            read(given, id_col="movie")
        catalog = read(given.head(2), id_col="movie", text_cols="year")
        assert list(catalog) == ["m1", "m2"] and catalog["m2"] == Item(id="m2", title="Up", attributes={"year": 2009})
