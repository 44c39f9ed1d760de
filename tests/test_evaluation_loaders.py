"""The evaluation loaders on the real published files in ../shared/datasets, and on malformed copies."""

import csv
import json

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS  # noqa: E402

from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.amazon import load_llmrank, load_minionerec  # noqa: E402
from promptrec.evaluation.crossdomain import cold_start_pairs, load_cross_domain  # noqa: E402
from promptrec.evaluation.datasets import load_dataset, load_movielens, load_promptrec, resolve  # noqa: E402
from promptrec.evaluation.pointwise import load_tallrec  # noqa: E402

pytestmark = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"datasets not found at {DATASETS}")


def test_movielens_is_split_leave_last_out_by_time():
    dataset = load_dataset("movielens", DATASETS)
    assert dataset.protocol == "llmrank" and dataset.scenario == "movies"
    assert len(dataset.test.records) == 610 and len(dataset.pool) == 9724
    events: dict[str, list[tuple[float, int, str]]] = {}
    with (DATASETS / "movielens-latest-small" / "ratings.csv").open() as handle:
        for line, row in enumerate(csv.DictReader(handle)):
            if row["userId"] in ("1", "414"):
                events.setdefault(row["userId"], []).append((float(row["timestamp"]), line, row["movieId"]))
    for user in ("1", "414"):
        ordered = [movie for _, _, movie in sorted(events[user])]
        test = next(r for r in dataset.test.records if r.user_id == user)
        valid = next(r for r in dataset.valid.records if r.user_id == user)
        assert (test.history, test.truth) == (tuple(ordered[:-1]), ordered[-1])
        assert (valid.history, valid.truth) == (tuple(ordered[:-2]), ordered[-2])
    truths = {r.truth for r in dataset.test.records if r.user_id == "1"}
    user_one = [seq for seq in dataset.test.train if "1" in seq and len(seq) == len(events["1"]) - 1]
    assert user_one and not truths & set(user_one[0])  # the held-out item is not in the training interactions
    toy = dataset.items["1"]
    assert toy.title == "Toy Story (1995)" and toy.attributes["genres"][0] == "Adventure"


def test_games_uses_llmrank_fixed_negatives_in_order():
    dataset = load_dataset("games", DATASETS)
    assert len(dataset.test.records) == 6000 and len(dataset.items) == 16859
    assert dataset.items["219"].title == 'Tomee "Moonlight" N64 USB Controller for PC/ Mac (Clear Blue)'  # &quot;
    first = {}
    with (DATASETS / "amazon-games-llmrank" / "Games-6k.random").open() as handle:
        for line in handle:
            user, ids = line.rstrip("\n").split("\t")
            first.setdefault(user, ids.split())
    record = next(r for r in dataset.test.records if r.user_id == "40610")
    assert record.fixed_negatives == tuple(first["40610"])
    with (DATASETS / "amazon-games-llmrank" / "Games-6k.test.inter").open() as handle:
        row = next(line.rstrip("\n").split("\t") for line in handle if line.startswith("40610\t"))
    assert record.history == tuple(row[1].split()) and record.truth == row[2]
    valid = next(r for r in dataset.valid.records if r.user_id == "40610")
    assert valid.truth == record.history[-1] and valid.history == record.history[:-1]


def test_minionerec_takes_each_users_last_row():
    dataset = load_dataset("office", DATASETS)
    assert dataset.scenario == "products" and len(dataset.items) == 3459
    assert len(dataset.test.records) == 2024 and len(dataset.valid.records) == 1795
    rows = list(csv.DictReader((DATASETS / "amazon-industrial-office-minionerec/test/Office_Products_5_2016-10-2018-11.csv").open()))
    last = [row for row in rows if row["user_id"] == "A3520"][-1]
    record = next(r for r in dataset.test.records if r.user_id == "A3520")
    assert record.truth == last["item_id"] and list(record.history) == [str(i) for i in json.loads(last["history_item_id"])]
    assert all("&amp;" not in item.title for item in dataset.items.values())


