"""Batch ranking on Ray Data: the same requests and output lines as :mod:`promptrec.batch`, on many processes
or machines.

Requests become a Ray dataset; ``map_batches`` sends them to a pool of actors, each holding ONE set of
rankers (so an in-process GGUF model loads once per actor, not once per request) and ranking its batch with
``concurrency`` threads (HTTP backends answer many requests at once; llama.cpp still one at a time). The
driver streams the results back and writes and counts them through :class:`promptrec.batch.Drain`, the
one drain of the local engine and the Batch API import too (same lines, same summary, same Ctrl-C path).

Request parsing, ranking, output lines and counting are :mod:`promptrec.batch`'s own functions; this module
only moves requests to actors and results back. ``ray`` is imported lazily: without the ``ray`` extra,
:class:`~promptrec.errors.MissingDependencyError` names it.

What is shared: a local cache folder and feedback database are shared by every actor on one machine
(diskcache and SQLite in WAL mode are multi-process safe). Across machines each node has its own folder
(unless it lies on a network filesystem that supports SQLite locking, which NFS often does not), so a
cache hit on one node is a miss on another, and feedback examples come from each node's own database;
the catalog and the ranker settings travel with the actors.

Retrieval (requests with a retriever generator, ``{"generator": "bm25", "n": 20}``): the driver builds the
run's :class:`~promptrec.batch.RetrieverSet` (the retrievers it was given, indexes built or loaded once),
puts it in Ray's object store ONCE with ``ray.put``, and every actor fetches it once when it starts (numpy
arrays come zero-copy from the object store on the same node); no index travels with a request. A retriever
the driver did not build is built in the actor the first time a request names it (from the node's index
cache), once per actor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from promptrec.backends import capability
from promptrec.batch import (
    BatchSummary,
    Drain,
    InputLine,
    RetrieverSet,
    Sink,
    parse_request,
    rank_entry,
    ranking_counts,
    request_records,
    result_line,
)
from promptrec.config import PipelineConfig, RankerFor
from promptrec.data import Catalog
from promptrec.errors import BackendError, DataError, MissingDependencyError
from promptrec.ranking import Ranking

if TYPE_CHECKING:
    import pyarrow
    import ray.data

logger = logging.getLogger(__name__)

#: A picklable zero-argument callable that builds a :data:`RankerFor` inside an actor.
RankerFactory = Callable[[], RankerFor]

#: The columns of :func:`rank_dataset`'s output rows.
RESULT_COLUMNS = ("id", "ok", "line", "error_type", "cached", "retries", "reasks", "input_tokens", "output_tokens")


def import_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or :class:`MissingDependencyError` naming the ``ray`` extra."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ray[data]", "ray") from None
    return ray


# --- rankers inside actors -------------------------------------------------------------------------------


def pipeline_config(config: Mapping[str, Any] | PipelineConfig) -> PipelineConfig:
    """``config`` as a :class:`~promptrec.config.PipelineConfig`: one already, a mapping in its shape
    (``{"backend": {"spec": ...}, "ranker": {...}}``), or the short form ``{"backend": "kind:model",
    "backend_options": {...}, "scenario": ..., "cache_dir": ..., **ranker_options}`` (no feedback, and a
    cache only with ``cache_dir``)."""
    if isinstance(config, PipelineConfig):
        return config
    options = dict(config)
    if not isinstance(options.get("backend", "llamacpp"), str):
        return PipelineConfig.from_dict(options)
    backend = {"spec": options.pop("backend", "llamacpp"), **(options.pop("backend_options", None) or {})}
    cache_dir = options.pop("cache_dir", None)
    top = {key: options.pop(key) for key in ("scenario", "prompts") if key in options}
    return PipelineConfig.from_dict({**top, "backend": backend, "ranker": options, "feedback": {"enabled": False},
                                     "cache": {"enabled": cache_dir is not None, "dir": cache_dir}})


def rankers_from_config(config: Mapping[str, Any] | PipelineConfig) -> RankerFor:
    """``scenario -> Ranker`` from a configuration (see :func:`pipeline_config`), made once per scenario;
    all rankers share one backend and one cache."""
    return pipeline_config(config).rankers()


@dataclass(frozen=True)
class ConfigRankers:
    """A picklable :data:`RankerFactory` over :func:`rankers_from_config`."""

    config: PipelineConfig

    def __call__(self) -> RankerFor:
        return self.config.rankers()


def _as_factory(ranker_config: Mapping[str, Any] | PipelineConfig | RankerFactory) -> RankerFactory:
    if isinstance(ranker_config, (Mapping, PipelineConfig)):
        return ConfigRankers(pipeline_config(ranker_config))
    return ranker_config


def _row_entry(row: dict[str, Any], source: str, catalog: Catalog | None) -> InputLine:
    """One dataset row as a batch entry. Rows are ``{"line", "record"}`` (a JSONL line read by the driver),
    ``{"text"[, "path"]}`` (``read_text``) or the request's own fields (Parquet, ``from_items``)."""
    if "record" in row and "line" in row:
        return parse_request(json.loads(row["record"]), int(row["line"]), source, catalog)
    path = str(row.get("path") or source)
    if "text" in row:
        raw = str(row["text"])
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            error = DataError(f"invalid JSON ({exc.msg} at column {exc.colno})", path=path)
            return InputLine(_content_id(raw), None, error=error)
        if not isinstance(record, dict):
            return InputLine(_content_id(raw), None, error=DataError("expected a JSON object", path=path))
    else:
        record = {key: value for key, value in row.items() if value is not None and key != "path"}
    if "id" not in record:
        record["id"] = _content_id(json.dumps(record, sort_keys=True, default=str))
    return parse_request(record, None, path, catalog)


