"""The command group: every command answers --help, and is registered once."""

from click.testing import CliRunner

from promptrec.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_everywhere():
    for command in ([], ["rank"], ["scenarios"], ["scenarios", "list"], ["scenarios", "show"]):
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "--backend" in run("rank", "--help").output


def test_every_command_is_registered():
    assert {"rank", "batch", "scenarios", "config", "backends", "cache", "serve", "feedback", "eval"} <= set(main.commands)


def test_verbose_counts_anywhere_on_the_line():
    from promptrec.cli import hoist_verbose

    assert hoist_verbose(["rank", "--catalog", "demo", "-vv"]) == ["-vv", "rank", "--catalog", "demo"]
    assert hoist_verbose(["-v", "scenarios", "list", "--verbose"]) == ["-v", "--verbose", "scenarios", "list"]
    assert hoist_verbose(["rank", "--", "-v"]) == ["rank", "--", "-v"]
    result = run("scenarios", "list", "-vv")
    assert result.exit_code == 0 and "movies" in result.output


def test_json_on_every_command_that_prints_results(tmp_path):
    import json

    assert {s["name"] for s in json.loads(run("scenarios", "list", "--json").stdout)} >= {"default", "movies"}
    shown = json.loads(run("scenarios", "show", "movies", "--json").stdout)
    assert shown["spec"]["attributes"] == ["year", "genres"] and shown["sample"][0]["role"] == "system"
    assert json.loads(run("cache", "stats", "--cache-dir", str(tmp_path), "--json").stdout)["entries"] == 0
    assert json.loads(run("cache", "clear", "--cache-dir", str(tmp_path), "--json").stdout) == {"removed": 0}
    kinds = {b["kind"]: b for b in json.loads(run("backends", "--json").stdout)}
    assert "n_ctx" in kinds["llamacpp"]["options"] and "base_url" in kinds["openai"]["options"]
    config = json.loads(run("config", "show", "--id-col", "movieId", "--text-cols", "genres,year", "--json").stdout)
    assert config["data"]["id_col"] == "movieId" and config["data"]["text_cols"] == ["genres", "year"]
