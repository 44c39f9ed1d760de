"""The MovieLens reader: every rating kept with its time, the same order the split uses, bad values located."""

import csv

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import TINYLENS  # noqa: E402

from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.movielens import load_movielens, read_log  # noqa: E402


def test_the_log_keeps_each_rating_and_time_in_the_order_the_split_uses():
    log = read_log(TINYLENS, "tinylens")
    rows: dict[str, list[tuple[float, int, str, float]]] = {}
    with (TINYLENS / "ratings.csv").open() as handle:
        for line, row in enumerate(csv.DictReader(handle)):
            rows.setdefault(row["userId"], []).append(
                (float(row["timestamp"]), line, row["movieId"], float(row["rating"])))
    assert set(log.sequences) == set(rows)
    for user, events in log.sequences.items():
        expected = sorted(rows[user])
        assert [(e.item_id, e.timestamp, e.rating) for e in events] == [(m, t, r) for t, _, m, r in expected]
    dataset = load_movielens(TINYLENS, "tinylens")
    for record in dataset.test.records:
        assert [e.item_id for e in log.sequences[record.user_id]] == [*record.history, record.truth]
    assert log.scenario == "movies" and log.rated and dataset.notes == log.notes


@pytest.mark.parametrize("value, field", [("nan", "rating"), ("inf", "timestamp")])
def test_nan_and_infinite_values_are_refused_with_file_line_and_field(tmp_path, value, field):
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n")
    row = {"rating": "4.0", "timestamp": "964982703", field: value}
    (tmp_path / "ratings.csv").write_text(f"userId,movieId,rating,timestamp\n1,1,4.0,1\n1,1,{row['rating']},{row['timestamp']}\n")
    with pytest.raises(DataError, match=rf"ratings\.csv:3 field '{field}': not a finite number"):
        read_log(tmp_path)


def test_ml100k_ratings_are_kept(tmp_path):
    (tmp_path / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1\n2|Heat (1995)|x||y|0|1\n")
    (tmp_path / "u.data").write_text("7\t1\t4\t100\n7\t2\t2\t50\n")
    log = read_log(tmp_path)
    assert [(e.item_id, e.rating) for e in log.sequences["7"]] == [("2", 2.0), ("1", 4.0)]
    assert log.items["1"].attributes == {"genres": ["Animation"]} and "ML-100K layout" in log.notes["files"]
