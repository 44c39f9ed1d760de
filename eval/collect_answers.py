"""Collect a model's raw generate-mode answers on MovieLens prompts, for the parser's real-answer set.

    python eval/collect_answers.py --model "$(python eval/fetch_qwen.py --print-only)" --users 30 --threads 2 \\
        --out eval/results/parse_answers/qwen1.5b.jsonl
    python eval/collect_answers.py --out eval/results/parse_answers/qwen1.5b.jsonl --report-only

Seeded MovieLens (latest-small) test users under the LLMRank protocol (the last ``--history`` items, the
truth plus 19 seeded negatives, seed 0), the ``movies`` scenario in generate mode with free text
(``constrained=False``: no grammar, the model writes what it likes) and no re-ask, so every line is the
model's first answer. One JSON line per prompt, appended as it comes (a run started again skips the prompts
already there): ``prompt_id`` (the case id), ``model``, ``raw`` (the answer, verbatim), ``shown`` (the
candidates as ``[label, title]`` in prompt order), and what the parser of this checkout made of it
(``format``, ``valid_before_repair``, ``order``), the tokens and the seconds. The held-out item is never
read here. ``--report-only`` re-parses nothing and prints the format counts and valid-before-repair.
Completions are also cached (``--cache-dir``), so a lost JSONL line costs no model call.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_common import movielens_cases, user_history  # noqa: E402

from promptrec import Ranker  # noqa: E402
from promptrec.backends.llamacpp import LlamaCppBackend  # noqa: E402
from promptrec.cache import CompletionCache  # noqa: E402


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def report(records: list[dict[str, Any]]) -> None:
    n = len(records)
    formats = collections.Counter(r["format"] for r in records)
    valid = sum(r["valid_before_repair"] for r in records)
    print(f"{n} answers; ParseReport.format: " + ", ".join(f"{k} {v}" for k, v in formats.most_common()))
    print(f"valid before repair: {valid}/{n}")
    if n:
        print(f"median output tokens {sorted(r['output_tokens'] for r in records)[n // 2]}, "
              f"median seconds {sorted(r['seconds'] for r in records)[n // 2]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the bundled model)")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--history", type=int, default=20, help="history items shown (H)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=None, help="answer tokens [default: generate mode's]")
    parser.add_argument("--out", type=Path, default=Path("eval/results/parse_answers/answers.jsonl"))
    parser.add_argument("--cache-dir", type=Path, default=Path("eval/results/cache"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()

    records = read(args.out)
    if not args.report_only:
        done = {r["prompt_id"] for r in records}
        todo = [c for c in movielens_cases(args.users, history=args.history) if c.case_id not in done]
        if todo:
            backend = LlamaCppBackend(args.model, n_threads=args.threads)
            backend._llm._ctx.set_n_threads(args.threads, args.threads)  # prompt reading too (see eval/qwen_eval.py)
            ranker = Ranker(backend, "movies", constrained=False, reask=False, max_history=args.history,
                            max_tokens=args.max_tokens, cache=CompletionCache(args.cache_dir))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as sink:
                for count, case in enumerate(todo, start=1):
                    started = time.perf_counter()
                    ranking = ranker.rank(user_history(case), list(case.query.candidates))
                    seconds = time.perf_counter() - started
                    by_label = {item.label: item.item for item in ranking.items}
                    shown = [[label, by_label[label].title] for label in sorted(by_label, key=_label_key)]
                    n = len(case.query.candidates)
                    record = {
                        "prompt_id": case.case_id, "model": backend.name, "raw": ranking.raw, "shown": shown,
                        "format": ranking.report.format,
                        "valid_before_repair": ranking.report.valid == n and not ranking.report.repaired,
                        "order": [item.label for item in ranking.items],
                        "input_tokens": ranking.usage.input_tokens, "output_tokens": ranking.usage.output_tokens,
                        "seconds": round(seconds, 1), "cached": ranking.cached,
                    }
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                    sink.flush()
                    records.append(record)
                    print(f"{count}/{len(todo)} {case.case_id}: {ranking.report.format}, {seconds:.0f} s",
                          file=sys.stderr, flush=True)
    report(records)
    return 0


def _label_key(label: str) -> tuple[int, str]:
    return (len(label), label)


if __name__ == "__main__":
    sys.exit(main())
