"""Batch ranking from a JSONL file of requests to a JSONL file of results: concurrent, resumable, lossless.

A request line::

    {"id": "r1", "user_id": "u1", "history": ["m01", {"id": "x", "title": "Solaris"}],
     "candidates": ["m02", "m05"] | {"generator": "random", "n": 20}, "k": 10, "scenario": "movies"}

Only ``candidates`` (or a generator) is required; ids need a catalog. A generator is ``random`` (seeded by
the request id), ``all``, or a retriever of :mod:`promptrec.retrieval` (``auto``, ``popularity``,
``cooccurrence``, ``bm25``, ``semantic``, ``profile``, ``profile-bm25`` or an ensemble such as
``bm25+semantic``): ``{"generator": "semantic", "n": 20, "llm_weight": 0.3}`` retrieves the top ``n`` from the
whole catalog and runs the pipeline (:class:`promptrec.pipeline.Recommender`: the LLM ranks the pool and its
scores are fused with the retrieval scores, ``llm_weight`` defaulting to the model's). Retrievers come from
a :class:`RetrieverSet`: each is built once per run (its index cached on disk), not per request. Every request produces exactly one
output line, tagged with its id: ``{"id", "ok": true, "ranking": {...}}`` or
``{"id", "ok": false, "error": {"type", "message"}}``. Lines are appended whole by one writer, so a crash
leaves at most one torn last line, which the next run cuts off before it carries on where the last stopped.
Every engine writes through one :class:`Drain` (this module's threads, :mod:`promptrec.ray`, and
:func:`promptrec.openai_batch.import_results`): one output format, one :class:`BatchSummary`, one resume and
one Ctrl-C path.
"""

from __future__ import annotations

import json
import logging
import os
import random
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptrec.data import Catalog, Item, UserHistory, item_from_record, jsonl_objects
from promptrec.errors import DataError, OptionError, PromptrecError
from promptrec.ranker import Ranker
from promptrec.ranking import Ranking
from promptrec.safe_output import dumps as safe_dumps

logger = logging.getLogger(__name__)


class CandidateGenerator(BaseModel):
    """Candidates drawn from the catalog instead of listed: ``random`` (seeded by the request id), ``all``, or
    a retriever's top ``n`` (see the module docstring), fused with the LLM with ``llm_weight``."""

    model_config = ConfigDict(extra="forbid")

    generator: str = Field(pattern=r"^(random|all|[a-z0-9-]+(:[a-z0-9-]+)?(\+[a-z0-9-]+(:[a-z0-9-]+)?)*)$")
    n: int = Field(20, ge=1)
    llm_weight: float | None = Field(None, ge=0.0, le=1.0)
    fusion: str = Field("wsum", pattern="^(wsum|rrf)$")

    @property
    def retriever(self) -> str | None:
        """The retriever's name, or ``None`` for ``random`` and ``all``."""
        return None if self.generator in ("random", "all") else self.generator


#: ``retriever name -> Retriever``, as :func:`run_batch` takes it (a :class:`RetrieverSet`).
RetrieverFor = Callable[[str], Any]


