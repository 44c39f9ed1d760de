import json

import pytest
from click.testing import CliRunner

from promptrec.cli import main
from promptrec.cli.rank import MAX_IMPLICIT_CANDIDATES


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--catalog", "demo", "--history", "m01,zz"], "not in the catalog"),
        (["--history", "m01"], "add --catalog"),
        (["--catalog", "demo", "--history", "m01", "--scenario", "nope"], "available scenarios"),
        (["--catalog", "demo", "--history", "m01", "--backend", "magic"], "known kinds: llamacpp, openai"),
        (["--catalog", "missing.jsonl", "--history", "m01"], "missing.jsonl: file not found"),
        (["--catalog", "demo", "--user-file", "u.jsonl"], "--user-file needs --user"),
        (["--catalog", "demo", "--history", "m01", "--backend", "llamacpp:/nonexistent/model.gguf"], "model file not found"),
    ],
)
def test_rank_errors_are_clear(args, words):
    result = run("rank", *args)
    assert result.exit_code != 0
    assert words in result.output


@pytest.mark.model
def test_rank_from_files(tmp_path):
    (tmp_path / "items.csv").write_text("id,title,author\nb1,Dune,Frank Herbert\nb2,Emma,Jane Austen\nb3,Neuromancer,William Gibson\n")
    (tmp_path / "users.jsonl").write_text('{"user_id": "u7", "history": ["b1"]}\n')
    result = run(
        "rank", "--catalog", str(tmp_path / "items.csv"), "--user-file", str(tmp_path / "users.jsonl"),
        "--user", "u7", "--scenario", "books", "--json", "--show-prompt", "--llm-weight", "1",
    )
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)
    assert sorted(r["item"]["id"] for r in ranking["items"]) == ["b2", "b3"]
    assert ranking["scenario"] == "books" and ranking["user_id"] == "u7"
    assert '"Dune" (Frank Herbert)' in ranking["prompt"][1]["content"]
    assert "--- answer ---" in result.stderr


def test_rank_demo_table_the_readme_main_job():
    """The README's main job: the embedded default's measured weight is 0, so the retriever's order, no model."""
    result = run("rank", "--catalog", "demo", "--history", "m01,m03,m04", "-k", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["rank", "label", "id", "title"]
    assert [line.split()[0] for line in lines[1:6]] == ["1", "2", "3", "4", "5"]
    assert "Aliens" in result.stdout and "Terminator 2" in result.stdout  # science fiction for a sci-fi fan
    assert "LLM weight 0.0" in result.stderr and "the LLM was not asked" in result.stderr


@pytest.mark.model
def test_rank_demo_table_on_the_embedded_model():
    result = run("rank", "--catalog", "demo", "--history", "m01,m03,m04", "-k", "5", "--llm-weight", "0.5", "--scores")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["rank", "label", "id", "retrieval", "llm", "fused", "title"]
    assert [line.split()[0] for line in lines[1:6]] == ["1", "2", "3", "4", "5"]
    assert "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf | scenario movies" in result.stderr


@pytest.mark.model
def test_rank_free_text_history_json():
    result = run("rank", "--catalog", "demo", "--history-title", "the matrix", "--history-title", "Solaris", "--json",
                 "--llm-weight", "0.3")
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)
    # the pipeline's pool of 20 from the 23 catalog items left once The Matrix is removed (Solaris is not in it)
    assert len(ranking["items"]) == 20 and "m01" not in [r["item"]["id"] for r in ranking["items"]]
    assert ranking["retriever"] == "semantic" and ranking["pool"] == 20
    assert ranking["history_used"] == 2 and '"Solaris"' in ranking["prompt"][1]["content"]


@pytest.mark.server
def test_rank_against_the_server(llama_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run("rank", "--catalog", "demo", "--history", "m02,m05", "--candidates", "m12,m17,m23,m06",
                 "--backend", "openai:smollm2", "--base-url", llama_server, "--json")
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)
    assert sorted(r["item"]["id"] for r in ranking["items"]) == ["m06", "m12", "m17", "m23"]


def test_rank_without_candidates_or_a_catalog_says_what_to_give():
    result = run("rank", "--candidates-file", "missing.jsonl")
    assert result.exit_code != 0
    assert MAX_IMPLICIT_CANDIDATES == 50


# ------------------------------------------------------------------------ issue 28: your data, your habits


def test_your_own_columns_and_titles_as_history(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "items.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Action\n"
                                        "3,Up (2009),Animation\n4,Ronin (1998),Action\n")
    result = run("rank", "--catalog", str(tmp_path / "items.csv"), "--id-col", "movieId", "--title-col", "title",
                 "--history", "1,2", "-k", "1", "--json", "--no-feedback")
    assert json.loads(result.stdout)["items"][0]["item"]["id"] in {"3", "4"}
    (tmp_path / "films.tsv").write_text("film\tname\tgenres\nf1\tToy Story\tAnimation\nf2\tUp\tAnimation\nf3\tHeat\tAction\n")
    by_title = run("rank", "--catalog", str(tmp_path / "films.tsv"), "--id-col", "film", "--title-col", "name",
                   "--history", "toy story", "-k", "2", "--json", "--no-feedback")
    ranking = json.loads(by_title.stdout)
    assert [r["item"]["id"] for r in ranking["items"]] and "f1" not in [r["item"]["id"] for r in ranking["items"]]
    missing = CliRunner().invoke(main, ["rank", "--catalog", str(tmp_path / "films.tsv"), "--history", "f1"])
    assert missing.exit_code == 1
    assert "missing column 'id' (or item_id, movieId, itemId); the columns are: film, name, genres" in missing.output


