"""What every command shares: the demo catalog, reading ids and catalogs, the option groups that build a
:class:`~promptrec.config.PipelineConfig`, and turning library errors into one-line click errors."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import click

from promptrec.backends import DEFAULT_BACKEND, backend_kinds
from promptrec.config import ConfigError, PipelineConfig, config_from_options
from promptrec.data import Catalog, Columns, read_catalog
from promptrec.errors import OptionError, PromptrecError, UnknownBackendError
from promptrec.pipeline import DEFAULT_LLM_WEIGHT, EMBEDDED_LLM_WEIGHT, FUSIONS
from promptrec.ranker import MODES
from promptrec.retrieval.base import DEFAULT_POOL
from promptrec.scenario import STRATEGIES

logger = logging.getLogger(__name__)


def demo_catalog_path() -> Path:
    """The bundled demo catalog: 24 well-known movies, written for promptrec."""
    return Path(str(resources.files("promptrec.demo").joinpath("movies.jsonl")))


def split_ids(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def load_catalog(value: str | None, columns: Columns | None = None) -> Catalog | None:
    """The catalog ``--catalog`` names (``demo``: the bundled one), read with ``columns`` (your column names)."""
    if value is None:
        return None
    return read_catalog(demo_catalog_path() if value == "demo" else value, columns)



def usage_or_failure(exc: PromptrecError) -> click.ClickException:
    """The click error for a library error: a usage error (exit code 2) for a bad option or combination,
    a failure (exit code 1) for the rest; one line either way, never a traceback."""
    if isinstance(exc, (OptionError, UnknownBackendError, ConfigError)):
        return click.UsageError(str(exc))
    return click.ClickException(str(exc))



def backend_options(func: Any) -> Any:
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


def ranking_options(func: Any) -> Any:
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


def data_options(func: Any) -> Any:
    """Your files' column names (the configuration's ``[data]`` section): every command that reads a catalog
    or interactions takes them."""
    options = [
        click.option("--id-col", metavar="NAME", help="The catalog's item id column [default: id, item_id, movieId or itemId]."),
        click.option("--title-col", metavar="NAME", help="The catalog's title column [default: title]."),
        click.option("--text-cols", metavar="A,B", callback=lambda ctx, param, value: tuple(v.strip() for v in value.split(",") if v.strip()) if value else None,
                     help="The catalog columns kept as attributes (shown to the model, read by the text retrievers), in this order [default: every other column]."),
        click.option("--user-col", metavar="NAME", help="The interactions' user id column [default: user_id or userId]."),
        click.option("--item-col", metavar="NAME", help="The interactions' item id column [default: as the catalog's]."),
        click.option("--time-col", metavar="NAME", help="The interactions' time column, seconds or ISO 8601 [default: timestamp]."),
        click.option("--rating-col", metavar="NAME", help="The interactions' rating column [default: rating]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


#: the column options -> (section, field) of the PipelineConfig
DATA_FIELDS: dict[str, tuple[str | None, str]] = {
    name: ("data", name) for name in ("id_col", "title_col", "text_cols", "user_col", "item_col", "time_col", "rating_col")
}


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
    **DATA_FIELDS,
}


def retrieval_options(func: Any) -> Any:
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

