import json

import pytest

from promptrec.data import Catalog, Item, UserHistory, item_from_title, read_catalog, read_histories
from promptrec.errors import DataError


def write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_catalog_keeps_extra_fields_as_attributes(tmp_path):
    path = write(tmp_path / "c.jsonl", '{"id": 1, "title": "Alien", "year": 1979}\n\n{"item_id": "b", "title": "Up", "attributes": {"genres": ["Family"]}}\n')
    catalog = read_catalog(path)
    assert list(catalog) == ["1", "b"]
    assert catalog["1"].attributes == {"year": 1979}
    assert catalog["b"].attributes == {"genres": ["Family"]}


def test_csv_catalog(tmp_path):
    path = write(tmp_path / "c.csv", 'id,title,genres\n1,"Heat, the movie",Crime|Thriller\n2,Up,\n')
    catalog = read_catalog(path)
    assert catalog["1"].title == "Heat, the movie"
    assert catalog["1"].attributes == {"genres": "Crime|Thriller"}
    assert catalog["2"].attributes == {}


@pytest.mark.parametrize(
    "name, content, line, field, words",
    [
        ("c.jsonl", '{"id": "a", "title": "A"}\n{"id": "b", "title": \n', 2, None, "invalid JSON"),
        ("c.jsonl", '{"id": "a", "title": "A"}\n{"id": "b"}\n', 2, "title", "missing title"),
        ("c.jsonl", '{"title": "A"}\n', 1, "id", "missing item id"),
        ("c.jsonl", '{"id": "a", "title": "A"}\n{"id": "a", "title": "B"}\n', 2, "id", "duplicate"),
        ("c.jsonl", '["a", "A"]\n', 1, None, "expected a JSON object"),
        ("c.jsonl", '{"id": "a", "title": "   "}\n', 1, "title", "must not be empty"),
        ("c.jsonl", '{"id": "a", "title": "A", "attributes": 3}\n', 1, "attributes", "must be an object"),
        ("c.csv", "id,name\n1,A\n", 1, "title", "missing column"),
        ("c.csv", "id,title\n1,A\n2,B,extra\n", 3, None, "expected 2 columns"),
        ("c.csv", "id,title\n1,A\n1,B\n", 3, "id", "duplicate"),
    ],
)
def test_malformed_catalog_lines_name_file_line_and_field(tmp_path, name, content, line, field, words):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        read_catalog(path)
    error = info.value
    assert error.path == str(path)
    assert error.line == line
    assert error.field == field
    assert words in str(error)
    assert f"{path}:{line}" in str(error)


def test_invalid_utf8_is_reported_at_its_line(tmp_path):
    path = write(tmp_path / "c.jsonl", b'{"id": "a", "title": "A"}\n{"id": "b", "title": "\xff"}\n')
    with pytest.raises(DataError, match=r"c\.jsonl:2: not valid UTF-8"):
        read_catalog(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_catalog(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="use .jsonl or .csv"):
        read_catalog(write(tmp_path / "c.txt", "x"))


def test_resolve_lists_every_unknown_id(demo_catalog):
    assert [i.id for i in demo_catalog.resolve(["m02", "m01"])] == ["m02", "m01"]
    with pytest.raises(DataError, match=r"2 item id\(s\) not in the catalog.*'x1', 'x2'"):
        demo_catalog.resolve(["m01", "x1", "x2"])


def test_jsonl_histories_with_ids_and_inline_items(tmp_path, demo_catalog):
    path = write(
        tmp_path / "h.jsonl",
        json.dumps({"user_id": "u1", "history": ["m03", {"id": "new", "title": "Solaris"}, "m04"]}) + "\n",
    )
    histories = read_histories(path, demo_catalog)
    assert [i.id for i in histories["u1"].items] == ["m03", "new", "m04"]


def test_jsonl_history_unknown_id_names_the_entry(tmp_path, demo_catalog):
    path = write(tmp_path / "h.jsonl", '{"user_id": "u1", "history": ["m01"]}\n{"user_id": "u2", "history": ["m01", "zz"]}\n')
    with pytest.raises(DataError) as info:
        read_histories(path, demo_catalog)
    assert (info.value.line, info.value.field) == (2, "history[1]")
    assert "'zz' is not in the catalog" in str(info.value)


def test_csv_histories_are_ordered_by_timestamp(tmp_path, demo_catalog):
    path = write(tmp_path / "h.csv", "user_id,item_id,timestamp,rating\nu1,m03,30,4\nu1,m01,10,5\nu2,m02,5,\nu1,m02,20,3\n")
    histories = read_histories(path, demo_catalog)
    assert [i.id for i in histories["u1"].items] == ["m01", "m02", "m03"]
    assert histories["u1"].interactions[0].rating == 5.0
    assert histories["u2"].interactions[0].rating is None


def test_csv_history_bad_timestamp(tmp_path, demo_catalog):
    path = write(tmp_path / "h.csv", "user_id,item_id,timestamp\nu1,m03,yesterday\n")
    with pytest.raises(DataError) as info:
        read_histories(path, demo_catalog)
    assert (info.value.line, info.value.field) == (2, "timestamp")


def test_free_text_titles_match_the_catalog_or_become_items(demo_catalog):
    assert item_from_title("  the matrix ", demo_catalog).id == "m01"
    assert item_from_title("Solaris", demo_catalog) == Item(id="title:Solaris", title="Solaris")


def test_catalog_rejects_duplicates_and_history_from_items():
    with pytest.raises(DataError, match="duplicate"):
        Catalog([Item(id="a", title="A"), Item(id="a", title="B")])
    history = UserHistory.from_items([Item(id="a", title="A")], user_id="u")
    assert len(history) == 1 and history.user_id == "u"
