"""What every command shares: the demo catalog, reading ids and catalogs, the option groups that build a
:class:`~promptrec.config.PipelineConfig`, and turning library errors into one-line click errors."""

from __future__ import annotations

import logging
import os
import typing
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import click

from promptrec.backends import DEFAULT_BACKEND, backend_kinds
from promptrec.config import ConfigError, PipelineConfig, config_from_options, environment_changes
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


#: command parameter -> (section, field) of the PipelineConfig (``None``: top level), filled by
#: :func:`config_option` as the options are declared, across every command (a command's own: :func:`command_fields`)
CONFIG_FIELDS: dict[str, tuple[str | None, str]] = {}


class ConfigOption(click.Option):
    """A click option that sets the configuration field ``config_field`` (section, name)."""

    def __init__(self, *args: Any, config_field: tuple[str | None, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config_field = config_field


def command_fields(command: click.Command | None = None) -> dict[str, tuple[str | None, str]]:
    """Parameter -> configuration field for ``command``'s options declared by :func:`config_option` [default:
    the running command's; outside a command: every command's, :data:`CONFIG_FIELDS`]. Per command, so two
    commands may give one option name to different fields (``serve --workers``, ``batch --workers``)."""
    if command is None:
        context = click.get_current_context(silent=True)
        if context is None:
            return dict(CONFIG_FIELDS)
        command = context.command
    return {param.name: param.config_field for param in command.params
            if isinstance(param, ConfigOption) and param.name is not None}


def config_option(path: str, *flags: str, **kwargs: Any) -> Callable[[Any], Any]:
    """A click option for the configuration field ``path`` (``"ranker.mode"``, ``"scenario"``): the field is the
    one declaration. Its help is the field's description with its default, its type comes from the field's
    type (choices from a ``Literal``, bounds from ``ge``/``le``), and the parameter maps to the field in
    :data:`CONFIG_FIELDS`. Nothing is set unless given, so a ``--config`` file and ``PROMPTREC_<SECTION>_<FIELD>``
    variables stay in force below the command line. ``flags`` default to ``--<field>``; ``kwargs`` go to click."""
    section, _, name = path.rpartition(".")
    model = PipelineConfig.model_fields[section].annotation if section else PipelineConfig
    field = model.model_fields[name]  # type: ignore[union-attr]
    flags = flags or (f"--{name.replace('_', '-')}",)
    param = kwargs.pop("param", None) or max((f for flag in flags for f in flag.split("/")[:1] if f.startswith("--")),
                                             key=len)[2:].replace("-", "_")
    CONFIG_FIELDS[param] = (section or None, name)
    help_text = (field.description or "").strip()
    help_text = help_text[:1].upper() + help_text[1:]
    if kwargs.get("extra_help"):
        help_text += " " + kwargs.pop("extra_help")
    default = field.default
    if default is not None and default is not False and default not in ((), "") and "[default" not in help_text:
        shown = str(default).lower() if isinstance(default, bool) else (
            ", ".join(map(str, default)) if isinstance(default, tuple) else default)
        help_text += f" [default: {shown}]"
    kwargs.pop("extra_help", None)
    if "type" not in kwargs and not kwargs.get("is_flag"):
        kind = _click_type(field)
        if kind is not None:
            kwargs["type"] = kind
    return click.option(*flags, param, default=None, help=help_text, cls=ConfigOption,
                        config_field=(section or None, name), **kwargs)


def _click_type(field: Any) -> Any:
    """The click type of a pydantic field: a choice for a ``Literal``, a range for a bounded number."""
    kind = field.annotation
    if typing.get_origin(kind) is tuple:  # a repeatable option: its items' type
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) is not typing.Literal:  # X | None -> X
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    if typing.get_origin(kind) is typing.Literal:
        return click.Choice([str(v) for v in typing.get_args(kind)])
    bounds = {type(m).__name__: m for m in field.metadata}
    low = getattr(bounds.get("Ge"), "ge", None)
    high = getattr(bounds.get("Le"), "le", None)
    if kind is int:
        return click.IntRange(min=low, max=high) if low is not None or high is not None else int
    if kind is float:
        return click.FloatRange(min=low, max=high) if low is not None or high is not None else float
    return None


#: ``--config FILE``: every command that reads a setting of the configuration takes it
config_file_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False),
    help="A configuration file (.toml or .json, see 'promptrec config show'); PROMPTREC_<SECTION>_<FIELD> variables "
    "override it, and options given on the command line override both.")


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


def option_given(options: dict[str, Any], name: str) -> bool:
    """Whether the user gave the parameter ``name`` of the running command (not its default)."""
    context = click.get_current_context(silent=True)
    source = context.get_parameter_source(name) if context is not None else None
    if source is None:
        return options.get(name) not in (None, (), False)
    return source is not click.core.ParameterSource.DEFAULT


def command_line_config(options: dict[str, Any], fields: dict[str, tuple[str | None, str]],
                        lenient: bool = False) -> PipelineConfig:
    """``--config FILE`` (if given), then the ``PROMPTREC_<SECTION>_<FIELD>`` environment variables, then every
    option the user gave on the command line on top (defaults override nothing). ``fields`` maps parameter
    names to the configuration's fields."""
    base = PipelineConfig.load(options["config_file"]) if options.get("config_file") else PipelineConfig()
    from_environment = environment_changes(os.environ)
    if from_environment:
        base = base.updated(from_environment, "environment (PROMPTREC_<SECTION>_<FIELD>)")
    return config_from_options(base, options, fields, lambda name: option_given(options, name), lenient=lenient)


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

