"""Score mode against its physical floor, permutations and generate mode, side by side in one run (issue 3).

    python eval/bench_modes.py [--users 24] [--threads 1] [--out eval/results/bench_modes.json]

Same model (the bundled SmolLM2-135M), same MovieLens users (latest-small, LLMRank protocol: the last 20
history items, the truth plus 19 seeded negatives), each user's five calls interleaved round-robin (the order
rotated from user to user) and the KV cache emptied before each (untimed); medians reported:

1. ``bare``: plain llama-cpp-python on exactly the tokens score mode evaluates (the chat prompt and ``[``):
   tokenize, ``llm.reset()``, ``llm.eval(tokens)``, copy the last position's logits: the physical floor;
2. ``score``: ``Ranker(mode="score")``, no cache: render, fit the history, one forward pass, rank;
3. ``score B=3``: ``permutations=3``; passes 2 and 3 reuse the shared prefix (system prompt and history)
   from the KV cache, so the predicted cost is ``1 + (B-1) * c / (p + c)`` of one pass, where ``p`` is the
   shared prefix and ``c`` the rest (the candidate block and the instruction after it), both measured;
4. ``generate labels``: ``Ranker()`` default generate mode, the grammar-constrained list of all 20 labels;
5. ``generate titles``: an LLMRank-style prompt (numbered history and candidate titles, "show me your
   ranking results with order numbers") answered by a raw chat completion, ``max_tokens`` = the tokens of the
   20 numbered candidate titles + 16, so the answer may name all 20 titles (and is cut there).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_common import (  # noqa: E402
    PREFIX,
    Runs,
    bare_forward,
    chat_prompt_tokens,
    local_backend,
    machine_note,
    movielens_cases,
    round_robin,
    shared_prefix,
    user_history,
    write_json,
)

from promptrec import Ranker  # noqa: E402
from promptrec.backends.base import Completion, GenerationParams, Message  # noqa: E402
from promptrec.backends.llamacpp import LlamaCppBackend  # noqa: E402
from promptrec.debias import pass_shift  # noqa: E402
from promptrec.evaluation.cases import Case  # noqa: E402
from promptrec.parsing import label_alphabet, parse_ranking  # noqa: E402

B = 3


def llmrank_prompt(case: Case) -> list[Message]:
    """LLMRank's sequential prompt (Hou et al. 2024) for ``case``: one user message, titles numbered."""
    history = [f"{i}. {item.title}" for i, item in enumerate(case.query.history)]
    candidates = [f"{i}. {item.title}" for i, item in enumerate(case.query.candidates)]
    n = len(candidates)
    text = (
        f"I've watched the following movies in the past in order:\n{history}\n\n"
        f"Now there are {n} candidate movies that I can watch next:\n{candidates}\n"
        f"Please rank these {n} movies by measuring the possibilities that I would like to watch next most, "
        "according to my watching history. Please think step by step.\n"
        "Please show me your ranking results with order numbers. Split your output with line break. You MUST "
        "rank the given candidate movies. You can not generate movies that are not in the candidate list."
    )
    return [{"role": "user", "content": text}]


def titles_budget(backend: LlamaCppBackend, case: Case) -> int:
    """Answer tokens enough for all candidates as numbered title lines, plus a margin of 16."""
    lines = "\n".join(f"{i}. {item.title}" for i, item in enumerate(case.query.candidates, start=1))
    return len(backend._tokenize(lines)) + 16


def titles_valid(case: Case, completion: Completion) -> dict[str, Any]:
    """What promptrec's parser makes of a titles answer: candidates named, repaired or not, truncated."""
    titles = [item.title for item in case.query.candidates]
    _, report = parse_ranking(
        completion.text, label_alphabet(len(titles)), titles,
        history_titles=[item.title for item in case.query.history],
        truncated=completion.finish_reason == "length",
    )
    return {"valid": report.valid, "repaired": report.repaired, "truncated": report.truncated}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads, the same for every method")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_modes.json"))
    args = parser.parse_args()
    machine = machine_note(args.threads)
    print(machine)
    backend = local_backend(args.threads)
    cases = movielens_cases(args.users)
    print(f"{len(cases)} MovieLens test users (seed 0): {' '.join(c.query.user_id for c in cases)}")

    score = Ranker(backend, "movies", mode="score", max_history=20)
    score_b = Ranker(backend, "movies", mode="score", permutations=B, max_history=20)
    generate = Ranker(backend, "movies", max_history=20)
    prompts: dict[str, str] = {}
    shapes: dict[str, dict[str, int]] = {}
    for case in cases:  # what score mode sends, rendered once up front for the bare path
        history, candidates = user_history(case), list(case.query.candidates)
        first = score.prepare(history, candidates)
        second = score.prepare(history, candidates, shift=pass_shift(1, B, len(candidates)))
        prompts[case.case_id] = backend._chat_prompt(first.messages) + PREFIX
        a, b = chat_prompt_tokens(backend, first.messages), chat_prompt_tokens(backend, second.messages)
        p = shared_prefix(a, b)
        shapes[case.case_id] = {"tokens": len(a), "p": p, "c": len(a) - p}

    def titles(case: Case) -> Completion:
        return backend.complete(llmrank_prompt(case), GenerationParams(max_tokens=titles_budget(backend, case)))

    methods = {
        "bare": lambda case: bare_forward(backend, prompts[case.case_id]),
        "score": lambda case: score.rank(user_history(case), list(case.query.candidates)),
        f"score B={B}": lambda case: score_b.rank(user_history(case), list(case.query.candidates)),
        "generate labels": lambda case: generate.rank(user_history(case), list(case.query.candidates)),
        "generate titles": titles,
    }
    score.rank(user_history(cases[0]), list(cases[0].query.candidates))  # warm-up (label tokens, grammar)
    generate.rank(user_history(cases[0]), list(cases[0].query.candidates))
    runs = round_robin(cases, methods, before=lambda name: backend.reset(), progress="bench_modes")
    report = summarize(runs, cases, shapes, machine, backend.name)
    write_json(args.out, report)
    print_report(report)