def _content_id(text: str) -> str:
    """The id of a request that has none and no line number: a digest of its content (stable across runs)."""
    return "sha1-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _result_row(entry: InputLine, result: Ranking | Exception) -> dict[str, Any]:
    """One output row: the exact ``promptrec batch`` line, plus what the driver's summary counts."""
    row: dict[str, Any] = {"id": entry.id, "ok": isinstance(result, Ranking),
                           "line": json.dumps(result_line(entry.id, result), ensure_ascii=False), "error_type": None,
                           "cached": False, "retries": 0, "reasks": 0, "input_tokens": 0, "output_tokens": 0}
    if isinstance(result, Ranking):
        row.update(ranking_counts(result))
    else:
        row["error_type"] = type(result).__name__
        logger.warning("request %s failed: %s", entry.id, result)
    return row


class RankBatches:
    """The callable class of ``map_batches``: one set of rankers per actor, ``concurrency`` threads in it."""

    def __init__(self, make_rankers: RankerFactory, catalog: Catalog | None, source: str, concurrency: int,
                 retrievers: Mapping[str, Any] | None = None) -> None:
        self._ranker_for = make_rankers()
        self._catalog = catalog
        self._source = source
        self._retrievers: RetrieverSet | None = None
        if retrievers is not None:  # {"ref": ObjectRef}: nested, so that Ray hands over the ref and we fetch once
            import ray

            self._retrievers = ray.get(retrievers["ref"]).bind(self._ranker_for)
        threads = max(1, concurrency) if _takes_concurrent_calls(self._ranker_for) else 1
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="promptrec-rank")

    def __call__(self, batch: pyarrow.Table) -> pyarrow.Table:
        import pyarrow as pa

        entries = [_row_entry(row, self._source, self._catalog) for row in batch.to_pylist()]
        rank = partial(rank_entry, ranker_for=self._ranker_for, retriever_for=self._retrievers)
        rows = [_result_row(entry, result) for entry, result in zip(entries, self._pool.map(rank, entries))]
        return pa.Table.from_pylist(rows, schema=result_schema())


def _takes_concurrent_calls(ranker_for: RankerFor) -> bool:
    """Whether the rankers' backend answers many calls at once (HTTP); an in-process llama.cpp model answers
    one at a time, so more threads in its actor would only wait."""
    try:
        return bool(capability(ranker_for(None).backend, "supports_concurrency"))
    except Exception:  # a bad default scenario: each request reports it as its error line
        return True


def result_schema() -> pyarrow.Schema:
    """The Arrow schema of :func:`rank_dataset`'s rows (:data:`RESULT_COLUMNS`)."""
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("ok", pa.bool_()), ("line", pa.string()), ("error_type", pa.string()),
                      ("cached", pa.bool_()), ("retries", pa.int64()), ("reasks", pa.int64()),
                      ("input_tokens", pa.int64()), ("output_tokens", pa.int64())])