class RetrieverSet:
    """The retrievers a batch run uses, by name, over one catalog: each built once (thread-safe) and reused
    by every request. Picklable, so the Ray engine ships the built indexes to each actor once; a profile
    retriever holds a model, so it is left out of the pickle and rebuilt in the actor around the shipped
    text retriever's index (:meth:`bind` gives it the actor's ranker).

    Args:
        catalog: what the retrievers retrieve from.
        interactions: for ``popularity`` and ``cooccurrence``.
        ranker_for: the run's rankers; a profile retriever writes with the default ranker's model and scenario.
        config: the run's :class:`~promptrec.config.PipelineConfig`; a request's pipeline is built from it (its
            feedback stage, its LLM weight where the request gives none).
    """

    def __init__(self, catalog: Catalog, interactions: Any = None, ranker_for: Callable[[str | None], Ranker] | None = None,
                 config: Any = None):
        self.catalog = catalog
        self.interactions = interactions
        self.config = config  # the run's PipelineConfig: how a request's pipeline is built around its retriever
        self._ranker_for = ranker_for
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def bind(self, ranker_for: Callable[[str | None], Ranker]) -> RetrieverSet:
        """Use ``ranker_for``'s default model for profile retrievers (in a Ray actor: its own rankers)."""
        self._ranker_for = ranker_for
        return self

    def __call__(self, name: str) -> Any:
        from promptrec.retrieval import ProfileRetriever
        from promptrec.retrieval.factory import make_retriever

        with self._lock:
            if name not in self._built:
                def profile_writer(base: Any) -> Any:
                    if self._ranker_for is None:
                        raise DataError("a profile retriever needs the batch's ranker", field="candidates")
                    key = f"_text:{base.name}"  # the text index under a profile is shared by every profile
                    base = self._built.setdefault(key, base)
                    ranker = self._ranker_for(None)
                    return ProfileRetriever(base, ranker.backend, ranker.scenario, cache=ranker.cache,
                                            feedback=ranker.feedback_config)

                retriever = make_retriever(name, self.catalog, interactions=self.interactions,
                                           profile_writer=profile_writer)
                build = getattr(retriever, "build", None)
                if build is not None:
                    build()
                self._built[name] = retriever
            return self._built[name]

    def prebuild(self, names: Iterable[str]) -> RetrieverSet:
        """Build the retrievers ``names`` now (for a profile retriever: its text index only, which needs no
        model), e.g. on the Ray driver before the set is shipped to the actors."""
        from promptrec.retrieval.factory import kinds_of, make_retriever

        for name in names:
            kinds = list(kinds_of(name))
            for kind in kinds:
                if kind.wraps is not None:
                    with self._lock:
                        if f"_text:{kind.wraps}" not in self._built:
                            self._built[f"_text:{kind.wraps}"] = make_retriever(kind.wraps, self.catalog).build()  # type: ignore[attr-defined]
            if not any(kind.needs_model for kind in kinds):
                self(name)
        return self

    def __getstate__(self) -> dict[str, Any]:
        return {"catalog": self.catalog, "interactions": self.interactions,
                "built": {n: r for n, r in self._built.items() if "profile" not in n}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.catalog, self.interactions = state["catalog"], state["interactions"]
        self._built, self._ranker_for, self._lock = dict(state["built"]), None, threading.Lock()


class BatchRequest(BaseModel):
    """One line of a batch input file, with its items resolved."""

    id: str
    line: int | None
    history: UserHistory
    candidates: list[Item]
    k: int | None = None
    scenario: str | None = None
    retrieval: CandidateGenerator | None = None  # a retriever generator: candidates are retrieved when ranked


@dataclass
class BatchSummary:
    """What a batch run did. Tokens and cost count backend calls only (cache hits cost nothing)."""

    total: int = 0
    skipped: int = 0
    succeeded: int = 0
    failed: int = 0
    cache_hits: int = 0
    retries: int = 0
    reasks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_seconds: float = 0.0
    interrupted: bool = False
    #: of the skipped requests, those whose earlier line is an error (``--retry-errors`` asks them again)
    skipped_failed: int = 0
    price_in: float | None = None
    price_out: float | None = None
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Requests answered in this run (rankings and error lines)."""
        return self.succeeded + self.failed

    @property
    def throughput(self) -> float:
        """Requests answered per second of wall time in this run."""
        return self.done / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def cost(self) -> float | None:
        """Estimated cost in the price's currency, when prices per million tokens were given."""
        if self.price_in is None and self.price_out is None:
            return None
        return (self.input_tokens * (self.price_in or 0) + self.output_tokens * (self.price_out or 0)) / 1e6

    def add(self, ranking: Ranking) -> None:
        """Count one ranking."""
        self.add_counts(**ranking_counts(ranking))

    def add_counts(self, *, cached: bool, retries: int, reasks: int, input_tokens: int, output_tokens: int) -> None:
        """Count one ranking from its :func:`ranking_counts` (rankings made in another process)."""
        self.succeeded += 1
        self.retries += retries
        self.reasks += reasks
        if cached:
            self.cache_hits += 1
        else:
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens

    def add_failure(self, error_type: str) -> None:
        """Count one error line, by the name of its exception type."""
        self.failed += 1
        self.errors[error_type] = self.errors.get(error_type, 0) + 1

    @property
    def failed_total(self) -> int:
        """Requests whose line in the output is an error: this run's failures and earlier ones not retried."""
        return self.failed + self.skipped_failed

    def as_dict(self) -> dict[str, Any]:
        """Everything, with the derived numbers, for ``--json`` output."""
        return {**asdict(self), "done": self.done, "throughput": self.throughput, "cost": self.cost,
                "failed_total": self.failed_total}


def _resolve(entry: Any, catalog: Catalog | None, path: Path, line: int, field_name: str) -> Item:
    if isinstance(entry, dict):
        return item_from_record(entry, path, line)
    if isinstance(entry, (str, int)) and not isinstance(entry, bool):
        if catalog is None:
            raise DataError("item ids need a catalog (--catalog)", path=path, line=line, field=field_name)
        if str(entry) in catalog:
            return catalog[str(entry)]
        by_title = catalog.find_title(str(entry)) if isinstance(entry, str) else None  # a title, for a history
        if by_title is None or field_name.startswith("candidates"):
            raise DataError(f"item id '{entry}' is not in the catalog" + ("" if field_name.startswith("candidates")
                            else " (nor a title there)"), path=path, line=line, field=field_name)
        return by_title
    raise DataError("must be an item id or an item object", path=path, line=line, field=field_name)


def _text_field(record: dict[str, Any], name: str, path: Path, line: int | None, numbers: bool = True) -> str | None:
    """``record[name]`` as text: a string (or, with ``numbers``, an integer id), ``None`` when absent; else a
    DataError naming the field."""
    value = record.get(name)
    if value is None:
        return None
    kinds = (str, int) if numbers else (str,)
    if isinstance(value, bool) or not isinstance(value, kinds) or not str(value).strip():
        shown = json.dumps(value, default=str)[:40]
        raise DataError(f"must be a non-empty string{' or a number' if numbers else ''}, not {shown}",
                        path=path, line=line, field=name)
    return str(value)


def _request(record: dict[str, Any], line: int | None, path: Path, catalog: Catalog | None) -> BatchRequest:
    request_id = _text_field(record, "id", path, line) or f"line-{line}"
    _text_field(record, "user_id", path, line)
    _text_field(record, "scenario", path, line, numbers=False)
    history_entries = record.get("history", [])
    if not isinstance(history_entries, list):
        raise DataError("must be a list", path=path, line=line, field="history")
    history = [_resolve(e, catalog, path, line, f"history[{i}]") for i, e in enumerate(history_entries)]
    spec = record.get("candidates")
    if isinstance(spec, list):
        candidates = [_resolve(e, catalog, path, line, f"candidates[{i}]") for i, e in enumerate(spec)]
    elif isinstance(spec, dict):
        try:
            generator = CandidateGenerator(**spec)
        except (ValidationError, TypeError) as exc:
            raise DataError(f"invalid candidate generator: {exc}", path=path, line=line, field="candidates") from None
        if catalog is None:
            raise DataError("a candidate generator needs a catalog", path=path, line=line, field="candidates")
        seen = {item.id for item in history}
        if generator.retriever is not None:
            from promptrec.retrieval.factory import parse_spec

            try:
                parse_spec(generator.retriever)
            except DataError as exc:
                raise DataError(f"{exc.reason}; a generator is random, all or a retriever", path=path, line=line,
                                field="candidates") from None
            candidates = []
        else:
            pool = [item for item_id, item in catalog.items() if item_id not in seen]
            if generator.generator == "random":
                pool = random.Random(request_id).sample(pool, min(generator.n, len(pool)))
            candidates = pool[: generator.n]
    else:
        raise DataError("must be a list of items or a generator object", path=path, line=line, field="candidates")
    k = record.get("k")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise DataError("must be a positive integer", path=path, line=line, field="k")
    scenario = record.get("scenario")
    user_id = str(record.get("user_id", request_id))
    return BatchRequest(
        id=request_id, line=line, history=UserHistory.from_items(history, user_id=user_id),
        candidates=candidates, k=k, scenario=scenario,
        retrieval=generator if isinstance(spec, dict) and generator.retriever is not None else None,
    )


@dataclass
class InputLine:
    id: str
    line: int | None
    request: BatchRequest | None = None
    error: PromptrecError | None = None


def read_requests(path: str | Path, catalog: Catalog | None = None) -> list[InputLine]:
    """Every request line of ``path``; a bad line becomes an entry carrying its error (it is answered with an
    error line, not dropped). Duplicate ids are refused, since the output is keyed by id."""
    return [parse_request(record, line, path, catalog) for line, _, record in request_records(path)]


def request_records(path: str | Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, request id, object) for every request line of ``path``, unparsed; duplicate ids are
    refused, since the output is keyed by id."""
    path = Path(path)
    first_seen: dict[str, int] = {}
    for line, record in jsonl_objects(path):
        request_id = str(record.get("id", f"line-{line}"))
        if request_id in first_seen:
            raise DataError(f"duplicate request id '{request_id}' (first at line {first_seen[request_id]})",
                            path=path, line=line, field="id")
        first_seen[request_id] = line
        yield line, request_id, record


def parse_request(record: dict[str, Any], line: int | None, path: str | Path, catalog: Catalog | None = None) -> InputLine:
    """One request object (line ``line`` of ``path``, when known) resolved against ``catalog``; a bad one carries
    its error."""
    request_id = str(record.get("id", f"line-{line}"))
    try:
        return InputLine(request_id, line, request=_request(record, line, Path(path), catalog))
    except PromptrecError as exc:
        return InputLine(request_id, line, error=exc)
    except ValidationError as exc:  # a field of a type no check above foresaw
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        return InputLine(request_id, line, error=DataError(error["msg"], path=path, line=line, field=field))
    except (ValueError, TypeError) as exc:
        return InputLine(request_id, line, error=DataError(f"invalid request: {exc}", path=path, line=line))


def rank_entry(
    entry: InputLine, ranker_for: Callable[[str | None], Ranker], retriever_for: RetrieverFor | None = None
) -> Ranking | Exception:
    """The ranking of one entry, or the exception that stopped it (a bad request's own error included).

    A request with a retriever generator runs the pipeline with ``retriever_for(name)``'s retriever."""
    if entry.error is not None:
        return entry.error
    assert entry.request is not None
    request = entry.request
    try:
        if request.retrieval is not None:
            from promptrec.pipeline import Recommender

            if retriever_for is None:
                raise DataError(f"the '{request.retrieval.generator}' generator needs the batch's retrievers "
                                "(a RetrieverSet)", field="candidates")
            spec = request.retrieval
            config = getattr(retriever_for, "config", None)
            if config is not None:  # the run's configuration: feedback stage, default weight; the request's own on top
                overrides = {"pool": spec.n, "fusion": spec.fusion}
                if spec.llm_weight is not None:
                    overrides["llm_weight"] = spec.llm_weight
                recommender = config.updated({"retrieval": overrides}).recommender(
                    retriever_for(spec.generator), lambda: ranker_for(request.scenario))
            else:
                ranker = None if spec.llm_weight == 0 else ranker_for(request.scenario)  # w = 0: no model is loaded
                recommender = Recommender(retriever_for(spec.generator), ranker,
                                          llm_weight=spec.llm_weight, pool=spec.n, fusion=spec.fusion)  # type: ignore[arg-type]
            return recommender.recommend(request.history, request.k)
        return ranker_for(request.scenario).rank(request.history, request.candidates, request.k)
    except Exception as exc:  # becomes an error line, never a lost request
        return exc


def generator_retrievers(path: str | Path) -> list[str]:
    """The retriever names that the requests of a local JSONL file use as generators (in first-use order)."""
    names: dict[str, None] = {}
    for _, _, record in request_records(path):
        spec = record.get("candidates")
        if isinstance(spec, dict) and isinstance(spec.get("generator"), str) and spec["generator"] not in ("random", "all"):
            names.setdefault(spec["generator"], None)
    return list(names)


def completed_ids(output: str | Path) -> set[str]:
    """Ids already answered in ``output``; a torn last line (from a crash mid-write) is cut off first."""
    return answered(output)[0]


def answered(output: str | Path) -> tuple[set[str], set[str]]:
    """Ids already answered in ``output``, and those of them whose line is an error; a torn last line (from a
    crash mid-write) is cut off first."""
    path = Path(output)
    if not path.exists() or is_stream(path):
        return set(), set()
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning("%s: cutting off a torn last line (%d bytes) from an interrupted run", path, len(data) - end)
        with path.open("r+b") as handle:
            handle.truncate(end)
        data = data[:end]
    done: set[str] = set()
    failed: set[str] = set()
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            record = json.loads(raw)
            done.add(str(record["id"]))
        except (ValueError, KeyError, TypeError):
            raise DataError("not an output line of promptrec batch; refusing to append to it", path=path, line=number) from None
        if isinstance(record, dict) and record.get("ok") is False:
            failed.add(str(record["id"]))
    return done, failed


def drop_error_lines(output: str | Path) -> int:
    """Remove error lines from ``output`` (atomically, via a temporary file) so a re-run retries them."""
    path = Path(output)
    if is_stream(path):
        raise OptionError(f"{path} is not a regular file; --retry-errors needs a results file", option="--retry-errors")
    if not path.exists():
        return 0
    with OutputLock(path):
        return _drop_error_lines(path)


def _drop_error_lines(path: Path) -> int:
    completed_ids(path)  # repairs a torn last line
    kept, dropped = [], 0
    for raw in path.read_bytes().splitlines(keepends=True):
        if json.loads(raw).get("ok", True):
            kept.append(raw)
        else:
            dropped += 1
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(b"".join(kept))
    os.replace(temporary, path)
    return dropped


def is_stream(path: str | Path) -> bool:
    """Whether ``path`` is something written as a stream (``/dev/stdout``, a pipe, a terminal), not a results
    file: it is neither read back for resuming nor locked."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_output(output: str | Path, input_file: str | Path | None = None) -> None:
    """Fail now, before any work, if the results cannot go to ``output``: it is the input file itself, a
    folder, in a folder that does not exist, or not writable. Leaves no file behind."""
    path = Path(output)
    if input_file is not None and "://" not in str(input_file) and Path(input_file).exists() and path.exists():
        if os.path.samefile(input_file, path):
            raise OptionError(f"-o {output} is the input file; the results would overwrite the requests. "
                              "Give another output file", option="--output")
    if is_stream(path):
        return
    if path.is_dir():
        raise DataError("is a folder; give a file for the results", path=path)
    if not path.parent.is_dir():
        raise DataError(f"the folder {path.parent} does not exist", path=path)
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise DataError(f"cannot write the results: {exc.strerror or exc}", path=path) from None
    if not existed:  # a probe: a run refused later for another reason leaves nothing behind
        path.unlink(missing_ok=True)


class OutputLock:
    """An exclusive lock on a results file (``.NAME.lock`` beside it, an ``flock``), so two runs never append
    the same requests to one file: a second run, in this process or another, is refused at once with a
    :class:`DataError`. Streams are not locked; neither is anything where ``fcntl`` does not exist."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = output.with_name(f".{output.name}.lock")
        self._handle: Any = None

    def acquire(self) -> OutputLock:
        if is_stream(self.output):
            return self
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        try:
            handle = open(self.path, "a+")  # noqa: SIM115 - held until release()
        except OSError:  # a folder we cannot write: check_output or the writer says so
            return self
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise DataError("another 'promptrec batch' is writing this file now; wait for it to finish "
                            "(re-running then carries on where it stopped) or give another -o",
                            path=self.output) from None
        self._handle = handle
        return self

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()  # closing releases the flock

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def error_line(request_id: str, exc: BaseException) -> dict[str, Any]:
    """The output line of a failed request."""
    return {"id": request_id, "ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}}


def ranking_line(request_id: str, ranking: Ranking) -> dict[str, Any]:
    """The output line of a ranked request."""
    return {"id": request_id, "ok": True, "ranking": ranking.model_dump(mode="json", exclude={"prompt"})}


def result_line(request_id: str, result: Ranking | BaseException) -> dict[str, Any]:
    """The output line of a request, ranked or failed."""
    return ranking_line(request_id, result) if isinstance(result, Ranking) else error_line(request_id, result)


def ranking_counts(ranking: Ranking) -> dict[str, Any]:
    """What :class:`BatchSummary` counts of one ranking, as plain values (they travel between processes)."""
    return {"cached": ranking.cached, "retries": ranking.retries, "reasks": ranking.report.reasks,
            "input_tokens": ranking.usage.input_tokens, "output_tokens": ranking.usage.output_tokens}


class Writer:
    """Appends whole lines with one write each, flushed at once (they survive the process being killed)."""

    def __init__(self, path: Path) -> None:
        try:
            self._handle = path.open("ab", buffering=0)
        except OSError as exc:
            raise DataError(f"cannot write the results: {exc.strerror or exc}", path=path) from None

    def write(self, record: dict[str, Any]) -> None:
        # valid JSON whatever a score is (NaN becomes null), and no API key in any line
        self._handle.write((safe_dumps(record) + "\n").encode("utf-8"))

    def flush(self) -> None:
        """Nothing to do: every line is written unbuffered."""

    def close(self) -> None:
        self._handle.close()


class StreamWriter:
    """Writes whole lines to a text stream (standard output), flushed at once; nothing is read back or locked."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write(safe_dumps(record) + "\n")
        self._stream.flush()

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        """The stream stays open: it is not ours."""


class Sink(Protocol):
    """Where a :class:`Drain` writes output lines: a :class:`Writer`, or (on Ray) a Parquet file or a URI."""

    def write(self, record: dict[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class Drain:
    """The one place batch results are written and counted, for the local engine, Ray and Batch API import.

    Results come in any order, each tagged with its request id: :meth:`put` takes a :class:`Ranking` or the
    exception that stopped the request, :meth:`put_line` an output line made in another process with its
    :func:`ranking_counts` (or its error type). Each becomes exactly one output line and one count in
    :attr:`summary` (failures by exception type in ``summary.errors``). Ids already in ``output`` are done:
    :meth:`pending` and :meth:`needs` skip them and count them in ``summary.skipped``.

    Use it as a context manager around the loop that produces results: the wall clock starts on entry, and
    on exit the sink is flushed and closed. Ctrl-C inside the block is the one interrupt path: what was
    written stays (``summary.interrupted`` is set, a warning says how many requests were answered) and the
    next run carries on; the ``promptrec batch`` command then exits with code 130.

    Args:
        output: the results file (JSONL, appended to).
        summary: counts into this summary (default: a new one).
        on_result: called with the summary after every result.
        open_sink: opens where lines go, on entry (default: a :class:`Writer` appending to ``output``).
        resume: read the ids already in ``output`` (``False`` for a sink written anew: Parquet, a URI).
    """

    def __init__(
        self,
        output: str | Path,
        summary: BatchSummary | None = None,
        *,
        on_result: Callable[[BatchSummary], None] | None = None,
        open_sink: Callable[[], Sink] | None = None,
        resume: bool = True,
    ) -> None:
        self.summary = summary if summary is not None else BatchSummary()
        # a second run on the same results file would answer the same requests again: it is refused
        self._lock = OutputLock(Path(output)).acquire() if resume and open_sink is None else None
        #: ids answered before this run (read from ``output``, a torn last line cut off first)
        done, failed = answered(output) if resume else (set(), set())
        self.completed: frozenset[str] = frozenset(done)
        #: of those, the ids whose line is an error
        self.completed_failed: frozenset[str] = frozenset(failed)
        self._open_sink: Callable[[], Sink] = open_sink or (lambda: Writer(Path(output)))
        self._sink: Sink | None = None
        self._on_result = on_result
        self._started = time.perf_counter()

    def pending(self, entries: list[InputLine]) -> list[InputLine]:
        """The entries not answered before; sets ``summary.total`` and ``summary.skipped``."""
        pending = [entry for entry in entries if entry.id not in self.completed]
        self.summary.total = len(entries)
        self.summary.skipped = len(entries) - len(pending)
        self.summary.skipped_failed = sum(entry.id in self.completed_failed for entry in entries)
        return pending

    def needs(self, request_id: str) -> bool:
        """Whether ``request_id`` still needs an output line; one answered before counts as skipped."""
        if request_id in self.completed:
            self.summary.skipped += 1
            self.summary.skipped_failed += request_id in self.completed_failed
            return False
        return True

    def put(self, request_id: str, result: Ranking | BaseException, *, line: int | None = None) -> None:
        """Write and count one result: its ranking, or the exception that stopped it (an error line)."""
        if isinstance(result, Ranking):
            self.put_line(ranking_line(request_id, result), counts=ranking_counts(result))
        else:
            logger.warning("request %s (line %s) failed: %s", request_id, line, result)
            self.put_line(error_line(request_id, result), error_type=type(result).__name__)

    def put_line(self, record: dict[str, Any], *, counts: Mapping[str, Any] | None = None,
                 error_type: str | None = None) -> None:
        """Write and count an output line made elsewhere: a ranking's line with its :func:`ranking_counts`,
        or an error line with ``error_type`` (the name of its exception type)."""
        if self._sink is None:
            raise RuntimeError("write through a Drain inside its 'with' block")
        self._sink.write(record)
        if error_type is not None:
            self.summary.add_failure(error_type)
        else:
            self.summary.add_counts(**(counts or {}))
        self.summary.wall_seconds = time.perf_counter() - self._started
        if self._on_result:
            self._on_result(self.summary)

    def flush(self) -> None:
        """Hand buffered lines to the file (a Parquet sink writes a row group)."""
        if self._sink is not None:
            self._sink.flush()

    def close(self) -> None:
        """Flush and close the sink (once); the summary's wall time stops here."""
        sink, self._sink = self._sink, None
        lock, self._lock = self._lock, None
        try:
            if sink is None:
                return
            try:
                sink.flush()
            finally:
                sink.close()
                self.summary.wall_seconds = time.perf_counter() - self._started
        finally:
            if lock is not None:
                lock.release()

    def __enter__(self) -> Drain:
        self._sink = self._open_sink()
        self._started = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        interrupted = kind is not None and issubclass(kind, KeyboardInterrupt)
        if interrupted:
            self.summary.interrupted = True
            logger.warning("interrupted; %d requests answered, re-run the same command to carry on", self.summary.done)
        self.close()
        return interrupted  # Ctrl-C is reported in the summary, not raised


def run_batch(
    entries: list[InputLine],
    output: str | Path,
    ranker_for: Callable[[str | None], Ranker],
    *,
    workers: int = 1,
    on_result: Callable[[BatchSummary], None] | None = None,
    summary: BatchSummary | None = None,
    retriever_for: RetrieverFor | None = None,
    ordered: bool = True,
    drain: Drain | None = None,
) -> BatchSummary:
    """Rank every entry not yet in ``output`` and append one line per entry (through a :class:`Drain`).

    ``ranker_for(scenario)`` gives the ranker for a request's scenario (``None``: the default one);
    ``retriever_for(name)`` the retriever of a retriever generator (a :class:`RetrieverSet`).
    ``workers`` requests run at once (the ranker serialises calls to a backend that cannot take more).
    ``ordered`` (default): lines are written in input order (a finished request waits for the ones before
    it, at most ``4 * workers`` requests in flight or waiting); ``False``: as requests finish.
    ``drain``: write through this one (standard output, say) instead of appending to ``output``.
    Ctrl-C stops cleanly: what was written stays, and the next run carries on.
    """
    drain = drain if drain is not None else Drain(output, summary, on_result=on_result)
    pending = drain.pending(entries)
    with drain:
        if workers <= 1:  # one at a time: no hand-off to a thread
            for entry in pending:
                drain.put(entry.id, rank_entry(entry, ranker_for, retriever_for), line=entry.line)
            return drain.summary
        queue: Iterator[InputLine] = iter(pending)
        running: dict[Future[Ranking | Exception], InputLine] = {}
        # ordered: every submitted entry in input order, with its result once known (a parse error at once)
        waiting: deque[tuple[InputLine, Future[Ranking | Exception] | None]] = deque()
        window = workers * 4 if ordered else workers * 2
        pool = ThreadPoolExecutor(max_workers=workers)
        interrupted = False

        def result_of(entry: InputLine, future: Future[Ranking | Exception] | None) -> Ranking | BaseException:
            if future is None:
                return entry.error  # type: ignore[return-value]
            error = future.exception()
            return error if error is not None else future.result()

        exhausted = False
        try:
            while True:
                while not exhausted and (len(waiting) if ordered else len(running)) < window:
                    entry = next(queue, None)
                    if entry is None:
                        exhausted = True
                        break
                    future = None
                    if entry.error is None:
                        future = pool.submit(rank_entry, entry, ranker_for, retriever_for)
                        running[future] = entry
                    elif not ordered:
                        drain.put(entry.id, entry.error, line=entry.line)
                    if ordered:
                        waiting.append((entry, future))
                if ordered:
                    while waiting and (waiting[0][1] is None or waiting[0][1].done()):  # type: ignore[union-attr]
                        entry, future = waiting.popleft()
                        if future is not None:
                            running.pop(future, None)
                        drain.put(entry.id, result_of(entry, future), line=entry.line)
                    if waiting:
                        wait([waiting[0][1]], return_when=FIRST_COMPLETED)  # type: ignore[list-item]
                    elif exhausted:
                        break
                    continue
                if not running:
                    if exhausted:
                        break
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    entry = running.pop(future)
                    drain.put(entry.id, result_of(entry, future), line=entry.line)
        except KeyboardInterrupt:
            interrupted = True  # the drain reports it; requests in flight are not waited for
            raise
        finally:
            pool.shutdown(wait=not interrupted, cancel_futures=True)
    return drain.summary