def test_user_without_a_source_is_an_error(tmp_path):
    result = CliRunner().invoke(main, ["rank", "--catalog", "demo", "--user", "u7", "--feedback-db", str(tmp_path / "fb.db")])
    assert result.exit_code == 2 and "--user u7 gives no history: no feedback is stored for them" in result.output
    off = CliRunner().invoke(main, ["rank", "--catalog", "demo", "--user", "u7", "--no-feedback"])
    assert off.exit_code == 2 and "feedback is off" in off.output


def test_k_above_what_can_be_returned_is_said(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["rank", "--catalog", "demo", "--history", "m01", "-k", "50", "--no-feedback"])
    assert result.exit_code == 0 and len(result.stdout.strip().splitlines()) == 21  # a header and the pool of 20
    assert "note: -k 50 asked for more than the 20 items this ranking has (the pool is 20 items: --pool 50 retrieves more)" in result.stderr


# ---------------------------------------------------------------------------------------- hardening (issue 27)


@pytest.mark.parametrize(("args", "words"), [
    (["--catalog", "demo", "--history", "m01", "--candidates", "m02", "--candidates-file", "x.jsonl"], "not both"),
    (["--catalog", "demo", "--history-title", ""], "title must not be empty"),
    (["--catalog", "demo", "--history-title", "   "], "title must not be empty"),
])
def test_contradictory_or_empty_inputs_are_clear_errors(args, words):
    result = CliRunner().invoke(main, ["rank", *args])
    assert result.exit_code in (1, 2) and words in result.output and "Traceback" not in result.output


def test_json_keeps_a_hostile_title_verbatim_and_the_table_neutralises_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    title = "Evil \x1b]0;pwned\x07\x1b[2JMovie"
    catalog = tmp_path / "c.jsonl"
    catalog.write_text("".join(json.dumps({"id": f"m{i}", "title": t}) + "\n"
                               for i, t in enumerate(["Alien", "Aliens", title, "Heat"])))
    common = ["rank", "--catalog", str(catalog), "--history", "m0", "--retriever", "bm25", "--llm-weight", "0", "--no-feedback"]
    as_json = CliRunner().invoke(main, [*common, "--json"])
    table = CliRunner().invoke(main, common)
    assert as_json.exit_code == 0 and table.exit_code == 0, as_json.output + table.output
    assert title in {entry["item"]["title"] for entry in json.loads(as_json.stdout)["items"]}
    assert "Evil" in table.stdout and "\x1b" not in table.stdout and "\x07" not in table.stdout


def test_the_loop_from_the_command_line_dislike_like_cold_start_and_query(tmp_path, monkeypatch):
    """Issue 22's checks: a dislike leaves the top 5, a liked animated film brings animated films in, a cold
    start names its fallback, and a query in the user's own words finds animated films."""
    monkeypatch.setenv("PROMPTREC_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))
    runner = CliRunner()
    animated = {"m05", "m08", "m12", "m17", "m23"}

    def top(*extra):
        result = runner.invoke(main, ["rank", "--catalog", "demo", "--history", "m01,m03,m04", "-k", "5", "--json",
                                      *extra])
        assert result.exit_code == 0, result.output
        return [item["item"]["id"] for item in json.loads(result.stdout)["items"]]

    before = top()
    added = runner.invoke(main, ["feedback", "add", "--user", "u9", "--item", "m11", "--label", "disliked",
                                 "--catalog", "demo"])
    assert added.exit_code == 0 and "Aliens" in added.output
    assert "m11" not in top("--user", "u9") and "m11" not in top("--user", "u9", "--rejected", "remove")
    runner.invoke(main, ["feedback", "add", "--user", "u9", "--item", "m02", "--label", "liked", "--catalog", "demo"])
    liked = top("--user", "u9")
    assert liked != before and animated & set(liked)
    cold = runner.invoke(main, ["rank", "--catalog", "demo", "-k", "3"])
    assert cold.exit_code == 0 and "fallback" in cold.stderr and "diverse" in cold.stderr
    query = runner.invoke(main, ["rank", "--catalog", "demo", "--query", "animated family film", "-k", "3", "--json"])
    ids = {item["item"]["id"] for item in json.loads(query.stdout)["items"]}
    assert len(ids & (animated | {"m02"})) >= 2
    unknown = runner.invoke(main, ["feedback", "add", "--user", "u9", "--item", "zz", "--label", "liked",
                                   "--catalog", "demo"])
    assert unknown.exit_code == 2 and "'zz' is not in the catalog demo" in unknown.output
    nan = runner.invoke(main, ["feedback", "add", "--user", "u9", "--item", "m01", "--label", "liked",
                               "--catalog", "demo", "--timestamp", "nan"])
    assert nan.exit_code == 2 and "not a finite number" in nan.output
