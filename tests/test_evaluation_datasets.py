"""The dataset registry and the MovieLens and promptrec loaders: the real files where present, the generated fixtures, malformed copies."""

import csv

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, TINYLENS, needs_datasets  # noqa: E402

from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.datasets import help_text, load_dataset, load_movielens, load_promptrec, resolve  # noqa: E402


@needs_datasets
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


# ------------------------------------------------------------------ the committed tinylens fixture, always


def test_the_fixture_in_movielens_format_is_split_leave_last_out_by_time():
    dataset = load_dataset(f"movielens:{TINYLENS}")
    assert dataset.name == "tinylens" and dataset.protocol == "llmrank" and dataset.scenario == "movies"
    assert len(dataset.items) == 100 and len(dataset.test.records) == 40 == len(dataset.valid.records)
    events: dict[str, list[tuple[float, str]]] = {}
    with (TINYLENS / "ratings.csv").open() as handle:
        for row in csv.DictReader(handle):
            events.setdefault(row["userId"], []).append((float(row["timestamp"]), row["movieId"]))
    for record, valid in zip(dataset.test.records, dataset.valid.records):
        ordered = [movie for _, movie in sorted(events[record.user_id])]
        assert (record.history, record.truth) == (tuple(ordered[:-1]), ordered[-1])
        assert (valid.user_id, valid.history, valid.truth) == (record.user_id, tuple(ordered[:-2]), ordered[-2])
        assert record.known == frozenset(ordered)
    assert list(dataset.pool) == sorted({m for seq in events.values() for _, m in seq}, key=int)
    first = dataset.items["1"]
    assert first.title.endswith(")") and first.attributes["genres"]


def test_datasets_are_loaded_once_and_a_scenario_override_is_a_copy():
    spec = f"movielens:{TINYLENS}"
    assert load_dataset(spec) is load_dataset(spec)
    books = load_dataset(spec, scenario="books")
    assert books.scenario == "books" and load_dataset(spec).scenario == "movies"
    assert books.test == load_dataset(spec).test  # the same records
    assert resolve(spec) == ("movielens", str(TINYLENS), "tinylens")
    assert resolve("movielens", "/data") == ("movielens", "/data/movielens-latest-small", "movielens")


def test_promptrec_csv_histories_are_split_by_timestamp(tmp_path):
    (tmp_path / "items.csv").write_text("id,title\n" + "".join(f"i{n},Item {n}\n" for n in range(5)))
    (tmp_path / "hist.csv").write_text("user_id,item_id,timestamp\nu1,i2,30\nu1,i0,10\nu1,i1,20\n")
    dataset = load_dataset(f"promptrec:{tmp_path / 'items.csv'},{tmp_path / 'hist.csv'}", scenario="books")
    ((record,), (valid,)) = dataset.test.records, dataset.valid.records
    assert (record.history, record.truth, valid.truth) == (("i0", "i1"), "i2", "i1")
    assert dataset.name == "items" and dataset.scenario == "books" and dataset.pool == ("i0", "i1", "i2", "i3", "i4")
    with pytest.raises(DataError, match="separated by a comma"):
        load_promptrec(str(tmp_path / "items.csv"))


# ------------------------------------------------------------------ issue 26: GroupLens' own files, the tie rule

_ITEM_100K = ("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
              "2|Misérables, Les (1995)|01-Jan-1995||http://x|0|0|0|0|0|0|0|0|1|0|0|0|0|0|1|0|0|1|0\n"
              "3|Heat (1995)|01-Jan-1995||http://x|0|1|0|0|0|0|1|0|0|0|0|0|0|0|0|0|1|0|0\n")


def test_ml100k_files_are_read_in_their_own_format_and_encoding(tmp_path):
    (tmp_path / "u.item").write_bytes(_ITEM_100K.encode("latin-1"))
    (tmp_path / "u.data").write_text("7\t1\t4\t100\n7\t3\t5\t300\n7\t2\t3\t200\n9\t2\t5\t50\n9\t3\t1\t60\n")
    dataset = load_dataset(f"movielens:{tmp_path}")
    assert dataset.items["2"].title == "Misérables, Les (1995)"
    assert dataset.items["2"].attributes["genres"] == ["Drama", "Romance", "War"]
    assert dataset.items["1"].attributes["genres"] == ["Animation", "Children's", "Comedy"]
    seven = next(r for r in dataset.test.records if r.user_id == "7")
    assert (seven.history, seven.truth) == (("1", "2"), "3") and dataset.pool == ("1", "2", "3")
    assert "ML-100K layout; u.item read as ISO-8859-1" in dataset.notes["files"]
    (tmp_path / "u.data").write_text("7\t1\t4\n")
    with pytest.raises(DataError, match=r"u\.data:1: expected 4 fields"):
        load_movielens(tmp_path)


def test_ml1m_files_are_read_in_their_own_format_and_encoding(tmp_path):
    (tmp_path / "movies.dat").write_bytes("1::Toy Story (1995)::Animation|Children's|Comedy\n"
                                          "2::Misérables, Les (1995)::Drama\n".encode("latin-1"))
    (tmp_path / "ratings.dat").write_text("1::2::5::978300760\n1::1::3::978300761\n2::1::4::978300000\n")
    dataset = load_movielens(tmp_path, "ml-1m")
    assert dataset.items["2"].title == "Misérables, Les (1995)" and dataset.items["1"].attributes["genres"][1] == "Children's"
    one = next(r for r in dataset.test.records if r.user_id == "1")
    assert (one.history, one.truth) == (("2",), "1")
    (tmp_path / "ratings.dat").write_text("1::2::5::978300760\n1::9::5::978300761\n")
    with pytest.raises(DataError, match=r"ratings\.dat:2 field 'movieId': movie 9 is not in movies\.dat"):
        load_movielens(tmp_path)


