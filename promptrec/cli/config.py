"""``promptrec config show`` and ``promptrec backends``: the configuration a run would use, and the backends
it can use."""

from __future__ import annotations

import json
from typing import Any

import click

from promptrec.backends import backend_kinds
from promptrec.cli.common import backend_options, data_options, pipeline_config, ranking_options, retrieval_options
from promptrec.errors import PromptrecError


@click.group("config")
def config_group() -> None:
    """Show the configuration a run would use, to save and repeat with --config FILE."""


@config_group.command("show")
@click.option("--catalog", metavar="FILE|demo", help="As for 'promptrec rank' ('demo' makes movies the scenario).")
@retrieval_options
@data_options
@ranking_options
@backend_options
@click.option("--json", "as_json", is_flag=True, help="JSON instead of TOML.")
@click.option("--secrets", is_flag=True, help="Include secret options (an API key).")
def config_show(catalog: str | None, as_json: bool, secrets: bool, **options: Any) -> None:
    """Print the configuration that --config FILE and these options give (nothing is loaded).

    \b
    Examples:
      promptrec config show --backend openai:gpt-4o-mini --mode score > run.toml
      promptrec rank --config run.toml --catalog items.jsonl --history i1,i2
    """
    config = pipeline_config(options, catalog)
    click.echo(json.dumps(config.to_dict(secrets), indent=2) if as_json else config.to_toml(secrets), nl=as_json)


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