def test_cross_domain_pairs_and_cold_start_records():
    root = DATASETS / "amazon_books_cds_movies_recsys24"
    pairs = cold_start_pairs(root, "cds", "books")
    assert [(s.name, t.name) for s, t in pairs] == [("cds_3_5__5.csv", "books_8_10.csv"), ("cds_3_5__6.csv", "books_10_10.csv")]
    dataset = load_dataset("cds-books", DATASETS)
    assert dataset.name == "cds->books" and dataset.protocol == "cross-domain" and dataset.scenario == "books"
    assert len(dataset.test.records) == 459
    source_items: dict[str, set[str]] = {}
    target_items: dict[str, list[tuple[float, str]]] = {}
    for row in csv.DictReader((root / "raw/CDs/cds_3_5__5.csv").open()):
        source_items.setdefault(row["user_id"], set()).add(row["item_id"])
    for row in csv.DictReader((root / "raw/CDs/books_8_10.csv").open()):
        target_items.setdefault(row["user_id"], []).append((float(row["timestamp"]), row["item_id"]))
    pool = set(dataset.pool)
    for record in dataset.test.records[:50]:
        assert set(record.history) == source_items[record.user_id]  # history from the source domain only
        assert record.truth == min(target_items[record.user_id])[1]  # the first target-domain item
        assert not set(record.history) & pool  # no target-domain item in the history
        assert {item for _, item in target_items[record.user_id]} <= record.known


def test_cross_domain_training_leaves_out_the_cold_start_users(tmp_path):
    from promptrec.evaluation.baselines import Interactions

    header = "user_id,item_id,rating,timestamp,title,brand,category\n"
    (tmp_path / "raw" / "Books").mkdir(parents=True)
    (tmp_path / "raw" / "CDs").mkdir(parents=True)
    (tmp_path / "raw" / "Books" / "books_3_5__4.csv").write_text(
        header + "u1,b1,5,3,Dune,Herbert,\"['Fiction']\"\nu1,b2,4,1,Emma,Austen,[]\nu1,b3,4,2,Ulysses,Joyce,[]\n"
    )
    (tmp_path / "raw" / "Books" / "cds_8_10.csv").write_text(header + "u1,c2,5,20,Help,Beatles,[]\nu1,c1,5,11,Abbey Road,Beatles,[]\n")
    (tmp_path / "raw" / "CDs" / "cds_5_10.csv").write_text(header + "u2,c2,5,1,Help,Beatles,[]\nu2,c3,5,1,Kid A,Radiohead,[]\nu3,c3,3,1,Kid A,Radiohead,[]\n")
    dataset = load_cross_domain(tmp_path / "books-cds")
    (record,) = dataset.test.records
    assert record.history == ("b2", "b3", "b1") and record.truth == "c1" and record.known >= {"c1", "c2", "b1"}
    assert dataset.items["c1"].attributes == {"artist": "Beatles"} and dataset.items["b1"].attributes["author"] == "Herbert"
    assert Interactions(dataset.test.train).popularity == {"c2": 1, "c3": 2}  # u1's own ratings never count
    assert set(dataset.pool) == {"c1", "c2", "c3"}


def test_tallrec_parses_titles_and_authors():
    dataset = load_dataset("bookcrossing", DATASETS)
    assert len(dataset.test) == 2427 and sum(c.label for c in dataset.test) == 1054
    first = dataset.test[0]
    assert [b.title for b in first.liked] == ["The Bean Trees", "Sula", "Pigs in Heaven"]
    assert first.liked[1].attributes == {"author": "Toni Morrison"}
    assert first.target.title == "Epitaph for a Peach: Four Seasons on My Family Farm" and first.label == 0


def test_names_and_specs_resolve():
    assert resolve("books-movies", "/d") == ("recsys24", "/d/amazon_books_cds_movies_recsys24/books-movies", "books->movies")
    assert resolve("llmrank:/x/Games-6k")[0:2] == ("llmrank", "/x/Games-6k")
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        resolve("nope")


def test_promptrec_jsonl_format(tmp_path):
    (tmp_path / "c.jsonl").write_text("".join(f'{{"id": "i{i}", "title": "Item {i}"}}\n' for i in range(30)))
    (tmp_path / "h.jsonl").write_text('{"user_id": "u1", "history": ["i1", "i2", "i3"]}\n{"user_id": "u2", "history": ["i4"]}\n')
    dataset = load_promptrec(f"{tmp_path / 'c.jsonl'},{tmp_path / 'h.jsonl'}")
    assert [(r.user_id, r.history, r.truth) for r in dataset.test.records] == [("u1", ("i1", "i2"), "i3")]
    assert [(r.history, r.truth) for r in dataset.valid.records] == [(("i1",), "i2")]


