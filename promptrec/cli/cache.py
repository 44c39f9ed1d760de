"""``promptrec cache``: inspect or clear the completion cache."""

from __future__ import annotations

import json

import click

from promptrec.cache import CompletionCache


@click.group()
def cache() -> None:
    """Inspect or clear the completion cache."""


@cache.command("stats")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache folder [default: $PROMPTREC_CACHE_DIR or the user cache folder].")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def cache_stats(cache_dir: str | None, as_json: bool) -> None:
    """Show where the cache is, its entries and its size."""
    stats = CompletionCache(cache_dir).stats()
    if as_json:
        click.echo(json.dumps(stats, default=str))
        return
    click.echo(f"directory  {stats['directory']}\nentries    {stats['entries']}\n"
               f"size       {stats['bytes'] / 2**20:.1f} MiB of {stats['size_limit'] / 2**20:.0f} MiB")


@cache.command("clear")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache folder [default: $PROMPTREC_CACHE_DIR or the user cache folder].")
@click.option("--json", "as_json", is_flag=True, help="Print how many entries were removed as JSON.")
def cache_clear(cache_dir: str | None, as_json: bool) -> None:
    """Remove every cached completion."""
    removed = CompletionCache(cache_dir).clear()
    click.echo(json.dumps({"removed": removed}) if as_json else f"removed {removed} entries")

