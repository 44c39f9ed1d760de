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
    with pytest.raises(DataError, match=r"unknown file type; use one of: \.jsonl, \.ndjson, \.csv, \.tsv, \.parquet"):
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


# ------------------------------------------------------------------ your own columns, TSV, Parquet, DataFrames


def test_own_column_names_for_a_catalog_csv_and_tsv(tmp_path):
    from promptrec.data import Columns

    path = write(tmp_path / "items.tsv", "sku\tname\tbrand\tnote\np1\tShoes\tAcme\tinternal\np2\tSocks\t\tx\n")
    catalog = read_catalog(path, Columns(id="sku", title="name", text=["brand"]))
    assert catalog["p1"] == Item(id="p1", title="Shoes", attributes={"brand": "Acme"})
    assert catalog["p2"].attributes == {}  # an empty cell is no attribute
    movielens = write(tmp_path / "movies.csv", "movieId,title,genres\n1,Toy Story (1995),Animation|Children\n")
    assert read_catalog(movielens, Columns(id="movieId", title="title"))["1"].attributes == {"genres": "Animation|Children"}


def test_a_missing_own_column_is_named_with_the_columns_there_are(tmp_path):
    from promptrec.data import Columns

    path = write(tmp_path / "items.csv", "id,name,genres\n1,A,x\n")
    with pytest.raises(DataError) as info:
        read_catalog(path, Columns(id="movieId"))
    assert (info.value.line, info.value.field) == (1, "movieId")
    assert "missing column 'movieId'; the columns are: id, name, genres" in str(info.value)
    with pytest.raises(DataError, match="missing column 'title'; the columns are: id, name, genres"):
        read_catalog(path)
    with pytest.raises(DataError, match="missing column 'year'"):
        read_catalog(path, Columns(title="name", text="genres,year"))
    jsonl = write(tmp_path / "items.jsonl", '{"sku": "p1", "name": "A"}\n{"sku": "p2"}\n')
    with pytest.raises(DataError) as info:
        read_catalog(jsonl, Columns(id="sku", title="name"))
    assert (info.value.line, info.value.field) == (2, "name")


def test_own_columns_for_histories_with_iso_dates(tmp_path, demo_catalog):
    from promptrec.data import Columns

    path = write(tmp_path / "orders.csv", "customer,movie,when,stars\nc1,m03,2024-05-03,4\nc1,m01,2024-05-01T10:00:00,5\n")
    histories = read_histories(path, demo_catalog, Columns(user="customer", item="movie", time="when", rating="stars"))
    assert [i.id for i in histories["c1"].items] == ["m01", "m03"]
    assert histories["c1"].interactions[0].rating == 5.0
    with pytest.raises(DataError, match="missing column 'customer'; the columns are: user_id, item_id"):
        read_histories(write(tmp_path / "h.csv", "user_id,item_id\nu1,m01\n"), demo_catalog, Columns(user="customer"))
    bad = write(tmp_path / "bad.csv", "user_id,item_id,timestamp\nu1,m01,last tuesday\n")
    with pytest.raises(DataError, match="not a number of seconds or an ISO 8601 date"):
        read_histories(bad, demo_catalog)


def test_parquet_catalog_and_histories(tmp_path, demo_catalog):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from promptrec.data import Columns

    items = pandas.DataFrame({"sku": ["p1", "p2"], "name": ["Shoes", "Socks"], "tags": [["run", "trail"], None],
                              "price": [89.5, float("nan")]})
    items.to_parquet(tmp_path / "items.parquet")
    catalog = read_catalog(tmp_path / "items.parquet", Columns(id="sku", title="name"))
    assert catalog["p1"].attributes == {"tags": ["run", "trail"], "price": 89.5}
    assert catalog["p2"].attributes == {}
    with pytest.raises(DataError, match=r"items.parquet field 'id': missing column 'id' .*the columns are: sku, name"):
        read_catalog(tmp_path / "items.parquet")
    events = pandas.DataFrame({"user_id": ["u1", "u1"], "item_id": ["m03", "m01"],
                               "timestamp": pandas.to_datetime(["2024-05-02", "2024-05-01"])})
    events.to_parquet(tmp_path / "events.parquet")
    assert [i.id for i in read_histories(tmp_path / "events.parquet", demo_catalog)["u1"].items] == ["m01", "m03"]
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_catalog(tmp_path / "broken.parquet")


