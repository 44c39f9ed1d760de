"""Reading published files: the data folder, HTML-escaped text, CSV/TSV (also gzipped) with line numbers, and
errors that name the file, the line and the field."""

import gzip
from pathlib import Path

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.files import (  # noqa: E402
    clean_text,
    csv_records,
    default_data_dir,
    number,
    required_text,
    tsv_lines,
)


def test_the_data_folder_is_the_environments_else_shared_datasets_beside_the_project(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTREC_DATA", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    monkeypatch.setenv("PROMPTREC_DATA", "~/somewhere")
    assert default_data_dir() == Path.home() / "somewhere"
    monkeypatch.delenv("PROMPTREC_DATA")
    assert default_data_dir() == Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.mark.parametrize(
    "raw, clean",
    [("Tom &amp; Jerry", "Tom & Jerry"), ("Tom &amp;amp; Jerry", "Tom & Jerry"), ("&quot;Moon&quot;", '"Moon"'),
     ("  a \n\t b  ", "a b"), ("&amp;amp;amp;", "&amp;"), ("plain", "plain")],
)
def test_clean_text_unescapes_twice_at_most_and_collapses_whitespace(raw, clean):
    assert clean_text(raw) == clean


@pytest.mark.parametrize("name", ["rows.csv", "rows.csv.gz"])
def test_csv_records_number_lines_and_skip_blank_rows(tmp_path, name):
    text = "id,title\n1,Alien\n\n2,Heat\n"
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    assert [(line, row["id"], row["title"]) for line, row in csv_records(path, ("id", "title"))] == [
        (2, "1", "Alien"), (4, "2", "Heat")]


def test_csv_without_a_required_column_or_file_is_a_located_error(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("id,name\n1,Alien\n")
    with pytest.raises(DataError, match="title") as info:
        list(csv_records(path, ("id", "title")))
    assert info.value.path == str(path)
    with pytest.raises(DataError, match="not found"):
        list(csv_records(tmp_path / "absent.csv", ("id",)))


def test_tsv_lines_split_on_tabs_and_report_bad_utf8(tmp_path):
    path = tmp_path / "x.inter"
    path.write_text("user\titems\n\n7\t1 2\n")
    assert list(tsv_lines(path)) == [(1, ["user", "items"]), (3, ["7", "1 2"])]
    path.write_bytes(b"ok\n\xff\xfe broken\n")
    with pytest.raises(DataError, match="not valid UTF-8") as info:
        list(tsv_lines(path))
    assert info.value.path == str(path)
    with pytest.raises(DataError, match="file not found"):
        list(tsv_lines(tmp_path / "absent.inter"))


def test_numbers_and_required_text_name_the_field():
    path = Path("r.csv")
    assert number("4.5", path, 3, "rating") == 4.5 and required_text("  Heat ", path, 3, "title") == "Heat"
    with pytest.raises(DataError) as info:
        number("soon", path, 3, "timestamp")
    assert str(info.value) == "r.csv:3 field 'timestamp': not a number: 'soon'"
    for empty in ("", "   ", None):
        with pytest.raises(DataError, match=r"r.csv:9 field 'title': empty value"):
            required_text(empty, path, 9, "title")
