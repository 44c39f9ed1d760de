"""Real free-text answers, kept raw, and what the parser reads from them.

    python eval/parse_answers.py collect [--users 50] [--threads 1] [--strategy sequential]
    python eval/parse_answers.py report [FILES...] [--baseline REV] [--out eval/results/parse_answers/report.json]

``collect`` asks the bundled SmolLM2-135M-Instruct (in process, through llama.cpp) to rank 20 MovieLens
candidates in generate mode, free text (``constrained=False``: no grammar, the model writes what it likes),
no cache and no re-ask, so every answer is the model's first. Users are the seeded LLMRank-protocol test
users of ``eval/_bench_common.movielens_cases`` (the last 20 history items, the truth plus 19 negatives,
seed 0). Each answer is appended to ``eval/results/parse_answers/<model>.jsonl`` as it comes, with what
re-parsing needs: the labels and titles in prompt order and the history titles (never the held-out item);
a run started again skips the answers already there.

``report`` re-parses every answer of every ``*.jsonl`` under ``eval/results/parse_answers/`` (answers that
another script put there, e.g. the 1.5B model of the evaluation with its candidates as ``shown``:
``[[label, title], ...]``, are counted alike) and
prints, per file: the answers, the ``ParseReport.format`` counts, valid before repair (every candidate named
and nothing dropped or appended), the mean share of candidates named, the answers that recommended history
items or invented ones, and the answers whose order differs from the current parser's.
``--baseline REV`` re-parses them also with ``promptrec/parsing.py`` as it was at git revision REV, side by
side. The outcome is a markdown table (for eval/README.md) and a JSON file.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
DEFAULT_DIR = ROOT / "eval" / "results" / "parse_answers"

Parser = Callable[..., tuple[list[int], Any]]


def collect(args: argparse.Namespace) -> None:
    from _bench_common import machine_note, movielens_cases, user_history

    from promptrec import Ranker
    from promptrec.backends.llamacpp import LlamaCppBackend

    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {(r["strategy"], r["case_id"]) for r in map(json.loads, out.read_text().splitlines())}
    cases = movielens_cases(args.users)
    todo = [case for case in cases if (args.strategy, case.case_id) not in done]
    print(machine_note(args.threads), file=sys.stderr)
    if not todo:
        print(f"all {len(cases)} answers are in {out}", file=sys.stderr)
        return
    backend = LlamaCppBackend(None, n_ctx=4096, n_threads=args.threads)
    ranker = Ranker(backend, "movies", strategy=args.strategy, constrained=False, reask=False, cache=None)
    with out.open("a") as sink:
        for count, case in enumerate(todo, start=1):
            history = user_history(case)
            start = time.perf_counter()
            ranking = ranker.rank(history, list(case.query.candidates))
            shown = sorted(ranking.items, key=lambda item: _label_key(item.label))
            record = {
                "model": args.model,
                "strategy": args.strategy,
                "case_id": case.case_id,
                "labels": [item.label for item in shown],
                "titles": [item.item.title for item in shown],
                "history_titles": [item.title for item in case.query.history],
                "raw": ranking.raw,
                "truncated": ranking.report.truncated,
                "seconds": round(time.perf_counter() - start, 2),
            }
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()
            print(f"\r{count}/{len(todo)} answers", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def _label_key(label: str) -> tuple[int, str]:
    return (int(label), "") if label.isdigit() else (0, label)


def _parser_at(revision: str) -> Parser:
    """``parse_ranking`` of promptrec/parsing.py as it was at git ``revision`` (loaded beside the current)."""
    source = subprocess.run(["git", "show", f"{revision}:promptrec/parsing.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "parsing_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("parsing_baseline", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["parsing_baseline"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.parse_ranking  # type: ignore[no-any-return]


def _normalised(record: dict[str, Any]) -> dict[str, Any]:
    """A record of this script, or of another one that keeps the candidates as ``shown``: [[label, title]]."""
    if "labels" not in record and "shown" in record:
        record = {**record, "labels": [label for label, _ in record["shown"]],
                  "titles": [title for _, title in record["shown"]]}
    return record


def summarize(records: list[dict[str, Any]], parse: Parser) -> dict[str, Any]:
    """The shape report of one file's answers under one parser."""
    formats: collections.Counter[str] = collections.Counter()
    valid_before_repair = with_history = with_invented = 0
    named = []
    orders = []
    for record in records:
        order, report = parse(record["raw"], record["labels"], record["titles"],
                              history_titles=record.get("history_titles", ()), truncated=record.get("truncated", False))
        orders.append(order)
        formats[report.format] += 1
        n = len(record["labels"])
        valid_before_repair += report.valid == n and not report.repaired
        with_history += bool(report.history)
        with_invented += bool(report.hallucinated)
        named.append(report.valid / n)
    return {
        "answers": len(records),
        "format": dict(formats.most_common()),
        "valid_before_repair": valid_before_repair,
        "mean_share_named": round(statistics.fmean(named), 4) if named else 0.0,
        "with_history_items": with_history,
        "with_invented_items": with_invented,
        "orders": orders,
    }


def report(args: argparse.Namespace) -> None:
    from promptrec.parsing import parse_ranking

    files = args.files or sorted(DEFAULT_DIR.glob("*.jsonl"))
    parsers: dict[str, Parser] = {"now": parse_ranking}
    if args.baseline:
        parsers[f"at {args.baseline}"] = _parser_at(args.baseline)
    result: dict[str, Any] = {}
    lines = ["| answers | model, strategy | parser | ParseReport.format | valid before repair | mean share named | "
             "with history items | with invented items | orders unlike now |", "|---|---|---|---|---|---|---|---|---|"]
    for path in files:
        records = [_normalised(json.loads(line)) for line in Path(path).read_text().splitlines() if line.strip()]
        groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for record in records:
            model = record.get("model", Path(path).stem)
            groups[f"{model}, {record['strategy']}" if "strategy" in record else model].append(record)
        for group, mine in groups.items():
            now: list[list[int]] = []
            for name, parse in parsers.items():
                summary = summarize(mine, parse)
                orders = summary.pop("orders")
                now = now or orders
                summary["read_differently_from_now"] = sum(a != b for a, b in zip(orders, now))
                result.setdefault(group, {})[name] = summary
                formats = ", ".join(f"{k} {v}" for k, v in summary["format"].items())
                lines.append(f"| {summary['answers']} | {group} | {name} | {formats} | "
                             f"{summary['valid_before_repair']}/{summary['answers']} | {summary['mean_share_named']:.3f} | "
                             f"{summary['with_history_items']} | {summary['with_invented_items']} | "
                             f"{summary['read_differently_from_now']} |")
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("collect", help="ask the bundled model, keep the raw answers")
    run.add_argument("--users", type=int, default=50)
    run.add_argument("--threads", type=int, default=1)
    run.add_argument("--strategy", default="sequential", choices=("sequential", "recency", "in_context"))
    run.add_argument("--model", default="smollm2-135m")
    run.add_argument("--out", type=Path, default=DEFAULT_DIR / "smollm2-135m.jsonl")
    read = commands.add_parser("report", help="re-parse the kept answers")
    read.add_argument("files", nargs="*", type=Path)
    read.add_argument("--baseline", help="also parse with promptrec/parsing.py at this git revision")
    read.add_argument("--out", type=Path, default=DEFAULT_DIR / "report.json")
    args = parser.parse_args()
    collect(args) if args.command == "collect" else report(args)


if __name__ == "__main__":
    main()
