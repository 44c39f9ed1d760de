"""promptrec.data.interaction_rows, the one interaction reader: the CLI's interactions, read_histories' CSV and
the cross-domain format all parse their rows through it (column names, strict CSV, finite numbers, located
errors)."""

import logging

import pytest

from promptrec.data import Catalog, Columns, Item, interaction_rows, read_histories
from promptrec.errors import DataError
from promptrec.evaluation.crossdomain import read_crossdomain
from promptrec.retrieval import read_interactions


def _rows(path, **options):
    return [(r.line, r.user_id, r.item_id, r.timestamp, r.rating) for r in interaction_rows(path, **options)]


def test_csv_tsv_and_jsonl_rows_with_promptrec_or_movielens_names(tmp_path):
    (tmp_path / "a.csv").write_text("user_id,item_id,timestamp,rating\nu1,i1,10,4.5\nu1,i2,2024-05-01,\n")
    (tmp_path / "b.tsv").write_text("userId\tmovieId\ttimestamp\n7\t1\t5\n")
    (tmp_path / "c.jsonl").write_text('{"user_id": 3, "item_id": 9, "timestamp": 1.5, "rating": 2}\n'
                                      '{"user_id": "u", "history": ["x", {"id": "y", "title": "Y"}]}\n')
    assert _rows(tmp_path / "a.csv") == [(2, "u1", "i1", 10.0, 4.5), (3, "u1", "i2", 1714521600.0, None)]
    assert _rows(tmp_path / "b.tsv") == [(2, "7", "1", 5.0, None)]
    assert _rows(tmp_path / "c.jsonl") == [(1, "3", "9", 1.5, 2.0), (2, "u", "x", None, None), (2, "u", "y", None, None)]
    (row,) = interaction_rows(tmp_path / "b.tsv", Columns(user="userId", item="movieId"))
    assert (row.user_id, row.item_id, row.item_field) == ("7", "1", "movieId")


@pytest.mark.parametrize(
    "text, line, field, reason",
    [
        ("user_id,item_id,timestamp\nu1,i1,nan\n", 2, "timestamp", "not a number of seconds"),
        ("user_id,item_id,rating\nu1,i1,1\nu1,i2,inf\n", 3, "rating", "not a finite number"),
        ("user_id,item_id\nu1,i1\n,i2\n", 3, "user_id", "missing user id"),
        ('user_id,item_id\nu1,"i1\n', 2, None, "unterminated quote"),
        ("user_id,item_id\nu1,i1,extra\n", 2, None, "expected 2 columns"),
        ("user_id\titem_id\nu1\ti1\n", 1, "user_id", "this file is tab-separated: name it .tsv"),
    ],
)
def test_every_reader_refuses_the_same_rows_at_the_same_place(tmp_path, text, line, field, reason):
    """interaction_rows, read_interactions and read_histories stop at the same file:line and field."""
    path = tmp_path / "log.csv"
    path.write_text(text)
    catalog = Catalog([Item(id="i1", title="One"), Item(id="i2", title="Two")])
    for read in (lambda: list(interaction_rows(path)), lambda: read_interactions(path, catalog),
                 lambda: read_histories(path, catalog)):
        with pytest.raises(DataError) as error:
            read()
        assert (error.value.line, error.value.field) == (line, field) and reason in str(error.value)
        assert f"log.csv:{line}" in str(error.value)


def test_the_cross_domain_format_parses_interactions_the_same_way(tmp_path):
    (tmp_path / "items.csv").write_text("id,title,domain\ng1,Oil,grocery\nk1,Knife,kitchen\n")
    (tmp_path / "interactions.csv").write_text("user_id,item_id,position,rating\nu1,g1,1,4\nu1,k1,nan,5\n")
    with pytest.raises(DataError, match=r"interactions\.csv:3 field 'position': not a number of seconds"):
        read_crossdomain(tmp_path)
    (tmp_path / "interactions.csv").unlink()
    (tmp_path / "interactions.jsonl").write_text('{"user_id": "u1", "item_id": "g1", "seq": 1}\n'
                                                 '{"user_id": "u1", "item_id": "k1", "seq": 2, "rating": "inf"}\n')
    with pytest.raises(DataError, match=r"interactions\.jsonl:2 field 'rating': not a finite number"):
        read_crossdomain(tmp_path)


def test_unknown_items_are_the_callers_policy(tmp_path, caplog):
    path = tmp_path / "log.jsonl"
    path.write_text('{"user_id": "u1", "item_id": "i1"}\n{"user_id": "u2", "history": ["i1", "gone"]}\n')
    catalog = Catalog([Item(id="i1", title="One")])
    with caplog.at_level(logging.WARNING):
        interactions = read_interactions(path, catalog)
    assert (len(interactions), interactions.skipped, interactions.user_ids) == (2, 1, ["u1", "u2"])
    assert f"'gone' ({path}:2)" in caplog.text
    with pytest.raises(DataError, match=r"log\.jsonl:1 field 'item_id': missing item id \(or a 'history'"):
        path.write_text('{"user_id": "u1", "title": "x"}\n')
        list(interaction_rows(path))
