"""`promptrec feedback` (add, list, export, import, clear) through click's CliRunner, alone and as a subcommand of promptrec."""

from __future__ import annotations

import json

from click.testing import CliRunner

from promptrec.cli.feedback import feedback_group
from promptrec.feedback import FeedbackStore


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(feedback_group, list(args), input=input, catch_exceptions=False)


def test_cli_add_list_export_import_clear(tmp_path):
    db, copy, out = str(tmp_path / "a.sqlite3"), str(tmp_path / "b.sqlite3"), str(tmp_path / "out.jsonl")
    result = cli("add", "--db", db, "--user", "u1", "--scenario", "movies", "--item", "m03", "--title", "Alien", "--label", "liked")
    assert result.exit_code == 0 and "added liked on m03" in result.output
    result = cli("add", "--db", db, "--user", "u1", "--item", "m12", "--title", "Up", "--label", "rating",
                 "--rating", "2", "--shown", "m12,m03", "--shown", "m09", "--comment", "meh")
    assert result.exit_code == 0
    assert FeedbackStore(db).list("u1", "default")[0].shown == ["m12", "m03", "m09"]
    listed = cli("list", "--db", db, "--user", "u1")
    assert "Alien" in listed.output and "rating 2" in listed.output and "# meh" in listed.output
    assert "2 records" in listed.output
    assert len(cli("list", "--db", db, "--json", "-n", "1").output.splitlines()) == 1
    assert "exported 2 records" in cli("export", out, "--db", db).output
    assert "imported 2 records" in cli("import", out, "--db", copy).output
    assert "imported 0 records" in cli("import", out, "--db", copy).output and "2 already present" in cli("import", out, "--db", copy).output
    assert "removed 1 records" in cli("clear", "--db", copy, "--user", "u1", "--scenario", "movies").output
    assert cli("clear", "--db", copy, input="n\n").exit_code == 1 and FeedbackStore(copy).count() == 1
    assert "removed 1 records" in cli("clear", "--db", copy, "--yes").output


def test_cli_errors_and_help(tmp_path):
    db = str(tmp_path / "a.sqlite3")
    result = cli("add", "--db", db, "--user", "u1", "--item", "m1", "--title", "X", "--label", "rating")
    assert result.exit_code == 1 and "field 'rating'" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user_id": "u1"}\n', encoding="utf-8")
    result = cli("import", str(bad), "--db", db)
    assert result.exit_code == 1 and f"{bad}:1 field 'scenario'" in result.output
    for command in ([], ["add"], ["list"], ["export"], ["import"], ["clear"]):
        help_text = cli(*command, "--help").output
        assert "Usage:" in help_text and "Examples:" in help_text and "promptrec feedback" in help_text
    assert "--db" in cli("add", "--help").output


def test_promptrec_feedback_is_the_same_group_and_defaults_to_the_environments_database(tmp_path, monkeypatch):
    from promptrec.cli import main

    db = tmp_path / "env.sqlite3"
    monkeypatch.setenv("PROMPTREC_FEEDBACK_DB", str(db))
    result = CliRunner().invoke(main, ["feedback", "add", "--user", "u7", "--scenario", "books", "--item", "b1",
                                       "--title", "Dune", "--label", "rating", "--rating", "5", "--timestamp", "0"])
    assert result.exit_code == 0, result.output
    assert f"added rating on b1 (Dune) for u7 (books) to {db}" in result.output
    (record,) = FeedbackStore(db).list("u7")
    assert (record.scenario, record.item_title, record.rating, record.timestamp) == ("books", "Dune", 5.0, 0.0)
    listed = CliRunner().invoke(main, ["feedback", "list"])
    assert listed.exit_code == 0 and "1970-01-01 00:00:00  u7" in listed.output and "rating 5" in listed.output


def test_list_and_export_filter_by_user_and_scenario(tmp_path):
    db = str(tmp_path / "a.sqlite3")
    for user, scenario, item in (("u1", "movies", "m1"), ("u1", "books", "b1"), ("u2", "movies", "m2")):
        assert cli("add", "--db", db, "--user", user, "--scenario", scenario, "--item", item, "--title", item.upper(),
                   "--label", "clicked").exit_code == 0
    listed = cli("list", "--db", db, "--user", "u1", "--scenario", "movies", "--json").output.splitlines()
    assert [json.loads(line)["item_id"] for line in listed] == ["m1"]
    out = tmp_path / "u1.jsonl"
    assert "exported 2 records" in cli("export", str(out), "--db", db, "--user", "u1").output
    assert sorted(json.loads(line)["item_id"] for line in out.read_text().splitlines()) == ["b1", "m1"]
    assert "removed 1 records" in cli("clear", "--db", db, "--user", "u1", "--scenario", "books").output
    assert FeedbackStore(db).count() == 2


def test_a_malformed_import_adds_nothing_and_a_bad_database_is_one_line(tmp_path):
    db = tmp_path / "a.sqlite3"
    good = {"user_id": "u1", "scenario": "movies", "item_id": "m1", "item_title": "M", "label": "liked", "timestamp": 1}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(dict(good, label="adored")) + "\n", encoding="utf-8")
    result = cli("import", str(path), "--db", str(db))
    assert result.exit_code == 1 and f"{path}:2 field 'label'" in result.output
    assert FeedbackStore(db).count() == 0  # all or nothing
    not_a_db = tmp_path / "text.sqlite3"
    not_a_db.write_text("hello, not SQLite\n" * 50)
    result = cli("list", "--db", str(not_a_db))
    assert result.exit_code == 1 and "Traceback" not in result.output and str(not_a_db) in result.output


def test_clear_everyone_asks_first_and_a_yes_deletes(tmp_path):
    db = str(tmp_path / "a.sqlite3")
    for user in ("u1", "u2"):
        cli("add", "--db", db, "--user", user, "--scenario", "news", "--item", "n1", "--title", "N", "--label", "skipped")
    asked = cli("clear", "--db", db, "--scenario", "news", input="y\n")
    assert asked.exit_code == 0 and "Delete the feedback of every user in news" in asked.output
    assert "removed 2 records" in asked.output and FeedbackStore(db).count() == 0


# ---------------------------------------------------------------------------------------- hardening (issue 27)


def test_list_shows_escape_sequences_in_titles_and_comments_as_text(tmp_path):
    db = tmp_path / "f.sqlite3"
    title = "Evil\x1b]0;pwned\x07\x1b[2JMovie\rFake"
    FeedbackStore(db).add("u1", "movies", "m01", "liked", title=title, comment="nice\x1b[31m red")
    listed = cli("list", "--db", str(db))
    assert "Evil" in listed.output and all(ch.isprintable() or ch == "\n" for ch in listed.output)
    as_json = cli("list", "--db", str(db), "--json")  # JSON keeps the text verbatim
    assert json.loads(as_json.output.splitlines()[0])["item_title"] == title
