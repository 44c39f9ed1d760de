"""``promptrec index build``: build a retriever's index ahead of time (locally, or embedding through Ray)."""

from __future__ import annotations

import json
from typing import Any

import click

from promptrec.cli.common import configured, data_options
from promptrec.cli.options import config_file_option
from promptrec.errors import PromptrecError
from promptrec.progress import spinner


@click.group("index")
def index_group() -> None:
    """Build retrieval indexes ahead of time (they are cached, keyed by the catalog's content)."""


@index_group.command("build")
@click.option("--catalog", "catalog_path", required=True, help="Catalog file (JSONL or CSV), or 'demo'.")
@config_file_option
@click.option("--retriever", "retriever_name",
              help="popularity, cooccurrence, bm25 or semantic (semantic:wordllama names the embedder) "
              "[default: --config's retrieval.retriever, else semantic].")
@click.option("--embedder", type=click.Choice(["minilm", "wordllama"]), default=None,
              help="The semantic retriever's embedder [default: $PROMPTREC_EMBEDDER, else minilm].")
@click.option("--interactions", type=click.Path(dir_okay=False, exists=True),
              help="Who interacted with what (popularity, cooccurrence): user_id,item_id rows or histories .jsonl "
              "[default: --config's retrieval.interactions].")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: embed the items through Ray Data actors (the semantic retriever; others build locally).")
@click.option("--ray-address", help="Ray cluster to join ('auto', 'ray://host:10001') [default: a private local one].")
@click.option("--num-cpus", type=int, help="CPUs of the private local Ray instance [default: all].")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ray actors that embed at once.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Texts per Ray batch.")
@click.option("--index-dir", type=click.Path(file_okay=False),
              help="Index cache folder [default: <$PROMPTREC_CACHE_DIR or the user cache folder>/retrieval].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@data_options
def index_build(catalog_path: str, retriever_name: str | None, embedder: str | None, interactions: str | None, engine: str,
                ray_address: str | None, num_cpus: int | None, concurrency: int, batch_size: int,
                index_dir: str | None, as_json: bool, **options: Any) -> None:
    """Build (or find in the cache) the index of one retriever over a catalog.

    \b
    Example:  promptrec index build --catalog items.jsonl --engine ray --concurrency 4
    """
    from promptrec.cli.common import load_catalog, usage_or_failure
    from promptrec.retrieval import IndexCache, read_interactions
    from promptrec.retrieval.build import build_index
    from promptrec.retrieval.factory import make_retriever

    try:
        config = configured(options)
        retriever_name = retriever_name or (config.retrieval.retriever if options.get("config_file") else "semantic")
        interactions = interactions or config.retrieval.interactions
        columns = config.data.columns()
        catalog = load_catalog(catalog_path, columns)
        assert catalog is not None
        pairs = read_interactions(interactions, catalog, columns) if interactions else None
        retriever = make_retriever(retriever_name, catalog, interactions=pairs, embedder=embedder,
                                   index_cache=IndexCache(index_dir) if index_dir else None)
        if "+" in retriever_name:
            raise click.UsageError("index build takes one retriever, not an ensemble (build each member)")
        with spinner(f"building the {retriever_name} index of {len(catalog)} items"):
            report = build_index(retriever, engine,  # type: ignore[arg-type]
                                 ray_address=ray_address, num_cpus=num_cpus, batch_size=batch_size,
                                 concurrency=concurrency)
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    record = {"retriever": report.retriever, "engine": report.engine, "items": report.items,
              "seconds": report.seconds, "from_cache": report.loaded_from_cache,
              "entry": str(report.entry) if report.entry else None}
    if as_json:
        click.echo(json.dumps(record))
        return
    how = "found in the cache" if report.loaded_from_cache else f"built ({report.engine})"
    click.echo(f"{report.retriever} index of {report.items} items {how} in {report.seconds:.1f}s: {record['entry']}")
