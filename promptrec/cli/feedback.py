"""``promptrec feedback``: add, list, export, import and clear the feedback users gave.

A thin shell over :class:`promptrec.feedback_store.FeedbackStore`; registered in :mod:`promptrec.cli`,
and runnable alone as ``python -m promptrec.cli.feedback``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import click

from promptrec.cli.common import configured, split_ids
from promptrec.cli.feedback_files import db_option, export, import_, open_store
from promptrec.data import Item
from promptrec.errors import PromptrecError
from promptrec.feedback_store import LABELS, FeedbackRecord
from promptrec.safe_output import terminal_text


@click.group("feedback")
def feedback_group() -> None:
    """Record what users thought of recommendations: it shapes their next recommendations ('rank --user ID'
    reads it in every scenario) and becomes in-context examples in their next prompts.

    \b
    Examples:
      promptrec feedback add --user u1 --scenario movies --item m03 --title Alien --label liked
      promptrec feedback add --user u1 --scenario movies --item m12 --title Up --label rating --rating 2 \\
          --shown m03,m12,m14 --comment "not for me"
      promptrec feedback list --user u1
      promptrec feedback export feedback.jsonl --user u1
      promptrec feedback import feedback.jsonl --db other.sqlite3
      promptrec feedback clear --user u1
    """


@feedback_group.command("add")
@click.option("--user", "user_id", required=True, help="User id.")
@click.option("--item", "item_id", required=True, help="Id of the item acted on.")
@click.option("--label", type=click.Choice(LABELS), required=True, help="What the user did.")
@click.option("--catalog", metavar="FILE|demo", help="The catalog the item is in: its title comes from there, and the scenario defaults to the one 'promptrec rank' uses for it.")
@click.option("--scenario", help="Scenario of the in-context examples [default: movies with --catalog demo, else default]. The ranking signal applies in every scenario.")
@click.option("--title", help="The item's title (shown in prompts) [default: from --catalog; needed without it].")
@click.option("--rating", type=click.FloatRange(0, 5), help="Rating on a 1-5 scale (with --label rating).")
@click.option("--shown", multiple=True, metavar="IDS", help="Ids of the items shown with it, comma-separated or repeated.")
@click.option("--comment", help="Free-text comment.")
@click.option("--timestamp", type=float, help="Seconds since the epoch [default: now].")
@db_option
def add(
    user_id: str,
    item_id: str,
    label: str,
    catalog: str | None,
    scenario: str | None,
    title: str | None,
    rating: float | None,
    shown: tuple[str, ...],
    comment: str | None,
    timestamp: float | None,
    **options: Any,
) -> None:
    """Add one feedback record. The next 'promptrec rank --user ID' reads it: liked items join the user's
    history, disliked ones are demoted (or removed with --rejected remove).

    \b
    Examples:
      promptrec feedback add --user u1 --item m11 --label disliked --catalog demo
      promptrec feedback add --user u1 --scenario movies --item m03 --title Alien --label liked
      promptrec feedback add --user u1 --scenario books --item b7 --title Dune --label rating --rating 5
    """
    for name, value in (("--timestamp", timestamp), ("--rating", rating)):
        if value is not None and not math.isfinite(value):
            raise click.BadParameter(f"{value} is not a finite number", param_hint=f"'{name}'")
    item: Item | str = item_id
    if catalog is not None:
        from promptrec.cli.common import load_catalog

        try:
            items = load_catalog(catalog)
        except PromptrecError as exc:
            raise click.ClickException(str(exc)) from None
        assert items is not None
        if item_id not in items:
            raise click.BadParameter(f"item '{item_id}' is not in the catalog {catalog} ({len(items)} items)",
                                     param_hint="'--item'")
        item = items[item_id]
    elif title is None:
        raise click.UsageError("give the item's --title, or --catalog FILE to take it from")
    scenario = scenario or configured(options).scenario or ("movies" if catalog == "demo" else "default")
    store = open_store(options)
    try:
        record = store.add(
            user_id, scenario, item, label,  # type: ignore[arg-type]
            title=title, shown=split_ids(shown), rating=rating, comment=comment, timestamp=timestamp,
        )
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {record.label} on {record.item_id} ({record.item_title}) for {record.user_id} "
               f"({record.scenario}) to {store.path}")


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(record: FeedbackRecord) -> str:
    label = f"rating {record.rating:g}" if record.rating is not None else record.label
    line = f"{_when(record.timestamp)}  {record.user_id:<10} {record.scenario:<9} {label:<10} {record.item_id:<8} {record.item_title}"
    if record.shown:
        line += f"  [shown {len(record.shown)}]"
    if record.comment:
        line += f"  # {record.comment}"
    return terminal_text(line)  # titles and comments are data: their escape sequences are shown, not obeyed


@feedback_group.command("list")
@click.option("--user", "user_id", help="Only this user.")
@click.option("--scenario", help="Only this scenario.")
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Only the newest N records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line (as 'export' writes).")
@db_option
def list_(user_id: str | None, scenario: str | None, limit: int | None, as_json: bool, **options: Any) -> None:
    """List feedback records, oldest first (times in UTC).

    \b
    Examples:
      promptrec feedback list
      promptrec feedback list --user u1 --scenario movies -n 20
      promptrec feedback list --user u1 --json
    """
    store = open_store(options)
    try:
        records = store.list(user_id, scenario, limit=limit)
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None
    for record in records:
        click.echo(record.model_dump_json() if as_json else _row(record))
    if not as_json:
        click.echo(f"{len(records)} records in {store.path}", err=True)


@feedback_group.command("clear")
@click.option("--user", "user_id", help="Only this user's feedback.")
@click.option("--scenario", help="Only this scenario.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting every user's feedback.")
@db_option
def clear(user_id: str | None, scenario: str | None, yes: bool, **options: Any) -> None:
    """Delete feedback records (one user's, or with --yes everyone's).

    \b
    Examples:
      promptrec feedback clear --user u1
      promptrec feedback clear --user u1 --scenario books
      promptrec feedback clear --yes
    """
    store = open_store(options)
    if user_id is None and not yes:
        click.confirm(f"Delete the feedback of every user{f' in {scenario}' if scenario else ''} from {store.path}?", abort=True)
    try:
        count = store.clear(user_id, scenario)
    except PromptrecError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed {count} records")


feedback_group.add_command(export)
feedback_group.add_command(import_)

if __name__ == "__main__":
    feedback_group()
