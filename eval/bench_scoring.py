"""Score mode against generate mode on the in-process model, measured side by side in one run.

    python eval/bench_scoring.py [--model PATH.gguf] [--threads N] [--rounds 7] [--history 4,40] [--out ...]

For each history length, one user and 20 demo-catalog candidates (the ``movies`` scenario), each call timed
on its own and interleaved round by round so that machine load hits every method alike; medians reported:

- ``complete``: generate mode, the grammar-constrained answer of all 20 labels, from an empty KV cache;
- ``score fresh``: ``score_labels`` from an empty KV cache (``reuse_prefix=False``);
- ``score reuse``: ``score_labels`` right after scoring the same user with the candidates in another order
  (as permutation debiasing does), so the system prompt and history come from the KV cache.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from promptrec.backends.base import GenerationParams
from promptrec.backends.llamacpp import LlamaCppBackend
from promptrec.cli import demo_catalog_path
from promptrec.data import Item, read_catalog
from promptrec.prompting import answer_instruction, choice_instruction, label_list_grammar
from promptrec.scenario import load_scenario
from promptrec.scoring import single_token_labels


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def bench(backend: LlamaCppBackend, history_len: int, rounds: int) -> dict:
    items = list(read_catalog(demo_catalog_path()).values())
    history, candidates = items[:4], items[4:24]
    history = [Item(id=f"h{i}", title=f"Example Movie {i}", attributes={"year": 1970 + i}) for i in range(history_len - 4)] + history
    scenario = load_scenario("movies")
    labels = single_token_labels(backend, len(candidates))
    orders = [candidates[shift:] + candidates[:shift] for shift in range(0, 20, 5)]

    def messages(order, instruction):
        return scenario.render(history, list(zip(labels, order)), answer_format=instruction)

    score_prompts = [messages(order, choice_instruction(labels)) for order in orders]
    generate = messages(candidates, answer_instruction(labels))
    params = GenerationParams(max_tokens=8 * len(labels), grammar=label_list_grammar(labels))
    times: dict[str, list[float]] = {"complete": [], "score fresh": [], "score reuse": []}
    for r in range(rounds):
        backend.reset()
        times["complete"].append(timed(lambda: backend.complete(generate, params)))
        prompt = score_prompts[r % len(score_prompts)]
        times["score fresh"].append(timed(lambda p=prompt: backend.score_labels(p, labels, reuse_prefix=False)))
        backend.score_labels(score_prompts[(r + 1) % len(score_prompts)], labels)  # same user, other order
        times["score reuse"].append(timed(lambda p=prompt: backend.score_labels(p, labels)))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "history": history_len,
        "prompt_tokens": backend.count_tokens(score_prompts[0]),
        "answer_tokens": backend.complete(generate, params).usage.output_tokens,
        "median_s": medians,
        "min_s": {name: min(values) for name, values in times.items()},
        "complete / score fresh": medians["complete"] / medians["score fresh"],
        "score fresh / score reuse": medians["score fresh"] / medians["score reuse"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--history", default="4,40")
    parser.add_argument("--out", default="eval/results/bench_scoring.json")
    args = parser.parse_args()
    backend = LlamaCppBackend(args.model, n_threads=args.threads)
    if args.threads:  # the prompt is processed with n_threads_batch, which the backend leaves at all cores
        backend._llm._ctx.set_n_threads(args.threads, args.threads)
    results = [bench(backend, int(n), args.rounds) for n in args.history.split(",")]
    machine = f"{platform.machine()}, Python {platform.python_version()}, threads {args.threads or 'all'}"
    report = {"model": backend.name, "machine": machine, "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    for row in results:
        m = row["median_s"]
        print(f"history {row['history']:>3} min: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in row["min_s"].items()))
        print(
            f"history {row['history']:>3} ({row['prompt_tokens']} prompt tokens, {row['answer_tokens']} answer tokens): "
            f"complete {m['complete'] * 1000:.0f} ms | score fresh {m['score fresh'] * 1000:.0f} ms | "
            f"score reuse {m['score reuse'] * 1000:.0f} ms | complete/score {row['complete / score fresh']:.1f}x | "
            f"fresh/reuse {row['score fresh / score reuse']:.1f}x"
        )


if __name__ == "__main__":
    main()
