"""``promptrec batch``: rank a JSONL file of requests concurrently and resumably, locally or on Ray."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

import click

from promptrec.batch import BatchSummary, check_output, drop_error_lines, read_requests, run_batch
from promptrec.cli.common import (
    backend_options,
    data_options,
    load_catalog,
    pipeline_config,
    ranking_options,
    usage_or_failure,
)
from promptrec.config import PipelineConfig
from promptrec.data import Catalog
from promptrec.errors import PromptrecError
from promptrec.openai_batch import export_requests as export_openai_batch_file
from promptrec.openai_batch import import_results as import_openai_batch_file
from promptrec.progress import progress_bar
from promptrec.safe_output import dumps as safe_dumps


def _print_summary(summary: BatchSummary) -> None:
    before = f"{summary.skipped} done before" + (f", {summary.skipped_failed} of them failed" if summary.skipped_failed else "")
    lines = [
        f"requests   {summary.total} ({before}, {summary.succeeded} ranked, {summary.failed} failed"
        + (", interrupted" if summary.interrupted else "") + ")",
        f"cache hits {summary.cache_hits}   retries {summary.retries}   re-asks {summary.reasks}",
        f"tokens     {summary.input_tokens} in, {summary.output_tokens} out (backend calls only)",
    ]
    if summary.cost is not None:
        lines.append(f"cost       ~{summary.cost:.4f} (at {summary.price_in or 0}/{summary.price_out or 0} per 1M tokens in/out)")
    lines.append(f"time       {summary.wall_seconds:.1f}s, {summary.throughput:.1f} requests/s")
    if summary.errors:
        lines.append("errors     " + ", ".join(f"{name}: {count}" for name, count in sorted(summary.errors.items())))
    click.echo("\n".join(lines), err=True)


@click.command()
@click.argument("input_file", metavar="INPUT.jsonl", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Results file (JSONL), appended to; re-run to resume. With --engine ray also OUT.parquet or a URI (s3://...), written anew. [default: standard output, not resumable]")
@click.option("--unordered", is_flag=True, help="Write each line as its request finishes, not in input order.")
@click.option("--catalog", metavar="FILE|demo", help="Catalog for the item ids in the requests.")
@click.option("--workers", type=click.IntRange(min=1), default=8, show_default=True, help="Requests in flight at once; with --engine ray, in each actor (an in-process llama.cpp model still answers one at a time).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="local: threads in this process; ray: a pool of Ray actors (needs the 'ray' extra), which also reads INPUT as .parquet or from any filesystem Ray supports.")
@click.option("--ray-address", metavar="auto|ray://HOST:PORT", help="With --engine ray: the cluster to join ('auto': the one 'ray start --head' runs here; 'ray://...': Ray Client) [default: start a private Ray on this machine].")
@click.option("--actors", type=click.IntRange(min=1), default=2, show_default=True, help="With --engine ray: actors in the pool; each builds its ranker once (an in-process model loads once per actor).")
@click.option("--cpus-per-actor", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="With --engine ray: CPUs Ray reserves per actor (fractions are fine for HTTP backends; give a llama.cpp actor its --threads).")
@click.option("--retry-errors", is_flag=True, help="Drop the error lines of an earlier run from OUTPUT and try those requests again.")
@click.option("--price-in", type=float, help="Price per million input tokens, for the cost estimate.")
@click.option("--price-out", type=float, help="Price per million output tokens, for the cost estimate.")
@click.option("--export-openai-batch", type=click.Path(dir_okay=False), help="Write an OpenAI Batch API request file instead of ranking.")
@click.option("--import-openai-batch", type=click.Path(exists=True, dir_okay=False), help="Read an OpenAI Batch API results file into OUTPUT instead of ranking.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON (on stdout; on stderr when the lines go to stdout).")
@click.option("--interactions", type=click.Path(dir_okay=False), help="Who interacted with what, for requests whose generator is the popularity or cooccurrence retriever (as for 'promptrec rank').")
@data_options
@ranking_options
@backend_options
def batch(
    input_file: str,
    output: str | None,
    unordered: bool,
    catalog: str | None,
    workers: int,
    engine: str,
    ray_address: str | None,
    actors: int,
    cpus_per_actor: float,
    retry_errors: bool,
    price_in: float | None,
    price_out: float | None,
    export_openai_batch: str | None,
    import_openai_batch: str | None,
    as_json: bool,
    **options: Any,
) -> None:
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
    if not output and not export_openai_batch:
        for flag, given in (("--engine ray", engine == "ray"), ("--import-openai-batch", import_openai_batch),
                            ("--retry-errors", retry_errors)):
            if given:
                raise click.UsageError(f"{flag} needs -o OUTPUT (a results file)")
    for name, price in (("--price-in", price_in), ("--price-out", price_out)):
        if price is not None and not math.isfinite(price):
            raise click.BadParameter(f"{price} is not a price", param_hint=f"'{name}'")
    try:  # an output that cannot be written fails now, before any model loads
        for target in (output, export_openai_batch):
            if target and "://" not in target:
                check_output(target, input_file)
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    config = pipeline_config(options, catalog)
    if engine == "ray":
        if export_openai_batch or import_openai_batch:
            raise click.UsageError("--engine ray ranks; it does not export or import OpenAI Batch API files")
        assert output is not None
        summary = _run_on_ray(input_file, output, catalog, workers, ray_address, actors, cpus_per_actor,
                              retry_errors, config, BatchSummary(price_in=price_in, price_out=price_out))
        _finish_batch(summary, as_json)
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
        _check_generators(input_file, items, config.retrieval.interactions)
        ranker_for = config.rankers()
        retrievers = _retriever_set(items, config.retrieval.interactions, ranker_for, config)
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
            summary = BatchSummary(price_in=price_in, price_out=price_out)
            summary = _run_with_progress(entries, output, ranker_for, workers, summary, retrievers,
                                         ordered=not unordered)
        summary.price_in, summary.price_out = price_in, price_out
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    _finish_batch(summary, as_json, json_to_stderr=output is None)


def _finish_batch(summary: BatchSummary, as_json: bool, json_to_stderr: bool = False) -> None:
    """Print the summary (and the JSON one when asked); exit 130 if the run was interrupted, 1 if any
    request's line is an error (this run's or an earlier one's that was skipped)."""
    if as_json:
        click.echo(safe_dumps(summary.as_dict()), err=json_to_stderr)
    _print_summary(summary)
    if summary.interrupted:
        sys.exit(130)
    if summary.failed_total:
        click.echo(f"{summary.failed_total} request(s) failed: their lines have \"ok\": false "
                   "(re-run with --retry-errors to ask them again)", err=True)
        sys.exit(1)


