"""``promptrec feedback export`` and ``import`` (feedback records as JSONL files), and the feedback store's
``--db`` / ``--config`` options that every feedback command takes; the group is :mod:`promptrec.cli.feedback`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from promptrec.cli.common import configured
from promptrec.cli.options import config_file_option, config_option
from promptrec.errors import PromptrecError
from promptrec.feedback_store import FeedbackStore

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    """``--db`` (the configuration's ``feedback.db``) and ``--config``."""
    func = config_option("feedback.db", "--db", param="feedback_db", type=click.Path(dir_okay=False))(func)
    return config_file_option(func)  # type: ignore[no-any-return]


def open_store(options: dict[str, Any]) -> FeedbackStore:
    """The feedback store that ``--db``, ``--config`` and the environment name."""
    try:
        return FeedbackStore(configured(options).feedback.db)
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--user", "user_id", help="Only this user.")
@click.option("--scenario", help="Only this scenario.")
@db_option
def export(path: str, user_id: str | None, scenario: str | None, **options: Any) -> None:
    """Write feedback records to PATH as JSONL (replaced whole).

    \b
    Examples:
      promptrec feedback export all.jsonl
      promptrec feedback export u1-movies.jsonl --user u1 --scenario movies
    """
    store = open_store(options)
    try:
        count = store.export_jsonl(path, user_id=user_id, scenario=scenario)
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"exported {count} records to {path}")


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@db_option
def import_(path: str, **options: Any) -> None:
    """Add the records of a JSONL file, all or nothing.

    A malformed line stops the import with its file:line and field, and nothing is added. Records the
    database already has (same uid) are skipped, so importing a file twice is harmless.

    \b
    Examples:
      promptrec feedback import all.jsonl
      promptrec feedback import all.jsonl --db /tmp/copy.sqlite3
    """
    store = open_store(options)
    try:
        result = store.import_jsonl(path)
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {result.added} records from {path} ({result.duplicates} already present)")
