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
