"""The ``promptrec`` command line. Every command is a thin shell over the Python API."""

from __future__ import annotations

import faulthandler
import json
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from promptrec.backends import DEFAULT_BACKEND, backend_kinds
from promptrec.batch import BatchSummary, drop_error_lines, read_requests, run_batch
from promptrec.cache import CompletionCache
from promptrec.config import ConfigError, PipelineConfig, config_from_options
from promptrec.data import Catalog, Item, UserHistory, item_from_title, read_catalog, read_histories
from promptrec.errors import OptionError, PromptrecError, UnknownBackendError
from promptrec.evaluation.cli import eval_command
from promptrec.feedback_cli import feedback_group
from promptrec.openai_batch import export_requests as export_openai_batch_file
from promptrec.openai_batch import import_results as import_openai_batch_file
from promptrec.pipeline import DEFAULT_LLM_WEIGHT, EMBEDDED_LLM_WEIGHT, FUSIONS
from promptrec.progress import progress_bar
from promptrec.ranker import MODES
from promptrec.ranking import Ranking
from promptrec.retrieval.base import DEFAULT_POOL
from promptrec.scenario import STRATEGIES, TEMPLATE_VARIABLES, available_scenarios, load_scenario

#: Candidates taken from the whole catalog when none are given, at most (the pipeline retrieves instead).
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


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _print_table(ranking: Ranking, scores: bool = False) -> None:
    rows = [(str(r.rank), f"[{r.label}]" if r.label else "-", r.item.id,
             *((_number(r.retrieval_score), _number(r.llm_score), _number(r.fused_score)) if scores else ()),
             r.item.title) for r in ranking.items]
    header = ("rank", "label", "id", *(("retrieval", "llm", "fused") if scores else ()), "title")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    if ranking.retriever is not None:
        stage = (f"\nretriever {ranking.retriever} | pool {ranking.pool} | LLM weight {ranking.llm_weight} "
                 f"({ranking.fusion})")
        if ranking.mode == "retrieval":
            stage += " | the LLM was not asked (--llm-weight W lets it rank the pool)"
        if ranking.profile is not None:
            stage += f" | profile: {ranking.profile}"
        click.echo(stage, err=True)
    if ranking.mode == "retrieval":
        return
    report = ranking.report
    notes = [f"answer format: {report.format}" + (f" (structured: {report.structured})" if report.structured else ""), f"{report.valid} candidates named"
             + (f" over {ranking.passes} passes" if ranking.passes > 1 else "")]
    for name in ("duplicates", "hallucinated", "history", "missing"):
        values = getattr(report, name)
        if values:
            notes.append(f"{len(values)} {name}")
    if report.reasks:
        notes.append(f"{report.reasks} re-ask")
    if ranking.history_dropped:
        notes.append(f"{ranking.history_dropped} oldest history items dropped")
    if ranking.feedback_examples or ranking.feedback_cut:
        notes.append(f"{ranking.feedback_examples} feedback examples ({ranking.feedback_cut} cut by the budget)")
    if ranking.demoted:
        notes.append(f"{len(ranking.demoted)} disliked items moved last")
    click.echo(
        f"\n{ranking.backend} | scenario {ranking.scenario} ({ranking.strategy}) | "
        f"{ranking.usage.input_tokens} prompt + {ranking.usage.output_tokens} answer tokens | " + ", ".join(notes),
        err=True,
    )


def _enable_faulthandler() -> None:
    """A native crash (llama.cpp) prints the Python stack where it happened instead of ending silently."""
    try:
        faulthandler.enable(file=sys.__stderr__)
    except (AttributeError, ValueError, OSError):  # no real stderr (a GUI, an embedding host)
        logging.getLogger(__name__).debug("faulthandler not enabled: no stderr file descriptor")


def usage_or_failure(exc: PromptrecError) -> click.ClickException:
    """The click error for a library error: a usage error (exit code 2) for a bad option or combination,
    a failure (exit code 1) for the rest; one line either way, never a traceback."""
    if isinstance(exc, (OptionError, UnknownBackendError, ConfigError)):
        return click.UsageError(str(exc))
    return click.ClickException(str(exc))