def test_catalog_from_pandas_records_and_polars():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"id": ["m1", "m2"], "title": ["Alien", "Up"], "genres": ["Horror|Sci-Fi", None],
                              "year": [1979, 2009]})
    catalog = Catalog.from_pandas(frame)
    assert catalog["m1"] == Item(id="m1", title="Alien", attributes={"genres": "Horror|Sci-Fi", "year": 1979})
    assert catalog["m2"].attributes == {"year": 2009} and type(catalog["m2"].attributes["year"]) is int
    assert list(Catalog.from_pandas(frame.set_index("id"))) == ["m1", "m2"]  # an id in the index counts
    assert Catalog.from_records(frame.to_dict("records"))["m1"] == catalog["m1"]
    renamed = frame.rename(columns={"id": "movie", "title": "name"})
    assert Catalog.from_pandas(renamed, id_col="movie", title_col="name", text_cols=["year"])["m1"].attributes == {"year": 1979}
    with pytest.raises(DataError, match="DataFrame field 'movieId': missing column 'movieId'; the columns are: id, title, genres, year"):
        Catalog.from_pandas(frame, id_col="movieId")
    with pytest.raises(DataError, match=r"records:2 field 'title': must not be empty"):
        Catalog.from_records([{"id": 1, "title": "A"}, {"id": 2, "title": "  "}])
    polars = pytest.importorskip("polars")
    assert Catalog.from_polars(polars.from_pandas(frame))["m1"] == catalog["m1"]


def test_history_strings_are_ids_or_titles_with_a_clear_error(demo_catalog):
    assert [i.id for i in demo_catalog.lookup(["alien", "m04", " The Matrix "])] == ["m03", "m04", "m01"]
    history = demo_catalog.history(["Alien", "m04"], user_id="u1")
    assert history.user_id == "u1" and [i.id for i in history.items] == ["m03", "m04"]
    with pytest.raises(DataError) as info:
        demo_catalog.lookup(["Allien", "m99"])
    message = str(info.value)
    assert "2 history entries are not in the catalog" in message and "(neither an item id nor a title)" in message
    assert "'Allien' (did you mean 'Alien'" in message and "'m99'" in message


# ---------------------------------------------------------------------------------------- hardening (issue 27)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from promptrec.data import MAX_JSON_DEPTH, loads_json  # noqa: E402