def rank_dataset(
    ds: ray.data.Dataset,
    ranker_config: Mapping[str, Any] | PipelineConfig | RankerFactory,
    *,
    catalog: Catalog | None = None,
    actors: int = 2,
    concurrency_per_actor: int = 8,
    num_cpus_per_actor: float = 1.0,
    batch_size: int | None = None,
    source: str = "requests",
    retrievers: RetrieverSet | None = None,
) -> ray.data.Dataset:
    """Rank every request row of ``ds`` on a pool of ``actors`` Ray actors; one output row per input row.

    Args:
        ds: request rows: the request's fields (``id``, ``history``, ``candidates``, ``k``, ``scenario``),
            ``{"text": json_line}`` (``ray.data.read_text``) or ``{"line", "record"}`` (:func:`read_requests_dataset`).
        ranker_config: a :class:`~promptrec.config.PipelineConfig` or a mapping (see :func:`pipeline_config`), or a picklable
            zero-argument callable returning ``scenario -> Ranker``; either runs once per actor.
        catalog: resolves item ids in requests; sent to each actor once.
        actors: size of the actor pool.
        concurrency_per_actor: requests each actor ranks at once (threads; for HTTP backends).
        num_cpus_per_actor: CPUs Ray reserves per actor (fractions are fine for HTTP backends).
        batch_size: rows per batch handed to an actor (default: four rounds of its threads).
        source: file name shown in request errors.
        retrievers: the retrievers of retriever-generator requests, put in the object store once and
            fetched once by each actor (see the module docstring).

    Output rows have :data:`RESULT_COLUMNS`: ``line`` is the exact JSON line ``promptrec batch`` writes (a
    ranking or an error: a bad request or a failed backend call never loses its row).
    """
    ray = import_ray()
    concurrency = max(1, concurrency_per_actor)
    shipped = {"ref": ray.put(retrievers)} if retrievers is not None else None
    return ds.map_batches(
        RankBatches,
        fn_constructor_kwargs={"make_rankers": _as_factory(ranker_config), "catalog": catalog, "source": source,
                               "concurrency": concurrency, "retrievers": shipped},
        compute=ray.data.ActorPoolStrategy(size=max(1, actors)),
        batch_size=batch_size or max(16, 4 * concurrency),
        batch_format="pyarrow",
        num_cpus=num_cpus_per_actor,
    )


# --- reading, connecting, writing -------------------------------------------------------------------------


def _is_uri(path: str | Path) -> bool:
    return "://" in str(path)


def read_requests_dataset(path: str | Path, *, skip_ids: frozenset[str] = frozenset()) -> ray.data.Dataset:
    """The requests of ``path`` as a dataset, less ``skip_ids``.

    A local JSONL file is read by the driver exactly like :func:`promptrec.batch.read_requests` (line
    numbers in errors, ``line-N`` ids, duplicate ids refused). A ``.parquet`` file or folder, and JSONL on
    any filesystem Ray reads (``s3://``, ``gs://``...), are read by Ray; their requests need an ``id``
    (one without gets a digest of its content) and duplicates are not checked.
    """
    ray = import_ray()
    text = str(path)
    if text.endswith(".parquet") or (not _is_uri(text) and Path(text).is_dir()):
        ds = ray.data.read_parquet(text, num_cpus=0)
    elif _is_uri(text):
        ds = ray.data.read_text(text, include_paths=True, num_cpus=0)
    else:
        return ray.data.from_items(_local_rows(Path(text), skip_ids))
    if skip_ids:
        ds = ds.filter(partial(_not_done, skip_ids=skip_ids), num_cpus=0)
    return ds


def _local_rows(path: Path, skip_ids: frozenset[str]) -> list[dict[str, Any]]:
    """``{"line", "record"}`` rows of a local JSONL file (records as JSON text: no Arrow type inference)."""
    return [{"line": line, "record": json.dumps(record, ensure_ascii=False)}
            for line, request_id, record in request_records(path) if request_id not in skip_ids]


def _not_done(row: dict[str, Any], skip_ids: frozenset[str]) -> bool:
    """Whether a Ray-read request row still needs answering (its id is not in ``skip_ids``)."""
    if row.get("id") is not None:
        return str(row["id"]) not in skip_ids
    return _row_entry(row, "requests", None).id not in skip_ids


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Connect to Ray: ``address`` ``auto`` or ``ray://host:10001`` joins a cluster, ``None`` starts a
    private local instance (``num_cpus``, loopback only, no dashboard). Returns whether this call connected
    (``False``: Ray was already initialised, so the caller must not shut it down)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address:
        ray.init(address=address, **options)
    else:  # private: bound to the loopback interface
        ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **options)
    return True


class _JsonlSink:
    """Streams output lines to a URI (``s3://...``), written anew. (A local JSONL output is the drain's own
    appending :class:`~promptrec.batch.Writer`.)"""

    def __init__(self, output: str | Path) -> None:
        import pyarrow.fs

        filesystem, where = pyarrow.fs.FileSystem.from_uri(str(output))
        self._stream: Any = filesystem.open_output_stream(where)

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