class _Commands(click.Group):
    """promptrec's command group: an error a user can cause, in any subcommand, ends as one line that says
    what and where, with exit code 2 (usage) or 1 (failure)."""

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


def _backend_options(func: Any) -> Any:
    options = [
        click.option(
            "--backend",
            "backend_spec",
            default=DEFAULT_BACKEND,
            show_default=True,
            help=f"kind:model. Kinds: {', '.join(backend_kinds())}. 'llamacpp' alone is the bundled model; "
            "'llamacpp:PATH.gguf' any GGUF file; 'openai:MODEL' an OpenAI-compatible API.",
        ),
        click.option("--base-url", help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1."),
        click.option("--api-key", help="API key (default: $OPENAI_API_KEY; a local server needs none)."),
        click.option("--structured", type=click.Choice(["auto", "json_schema", "json_object", "vllm", "ollama", "off"]), help="openai backends, generate mode: hold the answer to a JSON schema of the labels in this dialect; auto tries json_schema, json_object, then free text [default: auto]."),
        click.option("--n-ctx", type=int, help="llama.cpp context window in tokens [default: 4096]."),
        click.option("--threads", type=int, help="llama.cpp CPU threads [default: all cores]."),
        click.option("-O", "--backend-option", "backend_option_pairs", multiple=True, metavar="KEY=VALUE", help="Any option of the backend (repeatable; VALUE is read as JSON, else as text), e.g. -O timeout=30 -O extra_buffers=off; 'promptrec backends' lists each backend's options."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _ranking_options(func: Any) -> Any:
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False), help="A configuration file (.toml or .json, see 'promptrec config show'); options given on the command line override it."),
        click.option("--scenario", default=None, help="Scenario name (see 'promptrec scenarios list') [default: movies with --catalog demo, else default]."),
        click.option("--strategy", type=click.Choice(STRATEGIES), default="sequential", show_default=True, help="LLMRank prompt strategy."),
        click.option("--prompts", "prompts_dirs", multiple=True, type=click.Path(file_okay=False), help="Folder of your own scenarios (repeatable); they override built-ins of the same name."),
        click.option("--constrained/--unconstrained", default=None, help="Force a valid label list with a grammar [default: on where the backend supports it]."),
        click.option("--shuffle/--no-shuffle", default=True, show_default=True, help="Show candidates in a seeded random order."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--temperature", type=float, default=0.0, show_default=True),
        click.option("--cache-dir", type=click.Path(file_okay=False), help="Completion cache folder [default: $PROMPTREC_CACHE_DIR or the user cache folder]."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the completion cache."),
        click.option("--max-attempts", type=click.IntRange(min=1), default=5, show_default=True, help="Tries per request for transient failures (429, 5xx, timeouts)."),
        click.option("--feedback-db", type=click.Path(dir_okay=False), help="Feedback store [default: $PROMPTREC_FEEDBACK_DB or the user data folder]."),
        click.option("--feedback-examples", type=click.IntRange(min=0), default=3, show_default=True, help="The user's feedback records shown in each prompt (0: none)."),
        click.option("--feedback-selection", type=click.Choice(["recent", "similar"]), default="recent", show_default=True, help="Most recent feedback, or the most similar to the candidates."),
        click.option("--cross-scenario", is_flag=True, help="Also use the user's feedback from other scenarios."),
        click.option("--rejected", type=click.Choice(["demote", "remove", "keep"]), default="demote", show_default=True, help="What happens to items the user disliked."),
        click.option("--no-feedback", is_flag=True, help="Ignore the feedback store."),
        click.option("--mode", type=click.Choice(MODES), default="generate", show_default=True, help="generate: the model writes a ranked label list; score: one forward pass, candidates ordered by their label's probability; pointwise: each candidate asked about alone, scored by P(Yes) against P(No) (score and pointwise need log-probabilities)."),
        click.option("--permutations", type=click.IntRange(min=1), default=1, show_default=True, help="Passes in cyclically shifted candidate orders, aggregated (against position bias)."),
        click.option("--calibrate", is_flag=True, help="Score and pointwise modes: divide out the label prior of a content-free prompt."),
        click.option("--window", type=click.IntRange(min=2), help="At most this many candidates per prompt; more go through sliding windows."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: ``rank`` and ``batch`` parameter -> (section, field) of the PipelineConfig (``None``: top level)
CONFIG_FIELDS: dict[str, tuple[str | None, str]] = {
    "scenario": (None, "scenario"), "prompts_dirs": (None, "prompts"),
    "strategy": ("ranker", "strategy"), "constrained": ("ranker", "constrained"), "shuffle": ("ranker", "shuffle"),
    "seed": ("ranker", "seed"), "temperature": ("ranker", "temperature"), "max_attempts": ("ranker", "max_attempts"),
    "mode": ("ranker", "mode"), "permutations": ("ranker", "permutations"), "calibrate": ("ranker", "calibrate"),
    "window": ("ranker", "window"), "cache_dir": ("cache", "dir"), "feedback_db": ("feedback", "db"),
    "feedback_examples": ("feedback", "examples"), "feedback_selection": ("feedback", "selection"),
    "cross_scenario": ("feedback", "cross_scenario"), "rejected": ("feedback", "rejected"),
    "retriever": ("retrieval", "retriever"), "pool": ("retrieval", "pool"), "llm_weight": ("retrieval", "llm_weight"),
    "fusion": ("retrieval", "fusion"), "interactions": ("retrieval", "interactions"),
}


def _retrieval_options(func: Any) -> Any:
    options = [
        click.option("--interactions", type=click.Path(dir_okay=False), help="Without candidates: who interacted with what, for the popularity and co-occurrence retrievers (CSV user_id,item_id[,timestamp][,rating] or MovieLens' ratings.csv; or a histories .jsonl)."),
        click.option("--retriever", default="auto", show_default=True, metavar="NAME", help="Without candidates: how the pool is retrieved from the catalog: auto (cooccurrence with --interactions, else semantic), popularity, cooccurrence, bm25, semantic, profile (the LLM's interest profile as the query of semantic), profile-bm25, or an ensemble such as bm25+semantic."),
        click.option("--pool", type=click.IntRange(min=1), default=DEFAULT_POOL, show_default=True, help="Without candidates: items retrieved from the catalog for the LLM to rank."),
        click.option("--llm-weight", type=click.FloatRange(0.0, 1.0), help=f"Without candidates: the weight of the LLM's scores against the retrieval scores (0: the retriever's order, no LLM call; 1: the LLM's) [default: {EMBEDDED_LLM_WEIGHT} on the bundled model, else {DEFAULT_LLM_WEIGHT}]."),
        click.option("--fusion", type=click.Choice(FUSIONS), default="wsum", show_default=True, help="Without candidates: wsum (weighted sum of min-max normalised scores) or rrf (reciprocal ranks)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def option_given(options: dict[str, Any], name: str) -> bool:
    """Whether the user gave the parameter ``name`` of the running command (not its default)."""
    context = click.get_current_context(silent=True)
    source = context.get_parameter_source(name) if context is not None else None
    if source is None:
        return options.get(name) not in (None, (), False)
    return source is not click.core.ParameterSource.DEFAULT


def command_line_config(options: dict[str, Any], fields: dict[str, tuple[str | None, str]],
                        lenient: bool = False) -> PipelineConfig:
    """``--config FILE`` (if given) with every option the user gave on the command line on top (defaults do
    not override the file). ``fields`` maps parameter names to the configuration's fields."""
    base = PipelineConfig.load(options["config_file"]) if options.get("config_file") else PipelineConfig()
    return config_from_options(base, options, fields, lambda name: option_given(options, name), lenient=lenient)


def pipeline_config(options: dict[str, Any], catalog: str | None = None) -> PipelineConfig:
    """The run's :class:`PipelineConfig` (:func:`command_line_config`), with ``movies`` as the scenario of
    ``--catalog demo`` when none is set."""
    config = command_line_config(options, CONFIG_FIELDS)
    if config.scenario is None and catalog == "demo":
        config = config.updated({"scenario": "movies"})
    return config


@main.command()
@click.option("--catalog", metavar="FILE|demo", help="Catalog (.jsonl or .csv); 'demo' is the bundled demo movies.")
@click.option("--history", "history_ids", multiple=True, metavar="IDS", help="History item ids, oldest first, comma-separated or repeated.")
@click.option("--history-title", "history_titles", multiple=True, metavar="TITLE", help="A history item given by free-text title (repeatable).")
@click.option("--user-file", type=click.Path(dir_okay=False), help="Histories file (.jsonl or .csv) to take --user's history from.")
@click.option("--user", help="User id (in --user-file).")
@click.option("--candidates", "candidate_ids", multiple=True, metavar="IDS", help="Candidate ids from the catalog [default: every catalog item not in the history].")
@click.option("--candidates-file", type=click.Path(dir_okay=False), help="Candidates as a catalog file (.jsonl or .csv).")
@click.option("-k", "--top", "k", type=click.IntRange(min=1), help="Show only the top K.")
@_retrieval_options
@click.option("--scores", "show_scores", is_flag=True, help="Show each stage's score (retrieval, LLM, fused) in the table.")
@_ranking_options
@_backend_options
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
    show_scores: bool,
    show_prompt: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Recommend items from a catalog for one user, or rank the candidates you give.

    Without --candidates the two-stage pipeline runs: a retriever scores the whole catalog and keeps
    the best --pool items, the LLM ranks them, and the two scores are fused with --llm-weight.

    \b
    Examples:
      promptrec rank --catalog demo --history m01,m03,m04 -k 5
      promptrec rank --catalog movies.csv --interactions ratings.csv --history 1,2,3 -k 10
      promptrec rank --catalog items.jsonl --user-file users.jsonl --user u42 --candidates i1,i2,i3
      promptrec rank --catalog demo --history-title "The Matrix" \\
          --backend openai:gpt-4o-mini --json
    """
    try:
        items = _load_catalog(catalog)
        history = _history(items, _split_ids(history_ids), history_titles, user_file, user)
        config = pipeline_config(options, catalog)
        ranker_for = config.rankers()
        if candidate_ids or candidates_file:
            candidates = _candidates(items, _split_ids(candidate_ids), candidates_file, history)
            result = ranker_for(None).rank(history, candidates, k=k)
        else:
            if items is None:
                raise click.UsageError("give --catalog FILE to recommend from (or --candidates-file FILE to rank)")
            result = config.make_recommender(items, ranker_for).recommend(history, k)
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    if show_prompt:
        for message in result.prompt:
            click.echo(f"--- {message['role']} ---\n{message['content']}", err=True)
        click.echo(f"--- answer ---\n{result.raw}\n", err=True)
    if as_json:
        click.echo(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        _print_table(result, show_scores)


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
        raise usage_or_failure(exc) from None


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
        raise usage_or_failure(exc) from None
    for message in messages:
        click.echo(f"--- {message['role']} ---\n{message['content']}")


def _print_summary(summary: BatchSummary) -> None:
    lines = [
        f"requests   {summary.total} ({summary.skipped} done before, {summary.succeeded} ranked, {summary.failed} failed"
        + (", interrupted" if summary.interrupted else "") + ")",
        f"cache hits {summary.cache_hits}   retries {summary.retries}   re-asks {summary.reasks}",
        f"tokens     {summary.input_tokens} in, {summary.output_tokens} out (backend calls only)",
    ]
    if summary.cost is not None:
        lines.append(f"cost       ~{summary.cost:.4f} (at {summary.price_in or 0}/{summary.price_out or 0} per 1M tokens in/out)")
    lines.append(f"time       {summary.wall_seconds:.1f}s, {summary.throughput:.1f} requests/s")
    if summary.errors:
        lines.append("errors     " + ", ".join(f"{name}: {count}" for name, count in sorted(summary.errors.items())))
    click.echo("\n".join(lines), err=True)


@main.command()
@click.argument("input_file", metavar="INPUT.jsonl", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Results file (JSONL), appended to; re-run to resume. With --engine ray also OUT.parquet or a URI (s3://...), written anew.")
@click.option("--catalog", metavar="FILE|demo", help="Catalog for the item ids in the requests.")
@click.option("--workers", type=click.IntRange(min=1), default=8, show_default=True, help="Requests in flight at once; with --engine ray, in each actor (an in-process llama.cpp model still answers one at a time).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="local: threads in this process; ray: a pool of Ray actors (needs the 'ray' extra), which also reads INPUT as .parquet or from any filesystem Ray supports.")
@click.option("--ray-address", metavar="auto|ray://HOST:PORT", help="With --engine ray: the cluster to join ('auto': the one 'ray start --head' runs here; 'ray://...': Ray Client) [default: start a private Ray on this machine].")
@click.option("--actors", type=click.IntRange(min=1), default=2, show_default=True, help="With --engine ray: actors in the pool; each builds its ranker once (an in-process model loads once per actor).")
@click.option("--cpus-per-actor", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="With --engine ray: CPUs Ray reserves per actor (fractions are fine for HTTP backends; give a llama.cpp actor its --threads).")
@click.option("--retry-errors", is_flag=True, help="Drop the error lines of an earlier run from OUTPUT and try those requests again.")
@click.option("--price-in", type=float, help="Price per million input tokens, for the cost estimate.")
@click.option("--price-out", type=float, help="Price per million output tokens, for the cost estimate.")
@click.option("--export-openai-batch", type=click.Path(dir_okay=False), help="Write an OpenAI Batch API request file instead of ranking.")
@click.option("--import-openai-batch", type=click.Path(exists=True, dir_okay=False), help="Read an OpenAI Batch API results file into OUTPUT instead of ranking.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON on stdout.")
@click.option("--interactions", type=click.Path(dir_okay=False), help="Who interacted with what, for requests whose generator is the popularity or cooccurrence retriever (as for 'promptrec rank').")
@_ranking_options
@_backend_options
def batch(
    input_file: str,
    output: str | None,
    catalog: str | None,
    workers: int,
    engine: str,
    ray_address: str | None,
    actors: int,
    cpus_per_actor: float,
    retry_errors: bool,
    price_in: float | None,
    price_out: float | None,
    export_openai_batch: str | None,
    import_openai_batch: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Rank every request of INPUT.jsonl into OUTPUT, concurrently, resumably, one line per request.

    \b
    A request line:
      {"id": "r1", "user_id": "u1", "history": ["m01", "m03"],
       "candidates": ["m02", "m05", "m12"], "k": 10, "scenario": "movies"}
    "candidates" may also be {"generator": "random", "n": 20} (drawn from --catalog), or a
    retriever, {"generator": "semantic", "n": 20, "llm_weight": 0.3}: the pipeline retrieves the
    top n from the whole catalog, the LLM ranks them and the scores are fused (generators:
    auto, popularity, cooccurrence, bm25, semantic, profile, profile-bm25, or A+B ensembles).
    Each output line is {"id", "ok": true, "ranking": {...}} or {"id", "ok": false, "error": {...}}.
    Re-running the same command after a crash or Ctrl-C skips what is done and appends the rest.

    \b
    Examples:
      promptrec batch requests.jsonl -o rankings.jsonl --catalog items.jsonl
      promptrec batch requests.jsonl -o out.jsonl --catalog items.jsonl \\
          --backend openai:gpt-4o-mini --workers 32 --price-in 0.15 --price-out 0.6

    \b
    On Ray (pip install 'promptrec[ray]'): each actor holds one ranker and takes
    --workers requests at once; the driver writes every line, exactly as above.
      promptrec batch requests.jsonl -o out.jsonl --catalog items.jsonl --engine ray --actors 4
      promptrec batch s3://bucket/requests.parquet -o out.jsonl --engine ray \\
          --ray-address auto --backend openai:my-model --base-url http://vllm:8000/v1
    """
    if not output and not export_openai_batch:
        raise click.UsageError("give -o OUTPUT (or --export-openai-batch FILE)")
    config = pipeline_config(options, catalog)
    if engine == "ray":
        if export_openai_batch or import_openai_batch:
            raise click.UsageError("--engine ray ranks; it does not export or import OpenAI Batch API files")
        assert output is not None
        summary = _run_on_ray(input_file, output, catalog, workers, ray_address, actors, cpus_per_actor,
                              retry_errors, config, BatchSummary(price_in=price_in, price_out=price_out))
        _finish_batch(summary, as_json)
        return
    if not Path(input_file).is_file():
        raise click.BadParameter(f"'{input_file}' is not a file", param_hint="'INPUT.jsonl'")
    if export_openai_batch or import_openai_batch:  # the library's Batch API rules (OptionError: exit 2)
        from promptrec.openai_batch import check_request_bodies
        from promptrec.ranker import check_exportable

        check_exportable(config.ranker.mode, config.ranker.permutations, config.ranker.window)
        check_request_bodies(config.backend.spec)  # from the backend's class: before a model loads
    try:
        items = _load_catalog(catalog)
        entries = read_requests(input_file, items)
        ranker_for = config.rankers()
        retrievers = _retriever_set(items, config.retrieval.interactions, ranker_for)
        if export_openai_batch:
            count = export_openai_batch_file(entries, ranker_for, export_openai_batch)
            click.echo(f"wrote {count} Batch API requests to {export_openai_batch}", err=True)
            return
        assert output is not None
        if import_openai_batch:
            summary = import_openai_batch_file(entries, ranker_for, import_openai_batch, output)
        else:
            if retry_errors:
                click.echo(f"dropped {drop_error_lines(output)} error lines from {output}", err=True)
            summary = BatchSummary(price_in=price_in, price_out=price_out)
            summary = _run_with_progress(entries, output, ranker_for, workers, summary, retrievers)
        summary.price_in, summary.price_out = price_in, price_out
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    _finish_batch(summary, as_json)


def _finish_batch(summary: BatchSummary, as_json: bool) -> None:
    """Print the summary (and the JSON one when asked); exit 130 if the run was interrupted."""
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    _print_summary(summary)
    if summary.interrupted:
        sys.exit(130)


def _retriever_set(catalog: Catalog | None, interactions: str | None, ranker_for: Any = None) -> Any:
    """The batch run's retrievers (built on first use), or ``None`` without a catalog."""
    from promptrec.batch import RetrieverSet
    from promptrec.retrieval import read_interactions

    if catalog is None:
        if interactions:
            raise click.UsageError("--interactions needs --catalog")
        return None
    return RetrieverSet(catalog, read_interactions(interactions, catalog) if interactions else None, ranker_for)


def _run_with_progress(entries: list[Any], output: str, ranker_for: Any, workers: int, summary: BatchSummary,
                       retrievers: Any = None) -> BatchSummary:
    from rich.progress import TextColumn

    columns = (TextColumn("{task.fields[rate]}/s"), TextColumn("failed {task.fields[failed]}"))
    with progress_bar(*columns, description="ranking") as progress:
        task = progress.add_task("batch", total=len(entries), rate="0.0", failed=0)

        def update(current: BatchSummary) -> None:
            progress.update(task, completed=current.skipped + current.done, rate=f"{current.throughput:.1f}", failed=current.failed)

        return run_batch(entries, output, ranker_for, workers=workers, on_result=update, summary=summary,
                         retriever_for=retrievers)


def _run_on_ray(
    input_file: str, output: str, catalog: str | None, workers: int, address: str | None, actors: int,
    cpus_per_actor: float, retry_errors: bool, config: PipelineConfig, summary: BatchSummary,
) -> BatchSummary:
    """``batch --engine ray``: the same rankers as the local engine, built once in each actor."""
    from rich.progress import TextColumn

    from promptrec.cache import default_cache_dir
    from promptrec.feedback_store import default_feedback_db
    from promptrec.ray import import_ray, run_ray_batch

    if "://" not in input_file and not Path(input_file).exists():
        raise click.BadParameter(f"'{input_file}' does not exist", param_hint="'INPUT.jsonl'")
    # the driver decides where the cache and feedback live: actors may not see its environment
    config = config.updated({"cache": {"dir": config.cache.dir or str(default_cache_dir())},
                             "feedback": {"db": config.feedback.db or str(default_feedback_db())}})
    if retry_errors and (output.endswith(".parquet") or "://" in output):
        raise click.UsageError("--retry-errors needs a local JSONL OUTPUT")
    columns = (TextColumn("{task.fields[rate]}/s"), TextColumn("failed {task.fields[failed]}"))
    try:
        import_ray()
        for name in ("ray", "ray.data"):  # Ray Data logs every execution at INFO
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
        if retry_errors:
            click.echo(f"dropped {drop_error_lines(output)} error lines from {output}", err=True)
        with progress_bar(*columns, description="ranking on Ray") as progress:
            task = progress.add_task("batch", total=None, rate="0.0", failed=0)

            def update(current: BatchSummary) -> None:
                progress.update(task, completed=current.done, rate=f"{current.throughput:.1f}", failed=current.failed)

            items = _load_catalog(catalog)
            retrievers = _retriever_set(items, config.retrieval.interactions)
            if retrievers is not None and Path(input_file).is_file() and input_file.endswith((".jsonl", ".ndjson")):
                from promptrec.batch import generator_retrievers

                retrievers.prebuild(generator_retrievers(input_file))  # built here once, shipped to actors once
            return run_ray_batch(
                input_file, output, config, catalog=items, retrievers=retrievers,
                address=address, actors=actors, concurrency_per_actor=workers, num_cpus_per_actor=cpus_per_actor,
                on_result=update, summary=summary,
            )
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None


@main.group("config")
def config_group() -> None:
    """Show the configuration a run would use, to save and repeat with --config FILE."""


@config_group.command("show")
@click.option("--catalog", metavar="FILE|demo", help="As for 'promptrec rank' ('demo' makes movies the scenario).")
@_retrieval_options
@_ranking_options
@_backend_options
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


@main.command("backends")
def backends_command() -> None:
    """List the backend kinds (built-in, registered by entry points), their options and capabilities."""
    from promptrec.backends import backend_class, options_model
    from promptrec.backends.base import BaseBackend

    for kind, target in backend_kinds().items():
        try:
            cls = backend_class(kind)
        except PromptrecError as exc:
            click.echo(f"{kind}: {exc}\n")
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        origin = target if isinstance(target, str) else f"{cls.__module__}:{cls.__qualname__}"
        click.echo(f"{kind}  ({origin})" + (f"\n  {doc[0]}" if doc else ""))
        capabilities = [name.removeprefix("supports_") for name in vars(BaseBackend)
                        if name.startswith("supports_") and getattr(cls, name, False)]
        click.echo(f"  capabilities: {', '.join(capabilities) or 'none'}")
        for name, field in options_model(kind).model_fields.items():
            default = "" if field.default is None else f" [default: {field.default}]"
            click.echo(f"  -O {name}=...  {field.description or ''}{default}")
        click.echo("")


@main.group()
def cache() -> None:
    """Inspect or clear the completion cache."""


@cache.command("stats")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache folder [default: $PROMPTREC_CACHE_DIR or the user cache folder].")
def cache_stats(cache_dir: str | None) -> None:
    """Show where the cache is, its entries and its size."""
    stats = CompletionCache(cache_dir).stats()
    click.echo(f"directory  {stats['directory']}\nentries    {stats['entries']}\n"
               f"size       {stats['bytes'] / 2**20:.1f} MiB of {stats['size_limit'] / 2**20:.0f} MiB")


@cache.command("clear")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache folder [default: $PROMPTREC_CACHE_DIR or the user cache folder].")
def cache_clear(cache_dir: str | None) -> None:
    """Remove every cached completion."""
    click.echo(f"removed {CompletionCache(cache_dir).clear()} entries")


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve(server_args: tuple[str, ...]) -> None:
    """Serve a GGUF model over an OpenAI-compatible API (llama-cpp-python's server).

    Takes the arguments of 'python -m llama_cpp.server' (see 'promptrec serve --help'); --model defaults to
    the bundled SmolLM2 GGUF. On CPUs with AMX, models load without llama.cpp's extra buffer types, whose
    AMX kernel crashes (PROMPTREC_LLAMA_EXTRA_BUFFERS=auto|on|off overrides).

    \b
    Example:  promptrec serve --port 8000 --model_alias smollm2
              promptrec rank --catalog demo --history m01 --backend openai:smollm2 --base-url http://127.0.0.1:8000/v1
    """
    from promptrec.backends.local_server import main as serve_main

    try:
        serve_main(list(server_args))
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None


main.add_command(feedback_group)
main.add_command(eval_command, "eval")


if __name__ == "__main__":
    main()
