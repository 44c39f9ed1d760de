"""``promptrec scenarios``: list and inspect the prompt templates of each domain."""

from __future__ import annotations

import json
from typing import Any

import click

from promptrec.cli.common import configured, demo_catalog_path, usage_or_failure
from promptrec.cli.options import config_file_option, config_option
from promptrec.data import read_catalog
from promptrec.errors import PromptrecError
from promptrec.scenario import STRATEGIES, TEMPLATE_VARIABLES, available_scenarios, load_scenario


@click.group()
def scenarios() -> None:
    """List and inspect scenarios (prompt templates per domain)."""


def _prompts_option(func: Any) -> Any:
    func = config_option("prompts", "--prompts", param="prompts_dirs", multiple=True,
                         type=click.Path(file_okay=False))(func)
    return config_file_option(func)


@scenarios.command("list")
@_prompts_option
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (name, description, folder).")
def scenarios_list(as_json: bool, **options: Any) -> None:
    """List the available scenarios and where each comes from."""
    prompts_dirs = configured(options).prompts
    try:
        found = available_scenarios(prompts_dirs)
        listed = [{"name": name, "description": load_scenario(name, prompts_dirs).spec.description, "folder": str(folder)}
                  for name, folder in found.items()]
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    for entry in listed:
        click.echo(f"{entry['name']:<10} {entry['description']}  [{entry['folder']}]")


@scenarios.command("show")
@click.argument("name")
@_prompts_option
@config_option("ranker.strategy", type=click.Choice(STRATEGIES))
@click.option("--json", "as_json", is_flag=True, help="Print the spec, template files and the sample prompt as one JSON object.")
def scenarios_show(name: str, as_json: bool, **options: Any) -> None:
    """Show a scenario's spec, its template files and a sample rendered prompt."""
    from promptrec.ranker import answer_instruction

    config = configured(options)
    prompts_dirs, strategy = config.prompts, config.ranker.strategy
    try:
        loaded = load_scenario(name, prompts_dirs)
        if not as_json:
            click.echo(json.dumps(loaded.spec.model_dump(), indent=2))
            click.echo(f"templates: {loaded.template_files}")
            click.echo(f"template variables: {', '.join(TEMPLATE_VARIABLES)}\n")
        catalog = read_catalog(demo_catalog_path())
        history = catalog.resolve(["m01", "m03", "m04"])
        labelled = list(zip("ABC", catalog.resolve(["m09", "m12", "m14"])))
        messages = loaded.render(history, labelled, strategy=strategy, answer_format=answer_instruction("ABC"))  # type: ignore[arg-type]
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    if as_json:
        click.echo(json.dumps({"spec": loaded.spec.model_dump(), "templates": loaded.template_files,
                               "template_variables": list(TEMPLATE_VARIABLES), "sample": messages}, indent=2, default=str))
        return
    for message in messages:
        click.echo(f"--- {message['role']} ---\n{message['content']}")

