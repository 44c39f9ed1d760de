"""``promptrec serve``: the recommendation service; ``promptrec serve-model``: a GGUF model over an
OpenAI-compatible API."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import click
from pydantic import ValidationError

from promptrec.cli.common import data_options, pipeline_config, ranking_options, retrieval_options, usage_or_failure
from promptrec.errors import MissingDependencyError, PromptrecError

logger = logging.getLogger(__name__)


def _service_backend_options(func: Any) -> Any:
    """The backend options of ``rank``, less ``--api-key`` (here the service's own key)."""
    from promptrec.backends import DEFAULT_BACKEND, backend_kinds

    options = [
        click.option("--backend", "backend_spec", default=DEFAULT_BACKEND, show_default=True,
                     help=f"The LLM that ranks the pool, kind:model. Kinds: {', '.join(backend_kinds())}."),
        click.option("--base-url", help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1."),
        click.option("--backend-api-key", help="The LLM server's API key (default: $OPENAI_API_KEY)."),
        click.option("-O", "--backend-option", "backend_option_pairs", multiple=True, metavar="KEY=VALUE",
                     help="Any option of the backend (repeatable), e.g. -O timeout=30."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("serve")
@click.option("--catalog", metavar="FILE|demo", help="Catalog (.jsonl or .csv; 'demo': the bundled movies) whose items are added to the database where it lacks them.")
@click.option("--db", metavar="PATH|URL", help="Where the state lives: a SQLite file (WAL), or postgresql://user@host/db for several service processes [default: service.sqlite3 in the user data folder].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0 exposes the service to the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--api-key", envvar="PROMPTREC_API_KEY", help="The key writes need in the X-API-Key header [default: $PROMPTREC_API_KEY, else a random key printed at start-up].")
@click.option("--private", is_flag=True, help="Reads need the key too.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN", help="Allow browser pages from ORIGIN (repeatable; '*': any). CORS is off by default.")
@click.option("--max-n", type=click.IntRange(min=1), default=100, show_default=True, help="Most recommendations per answer.")
@click.option("--max-batch", type=click.IntRange(min=1), default=1000, show_default=True, help="Most items or feedback records per POST.")
@click.option("--max-body-bytes", type=click.IntRange(min=1024), default=1_048_576, show_default=True, help="Largest request body (413 beyond).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Service processes on the one port, each with its own pipeline in memory and the database shared (about one per core; a catalog change reaches every process, and /metrics counts them all).")
@click.option("--access-log", is_flag=True, help="Log every request (uvicorn's access log).")
@click.option("--gorse-feedback", "gorse_feedback", multiple=True, metavar="TYPE=LABEL", help="Gorse API (/api/): what a FeedbackType means, e.g. purchase=liked (repeatable; defaults: star/like=liked, dislike=disliked, read=clicked).")
@retrieval_options
@data_options
@ranking_options
@_service_backend_options
def serve(catalog: str | None, db: str | None, host: str, port: int, api_key: str | None, private: bool,
          cors_origins: tuple[str, ...], max_n: int, max_batch: int, max_body_bytes: int, workers: int,
          access_log: bool, gorse_feedback: tuple[str, ...], **options: Any) -> None:
    """Serve recommendations over HTTP: items, users' feedback, and the pipeline's answers, kept in a database.

    \b
    Example:  promptrec serve --catalog demo
              promptrec serve --catalog movies.csv --interactions ratings.csv --db state.sqlite3 --api-key KEY
              curl 'http://127.0.0.1:8080/users/u9/recommendations?n=5'
    Docs: /docs (interactive, offline), /openapi.json, and docs/service.md.
    """
    try:
        import uvicorn

        from promptrec.service import Limits, ServiceSettings, create_app
    except ModuleNotFoundError as exc:
        raise usage_or_failure(MissingDependencyError(exc.name or "fastapi", "server")) from None
    options["api_key"] = options.pop("backend_api_key")
    try:
        full = pipeline_config(options, catalog)
        # the interactions file (--interactions, or the configuration's) seeds the database, which the pipeline reads
        interactions = full.retrieval.interactions
        config = full.updated({"retrieval": {"interactions": None}})
        settings = ServiceSettings(
            **({"db": db} if db else {}), catalog=catalog, interactions=interactions, api_key=api_key,
            private=private, cors_origins=list(cors_origins), config=config,
            gorse_feedback=_pairs(gorse_feedback, "--gorse-feedback"),
            limits=Limits(max_n=max_n, max_batch=max_batch, max_body_bytes=max_body_bytes),
        )
        if workers > 1:  # the parent seeds the database once; each worker builds its pipeline
            from promptrec.service.core import RecommendationService

            seeding = RecommendationService(settings)
            for source, seed in ((catalog, seeding.seed_catalog), (interactions, seeding.seed_interactions)):
                if source is not None:
                    seed(source)
            where = seeding.store.where
            seeding.close()
            worker_settings = settings.model_copy(update={"catalog": None, "interactions": None})
        else:
            app = create_app(settings)
            where = app.state.service.store.where
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None
    except ValidationError as exc:  # a setting out of range (the key, a limit)
        error = exc.errors()[0]
        option = "--" + "-".join(str(part) for part in error["loc"][-1:]).replace("_", "-")
        raise click.UsageError(f"{option}: {error['msg'].removeprefix('Value error, ')}") from None
    shown = "0.0.0.0" if host == "" else host
    click.echo(f"promptrec service on http://{shown}:{port} (docs: http://{shown}:{port}/docs), database {where}"
               + (f", {workers} worker processes" if workers > 1 else ""), err=True)
    if settings.api_key_generated:
        click.echo(f"writes need the header X-API-Key: {settings.api_key}  (choose your own with --api-key)", err=True)
    level = logging.getLogger().getEffectiveLevel()
    run = {"host": host, "port": port, "access_log": access_log, "timeout_graceful_shutdown": 5,
           "log_level": "info" if level <= logging.INFO else "warning"}
    if workers > 1:
        from promptrec.service.app import SETTINGS_ENV

        os.environ[SETTINGS_ENV] = worker_settings.model_dump_json()  # read by each worker (the key included)
        with _metrics_folder():
            uvicorn.run("promptrec.service.app:app_from_environment", factory=True, workers=workers, **run)
    else:
        uvicorn.run(app, **run)


@contextlib.contextmanager
def _metrics_folder() -> Iterator[None]:
    """A fresh folder for the workers' Prometheus counts (``$PROMETHEUS_MULTIPROC_DIR``, set before any worker
    imports prometheus_client), so /metrics sums every worker; removed at exit. A folder the user set is kept
    as it is."""
    from promptrec.service.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="promptrec-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def _pairs(pairs: tuple[str, ...], option: str) -> dict[str, str]:
    """``NAME=VALUE`` pairs as a dict; a usage error naming ``option`` for one without ``=``."""
    split = [pair.partition("=") for pair in pairs]
    if bad := next((pair for pair, (_, sep, _) in zip(pairs, split) if not sep), None):
        raise click.UsageError(f"{option}: '{bad}' is not TYPE=LABEL (e.g. purchase=liked)")
    return {name.strip(): value.strip() for name, _, value in split}


@click.command(
    "serve-model",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve_model(server_args: tuple[str, ...]) -> None:
    """Serve a GGUF model over an OpenAI-compatible API (llama-cpp-python's server).

    Takes the arguments of 'python -m llama_cpp.server' (see 'promptrec serve-model --help'); --model
    defaults to the bundled SmolLM2 GGUF. On CPUs with AMX, models load without llama.cpp's extra buffer
    types, whose AMX kernel crashes (PROMPTREC_LLAMA_EXTRA_BUFFERS=auto|on|off overrides).

    \b
    Example:  promptrec serve-model --port 8000 --model_alias smollm2
              promptrec rank --catalog demo --history m01 --backend openai:smollm2 --base-url http://127.0.0.1:8000/v1
    """
    from promptrec.backends.local_server import main as serve_main

    try:
        serve_main(list(server_args))
    except PromptrecError as exc:
        raise usage_or_failure(exc) from None


__all__ = ["serve", "serve_model"]
