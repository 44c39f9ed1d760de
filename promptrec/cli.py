"""The ``promptrec`` command line. Every command is a thin shell over the Python API."""

from __future__ import annotations

import json
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from promptrec.backends import DEFAULT_BACKEND, KINDS, get_backend
from promptrec.data import Catalog, Item, UserHistory, item_from_title, read_catalog, read_histories
from promptrec.errors import PromptrecError
from promptrec.ranker import Ranker
from promptrec.ranking import Ranking
from promptrec.scenario import STRATEGIES, TEMPLATE_VARIABLES, available_scenarios, load_scenario

#: Candidates taken from the whole catalog when none are given, at most.
MAX_IMPLICIT_CANDIDATES = 50


def demo_catalog_path() -> Path:
    """The bundled demo catalog: 24 well-known movies, written for promptrec."""
    return Path(str(resources.files("promptrec.demo").joinpath("movies.jsonl")))


def _split_ids(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _load_catalog(value: str | None) -> Catalog | None:
    if value is None:
        return None
    return read_catalog(demo_catalog_path() if value == "demo" else value)


def _history(
    catalog: Catalog | None, ids: list[str], titles: tuple[str, ...], user_file: str | None, user: str | None
) -> UserHistory:
    if user_file:
        if not user:
            raise click.UsageError("--user-file needs --user ID")
        histories = read_histories(user_file, catalog)
        if user not in histories:
            raise click.UsageError(f"user '{user}' is not in {user_file} ({len(histories)} users there)")
        history = histories[user]
    else:
        history = UserHistory(user_id=user or "anonymous")
    items = list(history.items)
    if ids:
        if catalog is None:
            raise click.UsageError("--history takes item ids from a catalog: add --catalog FILE (or --catalog demo)")
        items += catalog.resolve(ids)
    items += [item_from_title(title, catalog) for title in titles]
    return UserHistory.from_items(items, user_id=history.user_id)


def _candidates(catalog: Catalog | None, ids: list[str], file: str | None, history: UserHistory) -> list[Item]:
    if file:
        return list(read_catalog(file).values())
    if ids:
        if catalog is None:
            raise click.UsageError("--candidates takes item ids from a catalog: add --catalog FILE")
        return catalog.resolve(ids)
    if catalog is None:
        raise click.UsageError("give candidates: --candidates IDS with --catalog, or --candidates-file FILE")
    seen = {item.id for item in history.items}
    remaining = [item for item_id, item in catalog.items() if item_id not in seen]
    if len(remaining) > MAX_IMPLICIT_CANDIDATES:
        raise click.UsageError(
            f"the catalog has {len(remaining)} items besides the history; choose at most "
            f"{MAX_IMPLICIT_CANDIDATES} with --candidates or --candidates-file"
        )
    return remaining


def _print_table(ranking: Ranking) -> None:
    rows = [(str(r.rank), f"[{r.label}]", r.item.id, r.item.title) for r in ranking.items]
    header = ("rank", "label", "id", "title")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    report = ranking.report
    notes = [f"answer format: {report.format}", f"{report.valid} candidates named"]
    for name in ("duplicates", "hallucinated", "history", "missing"):
        values = getattr(report, name)
        if values:
            notes.append(f"{len(values)} {name}")
    if report.reasks:
        notes.append(f"{report.reasks} re-ask")
    if ranking.history_dropped:
        notes.append(f"{ranking.history_dropped} oldest history items dropped")
    click.echo(
        f"\n{ranking.backend} | scenario {ranking.scenario} ({ranking.strategy}) | "
        f"{ranking.usage.input_tokens} prompt + {ranking.usage.output_tokens} answer tokens | " + ", ".join(notes),
        err=True,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug).")
@click.version_option(package_name="promptrec")
def main(verbose: int) -> None:
    """Zero-shot recommendation by prompting an LLM.

    Rank candidate items for a user from their history, with a local GGUF model (the bundled
    SmolLM2-135M-Instruct by default) or any OpenAI-compatible API.

    \b
    Try:  promptrec rank --catalog demo --history m01,m03,m04 -k 5
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _backend_options(func: Any) -> Any:
    options = [
        click.option(
            "--backend",
            "backend_spec",
            default=DEFAULT_BACKEND,
            show_default=True,
            help=f"kind:model. Kinds: {', '.join(KINDS)}. 'llamacpp' alone is the bundled model; "
            "'llamacpp:PATH.gguf' any GGUF file; 'openai:MODEL' an OpenAI-compatible API.",
        ),
        click.option("--base-url", help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1."),
        click.option("--api-key", help="API key (default: $OPENAI_API_KEY; a local server needs none)."),
        click.option("--n-ctx", type=int, help="llama.cpp context window in tokens [default: 4096]."),
        click.option("--threads", type=int, help="llama.cpp CPU threads [default: all cores]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@click.option("--catalog", metavar="FILE|demo", help="Catalog (.jsonl or .csv); 'demo' is the bundled demo movies.")
@click.option("--history", "history_ids", multiple=True, metavar="IDS", help="History item ids, oldest first, comma-separated or repeated.")
@click.option("--history-title", "history_titles", multiple=True, metavar="TITLE", help="A history item given by free-text title (repeatable).")
@click.option("--user-file", type=click.Path(dir_okay=False), help="Histories file (.jsonl or .csv) to take --user's history from.")
@click.option("--user", help="User id (in --user-file).")
@click.option("--candidates", "candidate_ids", multiple=True, metavar="IDS", help="Candidate ids from the catalog [default: every catalog item not in the history].")
@click.option("--candidates-file", type=click.Path(dir_okay=False), help="Candidates as a catalog file (.jsonl or .csv).")
@click.option("-k", "--top", "k", type=click.IntRange(min=1), help="Show only the top K.")
@click.option("--scenario", default=None, help="Scenario name (see 'promptrec scenarios list') [default: movies with --catalog demo, else default].")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="sequential", show_default=True, help="LLMRank prompt strategy.")
@click.option("--prompts", "prompts_dirs", multiple=True, type=click.Path(file_okay=False), help="Folder of your own scenarios (repeatable); they override built-ins of the same name.")
@_backend_options
@click.option("--constrained/--unconstrained", default=None, help="Force a valid label list with a grammar [default: on where the backend supports it].")
@click.option("--shuffle/--no-shuffle", default=True, show_default=True, help="Show candidates in a seeded random order.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--show-prompt", is_flag=True, help="Print the rendered prompt to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole Ranking as JSON.")
def rank(
    catalog: str | None,
    history_ids: tuple[str, ...],
    history_titles: tuple[str, ...],
    user_file: str | None,
    user: str | None,
    candidate_ids: tuple[str, ...],
    candidates_file: str | None,
    k: int | None,
    scenario: str | None,
    strategy: str,
    prompts_dirs: tuple[str, ...],
    backend_spec: str,
    base_url: str | None,
    api_key: str | None,
    n_ctx: int | None,
    threads: int | None,
    constrained: bool | None,
    shuffle: bool,
    seed: int,
    temperature: float,
    show_prompt: bool,
    as_json: bool,
) -> None:
    """Rank candidate items for one user.

    \b
    Examples:
      promptrec rank --catalog demo --history m01,m03,m04 -k 5
      promptrec rank --catalog items.jsonl --user-file users.jsonl --user u42 --candidates i1,i2,i3
      promptrec rank --catalog demo --history-title "The Matrix" \\
          --backend openai:gpt-4o-mini --json
    """
    try:
        items = _load_catalog(catalog)
        history = _history(items, _split_ids(history_ids), history_titles, user_file, user)
        candidates = _candidates(items, _split_ids(candidate_ids), candidates_file, history)
        scenario_name = scenario or ("movies" if catalog == "demo" else "default")
        loaded = load_scenario(scenario_name, prompts_dirs)
        options: dict[str, Any] = {"base_url": base_url, "api_key": api_key, "n_ctx": n_ctx, "n_threads": threads}
        kind = backend_spec.partition(":")[0]
        if kind == "llamacpp":
            options.update(base_url=None, api_key=None, seed=seed)
        else:
            options.update(n_ctx=None, n_threads=None)
        backend = get_backend(backend_spec, **options)
        ranker = Ranker(
            backend, loaded, strategy=strategy, constrained=constrained, shuffle=shuffle,  # type: ignore[arg-type]
            seed=seed, temperature=temperature,
        )
        result = ranker.rank(history, candidates, k=k)
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None
    if show_prompt:
        for message in result.prompt:
            click.echo(f"--- {message['role']} ---\n{message['content']}", err=True)
        click.echo(f"--- answer ---\n{result.raw}\n", err=True)
    if as_json:
        click.echo(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        _print_table(result)


@main.group()
def scenarios() -> None:
    """List and inspect scenarios (prompt templates per domain)."""


@scenarios.command("list")
@click.option("--prompts", "prompts_dirs", multiple=True, type=click.Path(file_okay=False), help="Folder of your own scenarios (repeatable).")
def scenarios_list(prompts_dirs: tuple[str, ...]) -> None:
    """List the available scenarios and where each comes from."""
    try:
        found = available_scenarios(prompts_dirs)
        for name, folder in found.items():
            spec = load_scenario(name, prompts_dirs).spec
            click.echo(f"{name:<10} {spec.description}  [{folder}]")
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None


@scenarios.command("show")
@click.argument("name")
@click.option("--prompts", "prompts_dirs", multiple=True, type=click.Path(file_okay=False), help="Folder of your own scenarios (repeatable).")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="sequential", show_default=True)
def scenarios_show(name: str, prompts_dirs: tuple[str, ...], strategy: str) -> None:
    """Show a scenario's spec, its template files and a sample rendered prompt."""
    from promptrec.ranker import answer_instruction

    try:
        loaded = load_scenario(name, prompts_dirs)
        click.echo(json.dumps(loaded.spec.model_dump(), indent=2))
        click.echo(f"templates: {loaded.template_files}")
        click.echo(f"template variables: {', '.join(TEMPLATE_VARIABLES)}\n")
        catalog = read_catalog(demo_catalog_path())
        history = catalog.resolve(["m01", "m03", "m04"])
        labelled = list(zip("ABC", catalog.resolve(["m09", "m12", "m14"])))
        messages = loaded.render(history, labelled, strategy=strategy, answer_format=answer_instruction("ABC"))  # type: ignore[arg-type]
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None
    for message in messages:
        click.echo(f"--- {message['role']} ---\n{message['content']}")
