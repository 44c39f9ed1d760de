"""``promptrec scenarios``."""

from click.testing import CliRunner

from promptrec.cli import main
from promptrec.cli.scenarios import scenarios


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_scenarios_list_and_show(tmp_path):
    result = run("scenarios", "list")
    assert result.exit_code == 0
    assert {line.split()[0] for line in result.output.splitlines()} >= {"default", "movies", "games", "books", "products", "music", "news"}
    result = run("scenarios", "show", "books", "--strategy", "recency")
    assert result.exit_code == 0
    assert '"item_noun": "book"' in result.output and "--- user ---" in result.output and "most recently" in result.output
    result = run("scenarios", "show", "podcasts")
    assert result.exit_code == 1 and "unknown scenario 'podcasts'" in result.output and "movies" in result.output


def test_the_group_runs_alone():
    result = CliRunner().invoke(scenarios, ["list"])
    assert result.exit_code == 0 and "movies" in result.output