def summarize(runs: Runs, cases: list[Case], shapes: dict[str, dict[str, int]], machine: str, model: str) -> dict[str, Any]:
    """Medians, tokens and the ratios the issue asks for."""
    med = {name: runs.median(name) for name in runs.seconds}
    p = statistics.median(shapes[c.case_id]["p"] for c in cases)
    c = statistics.median(shapes[c.case_id]["c"] for c in cases)
    predicted = 1 + (B - 1) * c / (p + c)
    gen = runs.results["generate labels"]
    titles = [titles_valid(case, completion) for case, completion in zip(cases, runs.results["generate titles"])]
    tokens = {
        "bare": {"prompt": statistics.median(shapes[c.case_id]["tokens"] for c in cases), "answer": 0},
        "score": _usage(runs.results["score"]),
        f"score B={B}": _usage(runs.results[f"score B={B}"]),
        "generate labels": _usage(gen),
        "generate titles": {
            "prompt": statistics.median(r.usage.input_tokens for r in runs.results["generate titles"]),
            "answer": statistics.median(r.usage.output_tokens for r in runs.results["generate titles"]),
        },
    }
    ratios = {
        "score / bare": med["score"] / med["bare"],
        "score / bare (paired median)": runs.paired_ratio("score", "bare"),
        f"score B={B} / score": med[f"score B={B}"] / med["score"],
        f"score B={B} / score predicted": predicted,
        "generate labels / score": med["generate labels"] / med["score"],
        "generate titles / score": med["generate titles"] / med["score"],
    }
    return {
        "model": model,
        "machine": machine,
        "users": [case.query.user_id for case in cases],
        "n_users": len(cases),
        "median_s": med,
        "min_s": {name: min(values) for name, values in runs.seconds.items()},
        "tokens_median": tokens,
        "prefix_tokens_p": p,
        "candidate_block_tokens_c": c,
        "ratios": ratios,
        "goals": {"score / bare": "<= 1.10"},
        "generate_labels_repaired_rate": sum(r.report.repaired for r in gen) / len(gen),
        "generate_titles": {
            "median_candidates_named": statistics.median(t["valid"] for t in titles),
            "all_20_named_rate": sum(t["valid"] == len(cases[0].query.candidates) for t in titles) / len(titles),
            "truncated_rate": sum(t["truncated"] for t in titles) / len(titles),
            "max_tokens": "tokens of the 20 numbered candidate titles + 16",
        },
        "seconds": runs.seconds,
    }


def _usage(rankings: list[Any]) -> dict[str, float]:
    return {
        "prompt": statistics.median(r.usage.input_tokens for r in rankings),
        "answer": statistics.median(r.usage.output_tokens for r in rankings),
    }


def print_report(report: dict[str, Any]) -> None:
    """The table and the ratios, on stdout."""
    print(f"\n{report['model']} | {report['n_users']} users | {report['machine']}")
    print(f"{'method':<18}{'median s':>10}{'min s':>9}{'prompt tok':>12}{'answer tok':>12}")
    for name, seconds in report["median_s"].items():
        tok = report["tokens_median"][name]
        print(f"{name:<18}{seconds:>10.3f}{report['min_s'][name]:>9.3f}{tok['prompt']:>12.0f}{tok['answer']:>12.0f}")
    r = report["ratios"]
    print(f"\nscore / bare: {r['score / bare']:.3f} (paired median {r['score / bare (paired median)']:.3f}; goal <= 1.10)")
    print(f"score B={B} / score: {r[f'score B={B} / score']:.2f} measured vs {r[f'score B={B} / score predicted']:.2f} "
          f"predicted = 1 + {B - 1}*c/(p+c), p = {report['prefix_tokens_p']:.0f} shared prefix tokens, "
          f"c = {report['candidate_block_tokens_c']:.0f} candidate block tokens")
    print(f"generate labels / score: {r['generate labels / score']:.2f} "
          f"(answers repaired: {report['generate_labels_repaired_rate']:.0%})")
    t = report["generate_titles"]
    print(f"generate titles / score: {r['generate titles / score']:.2f} (max_tokens = {t['max_tokens']}; median "
          f"{t['median_candidates_named']} of 20 titles named, all 20 in {t['all_20_named_rate']:.0%}, "
          f"cut at max_tokens {t['truncated_rate']:.0%})")


if __name__ == "__main__":
    main()
