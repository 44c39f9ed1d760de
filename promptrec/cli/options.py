"""Options that are configuration fields: :func:`config_option` makes a click option from a field of
:class:`~promptrec.config.PipelineConfig` (its help, type and bounds), each command knows which of its options
set which field (:func:`command_fields`), and :func:`command_line_config` layers ``--config FILE``, the
``PROMPTREC_<SECTION>_<FIELD>`` environment and the command line."""

from __future__ import annotations

import os
import typing
from collections.abc import Callable
from typing import Any

import click

from promptrec.config import PipelineConfig, config_from_options, environment_changes

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
