"""``promptrec cache``: inspect or clear the completion cache."""

from __future__ import annotations

import json
from typing import Any

import click

from promptrec.cache import CompletionCache
from promptrec.cli.common import configured
from promptrec.cli.options import config_file_option, config_option


def _cache_options(func: Any) -> Any:
    func = config_option("cache.dir", "--cache-dir", type=click.Path(file_okay=False))(func)
    return config_file_option(func)


@click.group()
def cache() -> None:
    """Inspect or clear the completion cache."""


@cache.command("stats")
@_cache_options
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def cache_stats(as_json: bool, **options: Any) -> None:
    """Show where the cache is, its entries and its size."""
    stats = CompletionCache(configured(options).cache.dir).stats()
    if as_json:
        click.echo(json.dumps(stats, default=str))
        return
    click.echo(f"directory  {stats['directory']}\nentries    {stats['entries']}\n"
               f"size       {stats['bytes'] / 2**20:.1f} MiB of {stats['size_limit'] / 2**20:.0f} MiB")


@cache.command("clear")
@_cache_options
@click.option("--json", "as_json", is_flag=True, help="Print how many entries were removed as JSON.")
def cache_clear(as_json: bool, **options: Any) -> None:
    """Remove every cached completion."""
    removed = CompletionCache(configured(options).cache.dir).clear()
    click.echo(json.dumps({"removed": removed}) if as_json else f"removed {removed} entries")
