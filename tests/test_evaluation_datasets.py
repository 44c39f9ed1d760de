"""The dataset registry and the MovieLens and promptrec loaders: the real files where present, the generated fixtures, malformed copies."""

import csv

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, TINYLENS, needs_datasets  # noqa: E402

from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.datasets import load_dataset, load_movielens, load_promptrec, resolve  # noqa: E402


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