def test_a_folder_without_ratings_names_every_layout(tmp_path):
    with pytest.raises(DataError, match=r"ratings\.csv \+ movies\.csv.*u\.data \+ u\.item.*ratings\.dat \+ movies\.dat"):
        load_movielens(tmp_path)


def test_timestamp_ties_keep_the_ratings_file_order(tmp_path):
    """The stable tie rule: with equal timestamps the later line is the later rating, so the file decides
    (and reordering the file's tied lines changes the split: the report names the rule)."""
    folder = _movielens(tmp_path, "1,1,4.0,100\n1,2,4.0,100\n")
    first = load_movielens(folder)
    assert (first.test.records[0].history, first.test.records[0].truth) == (("1",), "2")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,4.0,100\n1,1,4.0,100\n")
    second = load_movielens(folder)
    assert (second.test.records[0].history, second.test.records[0].truth) == (("2",), "1")
    assert "ties: the ratings file's order, a stable rule" in first.notes["split"]


# ------------------------------------------------------------------ issue 23: one registry, one reader per format


def test_every_registered_format_names_functions_that_exist():
    from promptrec.evaluation.datasets import FORMATS, _function

    for name, fmt in FORMATS.items():
        assert fmt.load or fmt.log, name
        for reference in (fmt.load, fmt.log):
            assert reference is None or callable(_function(reference)), (name, reference)
    assert help_text().count("amazon (") == 1 and "amazon-books" in help_text()


def test_a_format_is_one_reader_and_one_registry_entry_and_every_protocol_reads_it(tmp_path, monkeypatch):
    """A new format registered with one entry: the sampled protocols split its log, the replay reads it."""
    from promptrec.data import Item
    from promptrec.evaluation.datasets import FORMATS, Format
    from promptrec.evaluation.interaction_log import InteractionLog, ordered
    from promptrec.evaluation.replay import load as replay_load

    def read_pairs(path: str, name: str) -> InteractionLog:  # "user item rating time" lines
        events: dict = {}
        for line, text in enumerate(open(path).read().splitlines(), start=1):
            user, item, rating, stamp = text.split()
            events.setdefault(user, []).append((float(stamp), line, item, float(rating)))
        items = {i: Item(id=i, title=f"Item {i}") for rows in events.values() for _, _, i, _ in rows}
        return InteractionLog(name, items, ordered(events), files=path)

    monkeypatch.setitem(FORMATS, "pairs", Format("user item rating time lines", log=read_pairs))
    path = tmp_path / "log.txt"
    path.write_text("u a 5 3\nu b 1 1\nu c 4 2\nv a 2 1\nv c 5 0\n")
    dataset = load_dataset(f"pairs:{path}")
    assert dataset.name == "log.txt" and dataset.pool == ("a", "b", "c")
    assert [(r.user_id, r.history, r.truth) for r in dataset.test.records] == [("u", ("b", "c"), "a"), ("v", ("c",), "a")]
    data = replay_load(f"pairs:{path}")
    assert data.sequences == {"u": [("b", 1.0), ("c", 4.0), ("a", 5.0)], "v": [("c", 5.0), ("a", 2.0)]}
    assert "pairs (user item rating time lines)" in help_text()


def test_logs_come_from_the_formats_with_timed_interactions_only(tmp_path):
    from promptrec.evaluation.datasets import load_log, log_formats

    assert log_formats() == ["movielens", "amazon", "promptrec"]
    assert resolve("amazon-cds", "/d") == ("amazon", "/d/amazon_books_cds_movies_recsys24/merged/cds.csv.gz", "amazon-cds")
    log = load_log(f"movielens:{TINYLENS}")
    assert log.name == "tinylens" and log.rated
    with pytest.raises(DataError, match="'games' .*has no per-user interactions in time order; use one of movielens, "
                                        "amazon-books"):
        load_log("games", tmp_path)
    (tmp_path / "items.csv").write_text("id,title\n" + "".join(f"i{n},Item {n}\n" for n in range(3)))
    (tmp_path / "hist.csv").write_text("user_id,item_id,timestamp,rating\nu1,i2,30,5\nu1,i0,10,\nu1,i1,20,2.5\n")
    log = load_log(f"promptrec:{tmp_path / 'items.csv'},{tmp_path / 'hist.csv'}")
    assert [(e.item_id, e.timestamp, e.rating) for e in log.sequences["u1"]] == [
        ("i0", 10.0, None), ("i1", 20.0, 2.5), ("i2", 30.0, 5.0)]


@needs_datasets
def test_an_amazon_domain_is_one_file_split_by_time_with_the_cross_domain_items():
    from promptrec.evaluation.datasets import load_log

    dataset = load_dataset("amazon-cds", DATASETS)
    cross = load_dataset("cds-books", DATASETS)
    assert dataset.scenario == "music" and dataset.protocol == "llmrank" and len(dataset.test.records) > 100
    shared = [i for i in dataset.pool if i in cross.items][:50]
    assert shared and all(dataset.items[i] == cross.items[i] for i in shared)  # the same items, read the same way
    log = load_log("amazon-cds", DATASETS)
    assert all(e.rating in (1.0, 2.0, 3.0, 4.0, 5.0) for events in log.sequences.values() for e in events)