class _ParquetSink:
    """One Parquet file: ``id``, ``ok``, ``ranking`` and ``error`` (the objects of the JSONL line, as JSON text);
    a row group per :meth:`flush` (per result batch)."""

    def __init__(self, output: str | Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._schema = pa.schema([("id", pa.string()), ("ok", pa.bool_()), ("ranking", pa.string()), ("error", pa.string())])
        self._writer = pq.ParquetWriter(str(output), self._schema)
        self._rows: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self._rows.append({"id": record["id"], "ok": record["ok"], "ranking": _json_or_none(record.get("ranking")),
                           "error": _json_or_none(record.get("error"))})

    def flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        self._writer.close()


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _open_sink(output: str | Path) -> Sink:
    """A sink written anew (Parquet or a URI); a local JSONL output is appended to by the drain's writer."""
    return _ParquetSink(output) if str(output).endswith(".parquet") else _JsonlSink(output)


def _put_rows(drain: Drain, table: pyarrow.Table) -> None:
    """Write and count a result batch of :data:`RESULT_COLUMNS` rows through ``drain``."""
    for row in table.to_pylist():
        error_type = row["error_type"]
        counts = None if error_type is not None else {name: row[name] for name in RESULT_COLUMNS[4:]}
        drain.put_line(json.loads(row["line"]), counts=counts, error_type=error_type)
    drain.flush()


@dataclass
class RayTimings:
    """Where the time of a Ray run went: connecting (``ray.init``) and the first result batch."""

    init_seconds: float = 0.0
    first_batch_seconds: float = 0.0


def run_ray_batch(
    input_path: str | Path,
    output: str | Path,
    ranker_config: Mapping[str, Any] | PipelineConfig | RankerFactory,
    *,
    catalog: Catalog | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    actors: int = 2,
    concurrency_per_actor: int = 8,
    num_cpus_per_actor: float = 1.0,
    on_result: Callable[[BatchSummary], None] | None = None,
    summary: BatchSummary | None = None,
    timings: RayTimings | None = None,
    retrievers: RetrieverSet | None = None,
) -> BatchSummary:
    """``promptrec batch --engine ray``: rank ``input_path`` into ``output`` on Ray, one line per request.

    A local JSONL ``output`` is appended to and resumable like :func:`promptrec.batch.run_batch` (ids
    already there are skipped); a ``.parquet`` output or a URI (``s3://...``) is written anew. Ray is
    started locally unless ``address`` names a cluster (or Ray is already initialised), and shut down at
    the end if this call started it.
    """
    summary = summary or BatchSummary()
    timings = timings or RayTimings()
    ray = import_ray()
    resumable = not _is_uri(output) and not str(output).endswith(".parquet")
    drain = Drain(output, summary, on_result=on_result, resume=resumable,
                  open_sink=None if resumable else partial(_open_sink, output))
    started = time.perf_counter()
    try:
        connected = init_ray(address, num_cpus=num_cpus)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise BackendError(f"could not connect to Ray at {address or 'a new local instance'}: {exc}") from exc
    timings.init_seconds = time.perf_counter() - started
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        requests = read_requests_dataset(input_path, skip_ids=drain.completed)
        results = rank_dataset(requests, ranker_config, catalog=catalog, actors=actors,
                               concurrency_per_actor=concurrency_per_actor, num_cpus_per_actor=num_cpus_per_actor,
                               source=str(input_path), retrievers=retrievers)
        summary.skipped = len(drain.completed)
        _drain(results, drain, timings)
        summary.total = summary.skipped + summary.done
    except ray.exceptions.RayError as exc:
        raise BackendError(f"the Ray job failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}") from exc
    finally:
        if connected:
            ray.shutdown()
    return summary


def _drain(results: ray.data.Dataset, drain: Drain, timings: RayTimings) -> None:
    """Stream result batches through ``drain`` as they complete (Ctrl-C: the drain's interrupt path)."""
    with drain:
        started = time.perf_counter()
        for table in _batches(results):
            if not timings.first_batch_seconds:
                timings.first_batch_seconds = time.perf_counter() - started
            _put_rows(drain, table)


def _batches(results: ray.data.Dataset) -> Iterator[pyarrow.Table]:
    """Result blocks as Arrow tables, in completion order."""
    yield from results.iter_batches(batch_size=None, batch_format="pyarrow")
