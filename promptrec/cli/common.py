"""What every command shares: the demo catalog, reading ids and catalogs, the option groups that build a
:class:`~promptrec.config.PipelineConfig` (their options: :mod:`promptrec.cli.options`), and turning library
errors into one-line click errors."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import click

from promptrec.backends import DEFAULT_BACKEND, backend_kinds
from promptrec.cli.options import command_fields, command_line_config, config_file_option, config_option
from promptrec.config import ConfigError, PipelineConfig
from promptrec.data import Catalog, Columns, read_catalog
from promptrec.errors import OptionError, PromptrecError, UnknownBackendError
from promptrec.ranker import MODES
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
    """``--backend`` and :func:`backend_flag_options`."""
    func = backend_flag_options(func)
    return click.option(
        "--backend",
        "backend_spec",
        default=DEFAULT_BACKEND,
        show_default=True,
        help=f"kind:model. Kinds: {', '.join(backend_kinds())}. 'llamacpp' alone is the bundled model; "
        "'llamacpp:PATH.gguf' any GGUF file; 'openai:MODEL' an OpenAI-compatible API.",
    )(func)


def backend_flag_options(func: Any) -> Any:
    """The backend's own options (``--base-url``, ``--api-key``... and ``-O KEY=VALUE``)."""
    options = [
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
    """The ranker, cache and feedback sections' options (and ``--config``, ``--scenario``, ``--prompts``)."""
    options = [
        config_file_option,
        config_option("scenario"),
        config_option("ranker.strategy", type=click.Choice(STRATEGIES)),
        config_option("prompts", "--prompts", param="prompts_dirs", multiple=True, type=click.Path(file_okay=False)),
        config_option("ranker.constrained", "--constrained/--unconstrained"),
        config_option("ranker.shuffle", "--shuffle/--no-shuffle"),
        config_option("ranker.seed", type=int),
        config_option("ranker.temperature", type=float),
        config_option("cache.dir", "--cache-dir", type=click.Path(file_okay=False)),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the completion cache (cache.enabled = false)."),
        config_option("ranker.max_attempts"),
        config_option("feedback.db", "--feedback-db", type=click.Path(dir_okay=False)),
        config_option("feedback.examples", "--feedback-examples"),
        config_option("feedback.selection", "--feedback-selection"),
        config_option("feedback.cross_scenario", "--cross-scenario", is_flag=True),
        config_option("feedback.rejected"),
        click.option("--no-feedback", is_flag=True, help="Ignore the feedback store (feedback.enabled = false)."),
        config_option("ranker.mode", type=click.Choice(MODES)),
        config_option("ranker.permutations"),
        config_option("ranker.calibrate", is_flag=True),
        config_option("ranker.window"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def data_options(func: Any) -> Any:
    """Your files' column names (the configuration's ``[data]`` section): every command that reads a catalog
    or interactions takes them."""
    options = [
        config_option("data.id_col", metavar="NAME"),
        config_option("data.title_col", metavar="NAME"),
        config_option("data.text_cols", metavar="A,B", callback=lambda ctx, param, value: tuple(
            v.strip() for v in value.split(",") if v.strip()) if value else None),
        config_option("data.user_col", metavar="NAME"),
        config_option("data.item_col", metavar="NAME"),
        config_option("data.time_col", metavar="NAME"),
        config_option("data.rating_col", metavar="NAME"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def retrieval_options(func: Any) -> Any:
    """The retrieval section's options."""
    options = [
        config_option("retrieval.interactions", type=click.Path(dir_okay=False)),
        config_option("retrieval.retriever", metavar="NAME"),
        config_option("retrieval.pool"),
        config_option("retrieval.llm_weight"),
        config_option("retrieval.fusion"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def configured(options: dict[str, Any]) -> PipelineConfig:
    """:func:`command_line_config` for a command's options, with a bad file or value as a one-line click error."""
    try:
        return command_line_config(options, command_fields())
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None


def pipeline_config(options: dict[str, Any], catalog: str | None = None) -> PipelineConfig:
    """The run's :class:`PipelineConfig` (:func:`command_line_config`), with ``movies`` as the scenario of
    ``--catalog demo`` when none is set."""
    config = command_line_config(options, command_fields())
    if config.scenario is None and catalog == "demo":
        config = config.updated({"scenario": "movies"})
    return config