def _check_generators(input_file: str, catalog: Catalog | None, interactions: str | None) -> None:
    """Refuse, once and before anything runs, requests whose retriever generator cannot work: one that needs
    --interactions without it, or any retriever generator without --catalog."""
    from promptrec.batch import generator_retrievers
    from promptrec.retrieval.factory import kinds_of

    names = generator_retrievers(input_file)
    if names and catalog is None:
        raise click.UsageError(f"requests retrieve candidates ({', '.join(names)}): give --catalog FILE")
    needing = [name for name in names if any(kind.needs_interactions for kind in kinds_of(name))]
    if needing and not interactions:
        raise click.UsageError(f"requests use the {', '.join(needing)} retriever, which learns from who interacted "
                               "with what: give --interactions FILE")


def _retriever_set(catalog: Catalog | None, interactions: str | None, ranker_for: Any = None,
                   config: PipelineConfig | None = None) -> Any:
    """The batch run's retrievers (built on first use), or ``None`` without a catalog."""
    from promptrec.batch import RetrieverSet
    from promptrec.retrieval import read_interactions

    if catalog is None:
        if interactions:
            raise click.UsageError("--interactions needs --catalog")
        return None
    columns = config.data.columns() if config is not None else None
    return RetrieverSet(catalog, read_interactions(interactions, catalog, columns) if interactions else None, ranker_for,
                        config)


def _run_with_progress(entries: list[Any], output: str | None, ranker_for: Any, workers: int, summary: BatchSummary,
                       retrievers: Any = None, ordered: bool = True) -> BatchSummary:
    from rich.progress import TextColumn

    columns = (TextColumn("{task.fields[rate]}/s"), TextColumn("failed {task.fields[failed]}"))
    with progress_bar(*columns, description="ranking") as progress:
        task = progress.add_task("batch", total=len(entries), rate="0.0", failed=0)

        def update(current: BatchSummary) -> None:
            progress.update(task, completed=current.skipped + current.done, rate=f"{current.throughput:.1f}", failed=current.failed)

        drain = None
        if output is None:  # standard output: written as it comes, never read back or locked
            from promptrec.batch import Drain, StreamWriter

            stdout = click.get_text_stream("stdout")
            drain = Drain("<stdout>", summary, on_result=update, open_sink=lambda: StreamWriter(stdout), resume=False)
        return run_batch(entries, output or "<stdout>", ranker_for, workers=workers, on_result=update,
                         summary=summary, retriever_for=retrievers, ordered=ordered, drain=drain)


def _run_on_ray(
    input_file: str, output: str, catalog: str | None, workers: int, address: str | None, actors: int,
    cpus_per_actor: float, retry_errors: bool, config: PipelineConfig, summary: BatchSummary,
) -> BatchSummary:
    """``batch --engine ray``: the same rankers as the local engine, built once in each actor."""
    from rich.progress import TextColumn

    from promptrec.cache import default_cache_dir
    from promptrec.feedback_store import default_feedback_db
    from promptrec.ray import import_ray, run_ray_batch

    if "://" not in input_file and not Path(input_file).exists():
        raise click.BadParameter(f"'{input_file}' does not exist", param_hint="'INPUT.jsonl'")
    # the driver decides where the cache and feedback live: actors may not see its environment
    config = config.updated({"cache": {"dir": config.cache.dir or str(default_cache_dir())},
                             "feedback": {"db": config.feedback.db or str(default_feedback_db())}})
    if retry_errors and (output.endswith(".parquet") or "://" in output):
        raise click.UsageError("--retry-errors needs a local JSONL OUTPUT")
    columns = (TextColumn("{task.fields[rate]}/s"), TextColumn("failed {task.fields[failed]}"))
    try:
        import_ray()
        for name in ("ray", "ray.data"):  # Ray Data logs every execution at INFO
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
        if retry_errors:
            click.echo(f"dropped {drop_error_lines(output)} error lines from {output}", err=True)
        with progress_bar(*columns, description="ranking on Ray") as progress:
            task = progress.add_task("batch", total=None, rate="0.0", failed=0)

            def update(current: BatchSummary) -> None:
                progress.update(task, completed=current.done, rate=f"{current.throughput:.1f}", failed=current.failed)

            items = load_catalog(catalog, config.data.columns())
            retrievers = _retriever_set(items, config.retrieval.interactions, config=config)
            if retrievers is not None and Path(input_file).is_file() and input_file.endswith((".jsonl", ".ndjson")):
                from promptrec.batch import generator_retrievers

                retrievers.prebuild(generator_retrievers(input_file))  # built here once, shipped to actors once
            return run_ray_batch(
                input_file, output, config, catalog=items, retrievers=retrievers,
                address=address, actors=actors, concurrency_per_actor=workers, num_cpus_per_actor=cpus_per_actor,
                on_result=update, summary=summary,
            )
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None

