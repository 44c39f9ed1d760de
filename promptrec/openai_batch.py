"""OpenAI Batch API: export batch requests as its request file, and turn its results file into rankings.

The labelling and prompt of a request are deterministic (seeded), so the ranker that exported a request
re-prepares the same one at import time and parses the answer against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptrec.backends.base import Completion, Usage, capability, supports_request_bodies
from promptrec.batch import BatchSummary, Drain, InputLine
from promptrec.data import jsonl_objects
from promptrec.errors import DataError, OptionError, PromptrecError
from promptrec.ranker import Ranker, check_exportable
from promptrec.ranking import Ranking


def check_request_bodies(backend: object) -> None:
    """The Batch API needs a backend that builds chat completion request bodies (``request_body``).

    ``backend`` is a backend, or a ``kind[:model]`` string, which is checked from its class without
    creating it (no model is loaded; an unknown kind is left to :func:`~promptrec.backends.get_backend`).

    Raises:
        OptionError: the backend cannot (the llama.cpp backend runs in-process and has no request bodies).
    """
    if isinstance(backend, str):
        from promptrec.backends import backend_class, backend_kinds, split_spec

        name = split_spec(backend)[0]
        if name not in backend_kinds():
            return
        target: object = backend_class(backend)
    else:
        target, name = backend, str(getattr(backend, "name", type(backend).__name__))
    if not supports_request_bodies(target):
        raise OptionError(f"the {name} backend cannot write OpenAI Batch API requests (it builds no request "
                          "bodies); use --backend openai:MODEL", option="backend")


def check_batch_api(ranker: Ranker) -> None:
    """Whether ``ranker`` can export to (and import from) the Batch API: one generated answer per request
    (:func:`~promptrec.ranker.check_exportable`) from a backend that builds request bodies.

    Raises:
        OptionError: it cannot; nothing has been written.
    """
    check_exportable(ranker.mode, ranker.permutations, ranker.window)
    check_request_bodies(ranker.backend)


def _rankers(entries: list[InputLine], ranker_for: Callable[[str | None], Ranker]) -> dict[str, Ranker]:
    """The ranker of each entry (by id), each checked by :func:`check_batch_api`; a bad entry raises its error."""
    rankers: dict[str, Ranker] = {}
    checked: set[int] = set()
    for entry in entries:
        if entry.error is not None:
            raise entry.error
        assert entry.request is not None
        ranker = ranker_for(entry.request.scenario)
        if id(ranker) not in checked:
            check_batch_api(ranker)
            checked.add(id(ranker))
        rankers[entry.id] = ranker
    return rankers


def _check_scenarios(entries: list[InputLine], ranker_for: Callable[[str | None], Ranker]) -> None:
    """:func:`check_batch_api` on the ranker of every scenario the good entries name; a scenario that cannot
    be loaded is left to its requests' error lines."""
    for scenario in dict.fromkeys(entry.request.scenario for entry in entries if entry.request is not None):
        try:
            ranker = ranker_for(scenario)
        except OptionError:
            raise
        except PromptrecError:
            continue
        check_batch_api(ranker)


def export_requests(entries: list[InputLine], ranker_for: Callable[[str | None], Ranker], path: str | Path) -> int:
    """Write the request file that OpenAI's Batch API accepts (one chat completion per request).

    Every request and ranker is checked before the file is opened.

    Raises:
        OptionError: a ranker cannot be exported (:func:`check_batch_api`).
        PromptrecError: a request line is bad (its own error, e.g. a :class:`DataError` naming its line).
    """
    rankers = _rankers(entries, ranker_for)
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for entry in entries:
            assert entry.request is not None
            ranker = rankers[entry.id]
            prepared = ranker.prepare(entry.request.history, entry.request.candidates, entry.request.k)
            body = ranker.backend.request_body(prepared.messages, prepared.params)  # type: ignore[attr-defined]
            line = {"custom_id": entry.id, "method": "POST", "url": "/v1/chat/completions", "body": body}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    return count


def import_results(
    entries: list[InputLine],
    ranker_for: Callable[[str | None], Ranker],
    results: str | Path,
    output: str | Path,
    *,
    summary: BatchSummary | None = None,
    on_result: Callable[[BatchSummary], None] | None = None,
) -> BatchSummary:
    """Turn a Batch API results file into promptrec output lines, through the batch :class:`~promptrec.batch.Drain`
    (requests missing from it are not written; ids already in ``output`` are skipped; failures are counted
    by type; Ctrl-C keeps what was written).

    Raises:
        OptionError: the default ranker could not have exported these requests (:func:`check_batch_api`).
        DataError: a ``custom_id`` of ``results`` is not in ``entries`` (with its file and line).
    """
    _check_scenarios(entries, ranker_for)
    by_id = {entry.id: entry for entry in entries}
    drain = Drain(output, summary, on_result=on_result)
    drain.summary.total = len(entries)
    with drain:
        for line, record in jsonl_objects(Path(results)):
            request_id = str(record.get("custom_id"))
            entry = by_id.get(request_id)
            if entry is None:
                raise DataError(f"custom_id '{request_id}' is not in the input", path=results, line=line, field="custom_id")
            if not drain.needs(request_id):
                continue
            try:
                result: Ranking | PromptrecError = _finish_imported(entry, record, ranker_for)
            except PromptrecError as exc:
                result = exc
            except (AttributeError, TypeError, ValueError) as exc:  # a field of the wrong shape: that request fails
                result = DataError(f"malformed Batch API result: {type(exc).__name__}: {exc}", path=results, line=line)
            drain.put(request_id, result, line=entry.line)
    return drain.summary


def _finish_imported(entry: InputLine, record: dict[str, Any], ranker_for: Callable[[str | None], Ranker]) -> Ranking:
    if entry.error is not None:
        raise entry.error
    assert entry.request is not None
    response = record.get("response") or {}
    if record.get("error") or response.get("status_code") != 200:
        raise PromptrecError(f"the batch API reported an error: {record.get('error') or response.get('status_code')}")
    body = response.get("body") or {}
    choices = body.get("choices") or []
    if not choices:
        raise PromptrecError("the batch API answer has no choices")
    usage = body.get("usage") or {}
    completion = Completion(
        text=(choices[0].get("message") or {}).get("content") or "",
        model=body.get("model", "unknown"),
        usage=Usage(input_tokens=usage.get("prompt_tokens", 0), output_tokens=usage.get("completion_tokens", 0)),
        finish_reason=choices[0].get("finish_reason"),
    )
    ranker = ranker_for(entry.request.scenario)
    prepared = ranker.prepare(entry.request.history, entry.request.candidates, entry.request.k)
    # the answer was held to the dialect the exported body asked for, as a live answer is
    dialect = capability(ranker.backend, "dialect_for")(prepared.params)
    completion = completion.model_copy(update={"structured": dialect})
    return ranker.finish(prepared, completion)
