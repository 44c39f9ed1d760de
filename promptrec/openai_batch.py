"""OpenAI Batch API: export batch requests as its request file, and turn its results file into rankings.

The labelling and prompt of a request are deterministic (seeded), so the ranker that exported a request
re-prepares the same one at import time and parses the answer against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptrec.backends.base import Completion, Usage
from promptrec.batch import BatchSummary, InputLine, Writer, completed_ids, error_line, ranking_line
from promptrec.data import jsonl_objects
from promptrec.errors import DataError, PromptrecError
from promptrec.ranker import Ranker
from promptrec.ranking import Ranking


def export_requests(entries: list[InputLine], ranker_for: Callable[[str | None], Ranker], path: str | Path) -> int:
    """Write the request file that OpenAI's Batch API accepts (one chat completion per request)."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for entry in entries:
            if entry.error is not None:
                raise entry.error
            assert entry.request is not None
            ranker = ranker_for(entry.request.scenario)
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
) -> BatchSummary:
    """Turn a Batch API results file into promptrec output lines (requests missing from it are not written)."""
    by_id = {entry.id: entry for entry in entries}
    summary = BatchSummary(total=len(entries))
    done = completed_ids(output)
    writer = Writer(Path(output))
    try:
        for line, record in jsonl_objects(Path(results)):
            request_id = str(record.get("custom_id"))
            entry = by_id.get(request_id)
            if entry is None:
                raise DataError(f"custom_id '{request_id}' is not in the input", path=results, line=line, field="custom_id")
            if request_id in done:
                summary.skipped += 1
                continue
            try:
                ranking = _finish_imported(entry, record, ranker_for)
            except PromptrecError as exc:
                writer.write(error_line(request_id, exc))
                summary.failed += 1
                continue
            writer.write(ranking_line(request_id, ranking))
            summary.add(ranking)
    finally:
        writer.close()
    return summary


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
    return ranker.finish(prepared, completion)
