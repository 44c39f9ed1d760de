"""``promptrec config show`` and ``promptrec backends``."""

from click.testing import CliRunner

from promptrec.cli.config import backends_command, config_group


def test_config_show_prints_the_options_given():
    result = CliRunner().invoke(config_group, ["show", "--mode", "score", "--pool", "30"])
    assert result.exit_code == 0
    assert 'mode = "score"' in result.output and "pool = 30" in result.output


def test_backends_lists_the_built_in_kinds():
    result = CliRunner().invoke(backends_command)
    assert result.exit_code == 0 and "llamacpp" in result.output and "openai" in result.output