#: (name, file name, content, reader, expected line, words of the message): every bad file is a DataError
#: that names the file and the line, never a traceback and never a silently wrong catalog
BAD_FILES = [
    ("CSV unterminated quote", "c.csv", b'id,title\n1,"unterminated\n2,Second\n3,Third\n', "catalog", 2, "unterminated quote"),
    ("CSV unterminated quote, last line", "c.csv", b'id,title\n1,One\n2,"Two\n', "catalog", 3, "unterminated quote"),
    ("CSV quote then text", "c.csv", b'id,title\n1,"One"x\n', "catalog", 2, "malformed CSV"),
    ("JSONL title NaN", "c.jsonl", b'{"id": "a", "title": "A"}\n{"id": "b", "title": NaN}\n', "catalog", 2, "NaN"),
    ("JSONL title Infinity", "c.jsonl", b'{"id": "b", "title": -Infinity}\n', "catalog", 1, "Infinity"),
    ("JSONL number too large", "c.jsonl", b'{"id": "b", "title": "B", "price": 1e999}\n', "catalog", 1, "too large"),
    ("JSONL nested too deep", "c.jsonl", b'{"id": "a", "title": "A", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
     "catalog", 1, "nested"),
    ("JSONL nested just over the limit", "c.jsonl",
     b'{"id": "a", "title": "A", "x": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}\n", "catalog", 1, "nested"),
    ("CSV history timestamp nan", "h.csv", b"user_id,item_id,timestamp\nu,a,nan\n", "histories", 2, "timestamp"),
    ("CSV history rating inf", "h.csv", b"user_id,item_id,rating\nu,a,-inf\n", "histories", 2, "finite"),
    ("CSV history NUL byte", "h.csv", b"user_id,item_id\nu,a\x00\n", "histories", 2, "item"),
]


@pytest.mark.parametrize(("name", "file", "content", "reader", "line", "words"), BAD_FILES,
                         ids=[case[0] for case in BAD_FILES])
def test_bad_files_are_located_errors(tmp_path, name, file, content, reader, line, words):
    path = write(tmp_path / file, content)
    catalog = Catalog([Item(id="a", title="A")])
    read = read_catalog if reader == "catalog" else (lambda p: read_histories(p, catalog))
    with pytest.raises(DataError) as info:
        read(path)
    assert info.value.path == str(path) and info.value.line == line
    assert words in str(info.value)


def test_nesting_up_to_the_limit_is_read(tmp_path):
    depth = MAX_JSON_DEPTH - 2  # the line's object and the field's list are two levels
    path = write(tmp_path / "c.jsonl", b'{"id": "a", "title": "A", "x": ' + b"[" * depth + b"]" * depth + b"}\n")
    assert "x" in read_catalog(path)["a"].attributes
    assert loads_json("[1.5, -2e10]") == [1.5, -2e10]


def test_a_quoted_field_over_several_lines_is_still_one_field(tmp_path):
    path = write(tmp_path / "c.csv", b'id,title\n1,"Two\nlines"\n2,"He said ""hi"""\n')
    catalog = read_catalog(path)
    assert catalog["1"].title == "Two\nlines" and catalog["2"].title == 'He said "hi"'


@pytest.mark.parametrize("title", ["", "   ", "\t"])
def test_an_empty_free_text_title_is_a_data_error(title):
    with pytest.raises(DataError, match="title"):
        item_from_title(title)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_values_are_refused_in_items_and_interactions(value):
    from promptrec.data import Interaction

    with pytest.raises(ValueError):
        Item(id="a", title=value)
    with pytest.raises(ValueError):
        Interaction(item=Item(id="a", title="A"), timestamp=value)
    with pytest.raises(ValueError):
        Interaction(item=Item(id="a", title="A"), rating=value)


_cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), min_size=1, max_size=12)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(titles=st.lists(_cell.filter(lambda t: t.strip()), min_size=1, max_size=12))
def test_csv_catalog_property_every_written_row_is_read_back(tmp_path_factory, titles):
    """Nothing is silently dropped: a catalog written by csv.writer is read back whole, title for title."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "title"])
    for index, title in enumerate(titles):
        writer.writerow([f"i{index}", title])
    path = write(tmp_path_factory.mktemp("prop") / "c.csv", buffer.getvalue().encode("utf-8"))
    catalog = read_catalog(path)
    assert [catalog[f"i{i}"].title for i in range(len(titles))] == [t.strip() for t in titles]


@PROPERTY
@given(records=st.lists(st.fixed_dictionaries({"title": _cell.filter(lambda t: t.strip()),
                                               "year": st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))}),
                        min_size=1, max_size=10))
def test_jsonl_catalog_property_every_written_line_is_read_back(tmp_path_factory, records):
    lines = [json.dumps({"id": f"i{i}", **record}) for i, record in enumerate(records)]
    path = write(tmp_path_factory.mktemp("prop") / "c.jsonl", "\n".join(lines) + "\n")
    catalog = read_catalog(path)
    assert len(catalog) == len(records)
    assert [catalog[f"i{i}"].attributes["year"] for i in range(len(records))] == [r["year"] for r in records]


@PROPERTY
@given(data=st.binary(max_size=300) | st.lists(st.sampled_from(
    [b'{"id": "a", "title": NaN}', b'{"id": "a", "title": 1e400}', b"[" * 70 + b"]" * 70, b'{"id": "b", "title": "B"}',
     b'id,title', b'1,"open', b'u,a,nan', b"\xff\xfe", b'{"user_id": "u", "history": ["a"]}']), max_size=6).map(b"\n".join))
def test_readers_property_only_data_errors(tmp_path_factory, data):
    """Whatever the bytes, every reader returns or raises DataError naming the file (no other exception)."""
    folder = tmp_path_factory.mktemp("prop")
    catalog = Catalog([Item(id="a", title="A")])
    for name in ("f.jsonl", "f.csv"):
        path = write(folder / name, data)
        for read in (read_catalog, lambda p: read_histories(p, catalog)):
            try:
                read(path)
            except DataError as error:
                assert error.path == str(path)


def test_history_of_takes_histories_items_and_with_a_catalog_strings(demo_catalog):
    from promptrec.data import history_of

    history = UserHistory.from_items([demo_catalog["m01"]], user_id="u")
    assert history_of(history) is history
    assert [i.id for i in history_of([demo_catalog["m01"], demo_catalog["m03"]]).items] == ["m01", "m03"]
    assert [i.id for i in history_of(["Alien", "m04"], demo_catalog).items] == ["m03", "m04"]
    with pytest.raises(DataError, match=r"history entries 'Alien' are not Items: give Items, or ids and titles through catalog.history"):
        history_of(["Alien"])
