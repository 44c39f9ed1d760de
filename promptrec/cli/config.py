"""``promptrec config show`` and ``promptrec backends``: the configuration a run would use, and the backends
it can use."""

from __future__ import annotations

import json
from typing import Any

import click

from promptrec.backends import backend_kinds
from promptrec.cli.common import backend_options, data_options, pipeline_config, ranking_options, retrieval_options
from promptrec.config import PipelineConfig
from promptrec.errors import PromptrecError


@click.group("config")
def config_group() -> None:
    """Show the configuration a run would use, to save and repeat with --config FILE."""


@config_group.command("show", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
@click.argument("command_line", nargs=-1, type=click.UNPROCESSED, metavar="[COMMAND [ARGS]...]")
@click.option("--catalog", metavar="FILE|demo", help="As for 'promptrec rank' ('demo' makes movies the scenario).")
@retrieval_options
@data_options
@ranking_options
@backend_options
@click.option("--json", "as_json", is_flag=True, help="JSON instead of TOML.")
@click.option("--secrets", is_flag=True, help="Include secret options (an API key).")
def config_show(command_line: tuple[str, ...], catalog: str | None, as_json: bool, secrets: bool,
                **options: Any) -> None:
    """Print the configuration that --config FILE and these options give, or that any command line after
    them would run with (nothing is loaded or run).

    \b
    Examples:
      promptrec config show --backend openai:gpt-4o-mini --mode score > run.toml
      promptrec rank --config run.toml --catalog items.jsonl --history i1,i2
      promptrec config show batch requests.jsonl -o out.jsonl --workers 4 --mode score
      promptrec config show eval -d movielens --no-llm
    """
    config = _config_of(command_line) if command_line else pipeline_config(options, catalog)
    click.echo(json.dumps(config.to_dict(secrets), indent=2) if as_json else config.to_toml(secrets), nl=as_json)


def _config_of(command_line: tuple[str, ...]) -> PipelineConfig:
    """The configuration a promptrec command line would run with, read by that command's own parser (nothing
    runs); ``eval``: that of its first LLM."""
    root = click.get_current_context().find_root()
    command: click.Command = root.command
    args, path = list(command_line), ["promptrec"]
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        found = command.get_command(root, args[0])
        if found is None:
            raise click.UsageError(f"no such command: {' '.join([*path[1:], args[0]])}")
        path.append(args.pop(0))
        command = found
    if isinstance(command, click.Group):
        raise click.UsageError(f"'{' '.join(path)}' needs a command: {', '.join(command.list_commands(root))}")
    with command.make_context(path[-1], args, parent=root) as context:  # the current context while parsing
        options = dict(context.params)
        if command.name == "eval":
            from promptrec.cli.eval import eval_settings, llm_configs

            return llm_configs(eval_settings(options))[0]  # type: ignore[no-any-return]
        catalog = options.get("catalog") or options.get("catalog_path")
        return pipeline_config(options, catalog if isinstance(catalog, str) else None)


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print the kinds, options and capabilities as JSON.")
def backends_command(as_json: bool) -> None:
    """List the backend kinds (built-in, registered by entry points), their options and capabilities."""
    from promptrec.backends import backend_class, options_model
    from promptrec.backends.base import BaseBackend

    listed = []
    for kind, target in backend_kinds().items():
        try:
            cls = backend_class(kind)
        except PromptrecError as exc:
            listed.append({"kind": kind, "error": str(exc)})
            if not as_json:
                click.echo(f"{kind}: {exc}\n")
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        origin = target if isinstance(target, str) else f"{cls.__module__}:{cls.__qualname__}"
        capabilities = [name.removeprefix("supports_") for name in vars(BaseBackend)
                        if name.startswith("supports_") and getattr(cls, name, False)]
        fields = options_model(kind).model_fields
        listed.append({"kind": kind, "origin": origin, "description": doc[0] if doc else "",
                       "capabilities": capabilities,
                       "options": {name: {"description": field.description or "",
                                          "default": None if field.default is None else str(field.default)}
                                   for name, field in fields.items()}})
        if as_json:
            continue
        click.echo(f"{kind}  ({origin})" + (f"\n  {doc[0]}" if doc else ""))
        click.echo(f"  capabilities: {', '.join(capabilities) or 'none'}")
        for name, field in fields.items():
            default = "" if field.default is None else f" [default: {field.default}]"
            click.echo(f"  -O {name}=...  {field.description or ''}{default}")
        click.echo("")
    if as_json:
        click.echo(json.dumps(listed, indent=2))

