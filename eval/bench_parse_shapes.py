"""The shapes a real server's free-text answers take, and valid answers with and without structured output.

    python eval/bench_parse_shapes.py [--users 50] [--threads 1] [--out eval/results/parse_shapes.json]

Each user's answers are appended to ``<out>.jsonl`` as they come, and a run started again with the same
arguments skips the users already there (so it can be run in parts); ``--fresh`` starts over.

One ``python -m llama_cpp.server`` (through :func:`promptrec.backends.local_server.serve_gguf`, the bundled
SmolLM2-135M-Instruct) serves two generate-mode rankers over the ``openai`` backend, on the same seeded
MovieLens users (latest-small, LLMRank protocol: the last 20 history items, the truth plus 19 seeded
negatives, seed 0), the two calls of each user one after the other, the order alternating from user to user:

1. ``free text``: ``constrained=False`` (the CLI's ``--unconstrained``): no schema, the model writes what it
   likes and the parser reads it; the distribution of ``ParseReport.format`` is the shape report;
2. ``structured``: the default (``structured="auto"``): the server is asked for ``{"ranking": [...]}`` with
   the 20 labels as an enum (llama_cpp.server refuses ``json_schema`` and takes ``json_object`` with the
   schema, which ``auto`` finds on the first request).

No cache and no re-ask (``reask=False``), so every number describes the model's first answer. Per method:
the formats, valid-before-repair (the answer named all 20 candidates and nothing had to be dropped or
appended: ``ParseReport.valid == 20`` and not ``repaired``), mean distinct candidates named, answers with
duplicates / invented items / history items / cut off, the dialect the server accepted, NDCG@10 (the only
place the held-out item is read) and the median seconds per call, with the ratio structured / free text.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_common import machine_note, movielens_cases, user_history, write_json  # noqa: E402

from promptrec import Ranker  # noqa: E402
from promptrec.backends.base import Completion, GenerationParams, Message  # noqa: E402
from promptrec.backends.local_server import serve_gguf  # noqa: E402
from promptrec.backends.openai import OpenAIBackend  # noqa: E402
from promptrec.evaluation.metrics import aggregate, per_case  # noqa: E402
from promptrec.ranking import ParseReport  # noqa: E402

METHODS = ("free text", "structured")


class Recording:
    """An OpenAI backend that remembers the dialect of every completion it returns."""

    def __init__(self, backend: OpenAIBackend) -> None:
        self._backend = backend
        self.dialects: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        completion = self._backend.complete(messages, params)
        self.dialects.append(completion.structured)
        return completion


def summarize(records: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """The shape report and validity counts of one method's answers."""
    reports = [ParseReport.model_validate(record["report"]) for record in records]
    return {
        "answers": len(reports),
        "format": dict(collections.Counter(r.format for r in reports).most_common()),
        "valid_before_repair": sum(r.valid == n and not r.repaired for r in reports),
        "mean_valid": statistics.fmean(r.valid for r in reports),
        "with_duplicates": sum(bool(r.duplicates) for r in reports),
        "with_hallucinated": sum(bool(r.hallucinated) for r in reports),
        "with_history": sum(bool(r.history) for r in reports),
        "with_missing": sum(bool(r.missing) for r in reports),
        "truncated": sum(r.truncated for r in reports),
        "unusable": sum(not r.usable for r in reports),
        "dialect": dict(collections.Counter(str(record["dialect"]) for record in records)),
        "median_seconds": statistics.median(record["seconds"] for record in records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("eval/results/parse_shapes.json"))
    parser.add_argument("--log", type=Path, default=Path("eval/results/parse_shapes_server.log"))
    parser.add_argument("--fresh", action="store_true", help="forget the answers of an earlier run")
    parser.add_argument("--report-only", action="store_true", help="report the users answered so far, ask nothing")
    args = parser.parse_args()

    cases = movielens_cases(args.users)
    n = len(cases[0].query.candidates)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    answers = args.out.with_suffix(".jsonl")
    if args.fresh:
        answers.unlink(missing_ok=True)
    done = {json.loads(line)["case_id"] for line in answers.read_text().splitlines()} if answers.exists() else set()
    todo = [(index, case) for index, case in enumerate(cases) if case.case_id not in done]
    note = machine_note(args.threads)
    if todo and not args.report_only:
        with serve_gguf(threads=args.threads, log=args.log) as base_url, answers.open("a") as sink:
            backends = {method: Recording(OpenAIBackend("smollm2", base_url=base_url, api_key="unused")) for method in METHODS}
            rankers = {
                "free text": Ranker(backends["free text"], "movies", constrained=False, reask=False, cache=None),  # type: ignore[arg-type]
                "structured": Ranker(backends["structured"], "movies", reask=False, cache=None),  # type: ignore[arg-type]
            }
            for count, (index, case) in enumerate(todo, start=1):
                record: dict[str, Any] = {"case_id": case.case_id}
                for method in METHODS if index % 2 == 0 else tuple(reversed(METHODS)):
                    start = time.perf_counter()
                    ranking = rankers[method].rank(user_history(case), list(case.query.candidates))
                    record[method] = {
                        "seconds": time.perf_counter() - start,
                        "report": ranking.report.model_dump(mode="json"),
                        "order": ranking.ids(),
                        "raw": ranking.raw,
                        "dialect": backends[method].dialects[-1],
                    }
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                print(f"\r{count}/{len(todo)} users", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
    records = {record["case_id"]: record for record in map(json.loads, answers.read_text().splitlines())}
    cases = [case for case in cases if case.case_id in records]  # the users answered so far, in case order
    records = {case.case_id: records[case.case_id] for case in cases}

    result: dict[str, Any] = {"machine": note, "users": len(cases), "of_users": args.users, "candidates": n, "methods": {}}
    for method in METHODS:
        mine = [record[method] for record in records.values()]
        summary = summarize(mine, n)
        summary["NDCG@10"] = aggregate(per_case(cases, {c: r[method]["order"] for c, r in records.items()}))["NDCG@10"]
        summary["examples"] = [record["raw"] for record in mine[:5]]
        result["methods"][method] = summary
    free, held = result["methods"]["free text"], result["methods"]["structured"]
    result["seconds_ratio_structured_over_free"] = held["median_seconds"] / free["median_seconds"]
    write_json(args.out, result)

    print(note)
    print(f"{len(cases)} of {args.users} MovieLens users, {n} candidates, llama_cpp.server + openai backend, generate mode")
    for method in METHODS:
        s = result["methods"][method]
        formats = ", ".join(f"{name} {count}" for name, count in s["format"].items())
        print(f"\n{method}: dialect {s['dialect']}")
        print(f"  ParseReport.format: {formats}")
        print(f"  valid before repair: {s['valid_before_repair']}/{s['answers']}; mean distinct named {s['mean_valid']:.2f}/{n}")
        print(f"  answers with duplicates {s['with_duplicates']}, invented {s['with_hallucinated']}, history {s['with_history']}, "
              f"missing {s['with_missing']}, cut off {s['truncated']}, unusable {s['unusable']}")
        print(f"  NDCG@10 {s['NDCG@10']:.4f}; median {s['median_seconds']:.2f} s a call")
    print(f"\nseconds per call, structured / free text: {result['seconds_ratio_structured_over_free']:.2f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
