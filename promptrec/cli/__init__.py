"""The ``promptrec`` command line: one module per command, each a thin shell over the Python API.

The shared option groups and helpers are in :mod:`promptrec.cli.common`; this module holds the ``main`` group
and registers the commands.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
from typing import Any

import click

from promptrec.cli.batch import batch
from promptrec.cli.cache import cache
from promptrec.cli.common import demo_catalog_path, pipeline_config, usage_or_failure
from promptrec.cli.config import backends_command, config_group
from promptrec.cli.eval import eval_command
from promptrec.cli.feedback import feedback_group
from promptrec.cli.model import model_group
from promptrec.cli.options import CONFIG_FIELDS, command_line_config, option_given
from promptrec.cli.rank import rank
from promptrec.cli.scenarios import scenarios
from promptrec.cli.serve import serve, serve_model
from promptrec.errors import PromptrecError
from promptrec.safe_output import install_log_redaction


def _enable_faulthandler() -> None:
    """A native crash (llama.cpp) prints the Python stack where it happened instead of ending silently."""
    try:
        faulthandler.enable(file=sys.__stderr__)
    except (AttributeError, ValueError, OSError):  # no real stderr (a GUI, an embedding host)
        logging.getLogger(__name__).debug("faulthandler not enabled: no stderr file descriptor")



#: the verbosity flags, which count wherever they are on the line
_VERBOSE = {"-v": 1, "-vv": 2, "-vvv": 3, "--verbose": 1}


def hoist_verbose(args: list[str]) -> list[str]:
    """``args`` with every ``-v``/``-vv``/``--verbose`` moved in front of the subcommand, so ``promptrec rank
    ... -v`` logs as ``promptrec -v rank ...`` does (nothing after a ``--`` is touched)."""
    flags, rest = [], []
    for index, arg in enumerate(args):
        if arg == "--":
            rest += args[index:]
            break
        (flags if arg in _VERBOSE else rest).append(arg)
    return flags + rest


class _Commands(click.Group):
    """promptrec's command group: an error a user can cause, in any subcommand, ends as one line that says
    what and where, with exit code 2 (usage) or 1 (failure); ``-v`` counts anywhere on the line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_verbose(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PromptrecError as exc:
            raise usage_or_failure(exc) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise click.ClickException(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug).")
@click.version_option(package_name="promptrec")
def main(verbose: int) -> None:
    """Zero-shot recommendation by prompting an LLM.

    Rank candidate items for a user from their history, with a local GGUF model (the bundled
    SmolLM2-135M-Instruct by default) or any OpenAI-compatible API.

    \b
    Try:  promptrec rank --catalog demo --history m01,m03,m04 -k 5
    """
    _enable_faulthandler()
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:  # also for libraries that set their own loggers to DEBUG (bm25s)
        handler.setLevel(level)
    install_log_redaction()  # no log line carries an API key or a URL's user:pass@



for command in (rank, scenarios, batch, config_group, backends_command, cache, serve, serve_model, feedback_group, model_group):
    main.add_command(command)
main.add_command(eval_command, "eval")
main.add_command(__import__("promptrec.cli.index", fromlist=["index_group"]).index_group)

__all__ = ["CONFIG_FIELDS", "command_line_config", "demo_catalog_path", "main", "option_given", "pipeline_config",
           "usage_or_failure"]


if __name__ == "__main__":
    main()
