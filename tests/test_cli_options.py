"""Options that are configuration fields (promptrec.cli.options): one declaration gives the help, the type,
the bounds and the field; each command knows its own."""

import click

from promptrec.cli.options import ConfigOption, command_fields, config_option


def test_config_option_derives_help_type_bounds_and_default_from_the_field():
    @click.command()
    @config_option("retrieval.pool")
    @config_option("feedback.rejected")
    @config_option("eval.protocol", multiple=True)
    @config_option("eval.seed", param="eval_seed")
    def command(**options):
        pass

    params = {p.name: p for p in command.params}
    pool, rejected, protocol, seed = params["pool"], params["rejected"], params["protocol"], params["eval_seed"]
    assert isinstance(pool, ConfigOption) and isinstance(pool.type, click.IntRange) and pool.type.min == 1
    assert pool.default is None and "[default: 20]" in pool.help  # the file and environment stay in force
    assert list(rejected.type.choices) == ["demote", "remove", "keep"]
    assert "replay" in protocol.type.choices and "[default: auto]" in protocol.help  # a repeatable Literal
    assert "[default: 0]" in seed.help
    assert command_fields(command) == {"pool": ("retrieval", "pool"), "rejected": ("feedback", "rejected"),
                                       "protocol": ("eval", "protocol"), "eval_seed": ("eval", "seed")}