# ------------------------------------------------------------------------------------------- malformed


def _movielens(tmp_path, ratings: str):
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Crime\n")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + ratings)
    return tmp_path


@pytest.mark.parametrize(
    "ratings, line, field",
    [
        ("1,1,4.0,964982703\n1,2,4.0,soon\n", 3, "timestamp"),
        ("1,1,4.0,964982703\n1,9,4.0,964982704\n", 3, "movieId"),
        ("1,1,four,964982703\n", 2, "rating"),
        ("1,1,4.0\n", 2, None),
    ],
)
def test_malformed_movielens_names_file_line_field(tmp_path, ratings, line, field):
    with pytest.raises(DataError) as error:
        load_movielens(_movielens(tmp_path, ratings))
    assert error.value.path.endswith("ratings.csv") and error.value.line == line and error.value.field == field
    assert f"ratings.csv:{line}" in str(error.value)


def test_malformed_recbole_files(tmp_path):
    (tmp_path / "G.item").write_text("item_id:token\ttitle:token_seq\n0\tA &amp; B\n1\tC\n2\tD\n")
    (tmp_path / "G.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n7\t0 1\t2\n")
    (tmp_path / "G.valid.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n7\t0\t1\n")
    (tmp_path / "G.random").write_text("7\t2 1 0\n")
    dataset = load_llmrank(tmp_path / "G")
    assert dataset.items["0"].title == "A & B"
    (tmp_path / "G.random").write_text("7\t2 1 0\n8\t1\n")
    with pytest.raises(DataError, match=r"G\.random:2 field 'user_id'"):
        load_llmrank(tmp_path / "G")
    (tmp_path / "G.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n7\t0 5\t2\n")
    with pytest.raises(DataError, match=r"G\.test\.inter:2 field 'item_id_list'"):
        load_llmrank(tmp_path / "G")


def test_malformed_minionerec_history(tmp_path):
    for folder in ("index", "test", "valid"):
        (tmp_path / folder).mkdir()
    (tmp_path / "index" / "Shop.item.json").write_text(json.dumps({"0": {"title": "Pen"}, "1": {"title": "Ink"}}))
    header = "user_id,history_item_title,item_title,history_item_id,item_id,history_item_sid,item_sid\n"
    (tmp_path / "valid" / "Shop_x.csv").write_text(header + 'u,[],Ink,"[0]",1,[],s\n')
    (tmp_path / "test" / "Shop_x.csv").write_text(header + 'u,[],Ink,"[0]",1,[],s\nu,[],Ink,"[0, ",1,[],s\n')
    with pytest.raises(DataError, match=r"Shop_x\.csv:3 field 'history_item_id'"):
        load_minionerec(tmp_path / "Shop")


def test_malformed_recsys24_category(tmp_path):
    header = "user_id,item_id,rating,timestamp,title,brand,category\n"
    (tmp_path / "raw" / "Books").mkdir(parents=True)
    (tmp_path / "raw" / "Books" / "books_3_5__4.csv").write_text(header + "u1,b1,5,10,Dune,Herbert,\"['Fiction']\"\n")
    (tmp_path / "raw" / "Books" / "cds_8_10.csv").write_text(header + "u1,c1,5,11,Abbey Road,Beatles,['Rock'\n")
    with pytest.raises(DataError, match=r"cds_8_10\.csv:2 field 'category'"):
        load_cross_domain(tmp_path / "books-cds")


def test_malformed_tallrec_names_line(tmp_path):
    good = {"instruction": "", "input": 'User Preference: "A" written by B\nUser Unpreference: \nWhether the user will like the target book ""C" written by D"?', "output": "Yes."}
    bad = dict(good, output="Maybe.")
    (tmp_path / "valid.json").write_text(json.dumps([good], indent=4))
    (tmp_path / "test.json").write_text(json.dumps([good, bad], indent=4))
    with pytest.raises(DataError) as error:
        load_tallrec(tmp_path / "test.json")
    assert error.value.line == 7 and error.value.field == "output"
