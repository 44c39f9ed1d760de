"""``promptrec batch``: rank a JSONL file of requests concurrently and resumably, locally or on Ray (the engines
and the summary are in :mod:`promptrec.cli.batch_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from promptrec.batch import BatchSummary, check_output, drop_error_lines, read_requests
from promptrec.cli.batch_run import check_generators, finish, retriever_set, run_on_ray, run_with_progress
from promptrec.cli.common import (
    backend_options,
    data_options,
    load_catalog,
    pipeline_config,
    ranking_options,
    usage_or_failure,
)
from promptrec.cli.options import config_option
from promptrec.errors import PromptrecError
from promptrec.openai_batch import export_requests as export_openai_batch_file
from promptrec.openai_batch import import_results as import_openai_batch_file


@click.command()
@click.argument("input_file", metavar="INPUT.jsonl", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Results file (JSONL), appended to; re-run to resume. With --engine ray also OUT.parquet or a URI (s3://...), written anew. [default: standard output, not resumable]")
@config_option("batch.unordered", is_flag=True)
@click.option("--catalog", metavar="FILE|demo", help="Catalog for the item ids in the requests.")
@config_option("batch.workers")
@config_option("batch.engine")
@config_option("batch.ray_address", metavar="auto|ray://HOST:PORT")
@config_option("batch.actors")
@config_option("batch.cpus_per_actor")
@click.option("--retry-errors", is_flag=True, help="Drop the error lines of an earlier run from OUTPUT and try those requests again.")
@config_option("batch.price_in")
@config_option("batch.price_out")
@click.option("--export-openai-batch", type=click.Path(dir_okay=False), help="Write an OpenAI Batch API request file instead of ranking.")
@click.option("--import-openai-batch", type=click.Path(exists=True, dir_okay=False), help="Read an OpenAI Batch API results file into OUTPUT instead of ranking.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON (on stdout; on stderr when the lines go to stdout).")
@click.option("--interactions", type=click.Path(dir_okay=False), help="Who interacted with what, for requests whose generator is the popularity or cooccurrence retriever (as for 'promptrec rank').")
@data_options
@ranking_options
@backend_options
def batch(input_file: str, output: str | None, catalog: str | None, retry_errors: bool,
          export_openai_batch: str | None, import_openai_batch: str | None, as_json: bool, **options: Any) -> None:
    """Rank every request of INPUT.jsonl into OUTPUT, concurrently, resumably, one line per request.

    \b
    A request line:
      {"id": "r1", "user_id": "u1", "history": ["m01", "m03"],
       "candidates": ["m02", "m05", "m12"], "k": 10, "scenario": "movies"}
    "candidates" may also be {"generator": "random", "n": 20} (drawn from --catalog), or a
    retriever, {"generator": "semantic", "n": 20, "llm_weight": 0.3}: the pipeline retrieves the
    top n from the whole catalog, the LLM ranks them and the scores are fused (generators:
    auto, popularity, cooccurrence, bm25, semantic, profile, profile-bm25, or A+B ensembles).
    Each output line is {"id", "ok": true, "ranking": {...}} or {"id", "ok": false, "error": {...}},
    in input order (--unordered: as requests finish), into OUTPUT or on standard output.
    Re-running the same command after a crash or Ctrl-C skips what is done and appends the rest.
    The exit code is 1 when any request's line in OUTPUT is an error (--retry-errors asks them again),
    130 when interrupted.

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
    try:
        config = pipeline_config(options, catalog)
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    run = config.batch
    if not output and not export_openai_batch:
        for flag, given in (("--engine ray", run.engine == "ray"), ("--import-openai-batch", import_openai_batch),
                            ("--retry-errors", retry_errors)):
            if given:
                raise click.UsageError(f"{flag} needs -o OUTPUT (a results file)")
    try:  # an output that cannot be written fails now, before any model loads
        for target in (output, export_openai_batch):
            if target and "://" not in target:
                check_output(target, input_file)
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    if run.engine == "ray":
        if export_openai_batch or import_openai_batch:
            raise click.UsageError("--engine ray ranks; it does not export or import OpenAI Batch API files")
        assert output is not None
        finish(run_on_ray(input_file, output, catalog, retry_errors, config), as_json)
        return
    if not Path(input_file).is_file():
        raise click.BadParameter(f"'{input_file}' is not a file", param_hint="'INPUT.jsonl'")
    if export_openai_batch or import_openai_batch:  # the library's Batch API rules (OptionError: exit 2)
        from promptrec.openai_batch import check_request_bodies
        from promptrec.ranker import check_exportable

        check_exportable(config.ranker.mode, config.ranker.permutations, config.ranker.window)
        check_request_bodies(config.backend.spec)  # from the backend's class: before a model loads
    try:
        items = load_catalog(catalog, config.data.columns())
        entries = read_requests(input_file, items)
        if items is None and any(entry.error is not None and "need a catalog" in str(entry.error) for entry in entries):
            raise click.UsageError("the requests name item ids: give --catalog FILE (or --catalog demo)")
        check_generators(input_file, items, config.retrieval.interactions)
        ranker_for = config.rankers()
        retrievers = retriever_set(items, config.retrieval.interactions, ranker_for, config)
        if export_openai_batch:
            count = export_openai_batch_file(entries, ranker_for, export_openai_batch)
            click.echo(f"wrote {count} Batch API requests to {export_openai_batch}", err=True)
            return
        if import_openai_batch:
            assert output is not None  # checked above
            summary = import_openai_batch_file(entries, ranker_for, import_openai_batch, output)
        else:
            if retry_errors:
                click.echo(f"dropped {drop_error_lines(output)} error lines from {output}", err=True)
            summary = run_with_progress(entries, output, ranker_for, run.workers, BatchSummary(), retrievers,
                                        ordered=not run.unordered)
        summary.price_in, summary.price_out = run.price_in, run.price_out
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    finish(summary, as_json, json_to_stderr=output is None)
