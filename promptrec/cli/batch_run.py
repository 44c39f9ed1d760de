"""The engines behind ``promptrec batch``: threads with a progress bar, or Ray actors; the checks made before
either starts; and the run's summary."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from promptrec.batch import BatchSummary, drop_error_lines, run_batch
from promptrec.cli.common import load_catalog, usage_or_failure
from promptrec.config import PipelineConfig
from promptrec.data import Catalog
from promptrec.errors import PromptrecError
from promptrec.progress import progress_bar
from promptrec.safe_output import dumps as safe_dumps


def print_summary(summary: BatchSummary) -> None:
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


def finish(summary: BatchSummary, as_json: bool, json_to_stderr: bool = False) -> None:
    """Print the summary (and the JSON one when asked); exit 130 if the run was interrupted, 1 if any
    request's line is an error (this run's or an earlier one's that was skipped)."""
    if as_json:
        click.echo(safe_dumps(summary.as_dict()), err=json_to_stderr)
    print_summary(summary)
    if summary.interrupted:
        sys.exit(130)
    if summary.failed_total:
        click.echo(f"{summary.failed_total} request(s) failed: their lines have \"ok\": false "
                   "(re-run with --retry-errors to ask them again)", err=True)
        sys.exit(1)


def check_generators(input_file: str, catalog: Catalog | None, interactions: str | None) -> None:
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


def retriever_set(catalog: Catalog | None, interactions: str | None, ranker_for: Any = None,
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


def run_with_progress(entries: list[Any], output: str | None, ranker_for: Any, workers: int, summary: BatchSummary,
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


def run_on_ray(input_file: str, output: str, catalog: str | None, retry_errors: bool,
               config: PipelineConfig) -> BatchSummary:
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
    run = config.batch
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
            retrievers = retriever_set(items, config.retrieval.interactions, config=config)
            if retrievers is not None and Path(input_file).is_file() and input_file.endswith((".jsonl", ".ndjson")):
                from promptrec.batch import generator_retrievers

                retrievers.prebuild(generator_retrievers(input_file))  # built here once, shipped to actors once
            return run_ray_batch(
                input_file, output, config, catalog=items, retrievers=retrievers,
                address=run.ray_address, actors=run.actors, concurrency_per_actor=run.workers,
                num_cpus_per_actor=run.cpus_per_actor, on_result=update,
                summary=BatchSummary(price_in=run.price_in, price_out=run.price_out),
            )
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None

