"""Feedback as in-context examples: NDCG@10 of the next step with 0, 1, 3 and 5 feedback examples.

    python eval/bench_feedback.py [--users 40] [--threads 2] [--mode score] [--examples 0,1,3,5]

Two replays on real data, the same users and candidates for every number of examples:

- within a scenario (MovieLens, ``movies``): a sampled user's last rating is the truth (candidates: it + 19
  random movies the user never rated, seed 0). The 5 ratings before it are replayed as feedback, one step
  at a time, with their real ratings (>= 4 "liked", <= 2 "disliked", else "rated N/5"); the history shown
  is what precedes those 5 steps (the last 20 items). With N examples the prompt carries the N most recent
  steps, so the model sees more of what the user did just before the truth.
- across scenarios (Amazon, the same users in books and movies): a cold-start user with no movie history
  gets a movie recommendation (truth: their first movie, 19 random movies as negatives). Their 3-5 book
  ratings are recorded as "clicked" feedback in the ``books`` scenario and enter the movie prompt as
  examples from another scenario (N most recent; N = 5 means all of them).

Random, popularity, co-occurrence and BM25 rows use the same queries (the history as shown; feedback is
not theirs to use). Writes eval/results/feedback.json. Answers are cached, so a rerun is cheap.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from promptrec.backends import get_backend
from promptrec.cache import CompletionCache
from promptrec.data import Item
from promptrec.evaluation.baselines import BM25Baseline, Method, ranked_ids
from promptrec.evaluation.cases import Case, EvalDataset
from promptrec.evaluation.datasets import load_dataset, resolve
from promptrec.evaluation.llm import LLMMethod
from promptrec.evaluation.metrics import MAIN_METRIC, aggregate, per_case, random_reference
from promptrec.evaluation.protocol import ProtocolConfig, build_cases, make_case, sample_records
from promptrec.evaluation.runner import baselines
from promptrec.feedback import FeedbackConfig
from promptrec.feedback_store import FeedbackStore
from promptrec.ranker import Ranker

STEPS = 5  # feedback steps replayed before the truth


def movielens_ratings(data_dir: str | None) -> dict[tuple[str, str], float]:
    """(user, movie) -> rating, from the published ratings.csv (a user's last rating of a movie wins)."""
    folder = Path(resolve("movielens", data_dir)[1])
    with (folder / "ratings.csv").open(encoding="utf-8", newline="") as file:
        return {(row["userId"], row["movieId"]): float(row["rating"]) for row in csv.DictReader(file)}


def rating_label(rating: float) -> dict[str, Any]:
    """A MovieLens rating as a feedback label."""
    if rating >= 4:
        return {"label": "liked"}
    if rating <= 2:
        return {"label": "disliked"}
    return {"label": "rating", "rating": rating}


def within_scenario(dataset: EvalDataset, config: ProtocolConfig, ratings: dict[tuple[str, str], float]):
    """Cases whose history stops 5 steps before the truth, and each user's 5 steps (oldest first)."""
    eligible = [r for r in dataset.test.records if len(r.history) > STEPS]
    records = sample_records(eligible, config.users, config.seed, f"{dataset.name}|feedback")
    cases, steps = [], {}
    for record in records:
        shortened = replace(record, history=record.history[:-STEPS])
        cases.append(make_case(shortened, dataset, "test", config))
        steps[record.user_id] = [
            (dataset.items[item_id], rating_label(ratings[(record.user_id, item_id)]))
            for item_id in record.history[-STEPS:]
        ]
    return cases, steps


def across_scenarios(dataset: EvalDataset, config: ProtocolConfig):
    """Cold-start cases with no history, and each user's source-domain items as "clicked" steps."""
    cases, _ = build_cases(dataset, config)
    steps = {c.query.user_id: [(item, {"label": "clicked"}) for item in c.query.history] for c in cases}
    return [replace(c, query=replace(c.query, history=())) for c in cases], steps


def feedback_store(path: Path, scenario: str, steps: dict[str, list[tuple[Item, dict[str, Any]]]], n: int) -> FeedbackStore:
    """A store holding each user's ``n`` most recent steps, in time order."""
    store = FeedbackStore(path)
    for user_id, user_steps in steps.items():
        for index, (item, label) in enumerate(user_steps[len(user_steps) - n :] if n else []):
            store.add(user_id, scenario, item, label["label"], rating=label.get("rating"), timestamp=1e9 + index)
    return store


def metric(cases: list[Case], method: Method) -> float:
    orders = {c.case_id: ranked_ids(c.query, method.score(c.query).scores) for c in cases}
    return aggregate(per_case(cases, orders))[MAIN_METRIC]


def run(name: str, dataset: EvalDataset, cases: list[Case], steps, scenario: str, feedback_scenario: str,
        args: argparse.Namespace, backend: Any, cache: CompletionCache, folder: Path) -> dict[str, float]:
    """NDCG@10 of the baselines and of the LLM with each number of feedback examples."""
    rows: dict[str, float] = {}
    bm25 = BM25Baseline([dataset.items[item_id] for item_id in dataset.pool])
    for method in baselines(dataset, "test", args.seed, bm25):
        rows[method.name] = metric(cases, method)
    llms = {}
    for n in args.examples:
        store = feedback_store(folder / f"{name}-{n}.db", feedback_scenario, steps, n)
        config = FeedbackConfig(store, examples=n, selection="recent", cross_scenario=feedback_scenario != scenario,
                                rejected="keep")
        ranker = Ranker(backend, scenario, mode=args.mode, feedback=config, cache=cache, seed=args.seed, max_history=20)
        llms[n] = LLMMethod(ranker, f"LLM, {n} feedback examples")
    orders: dict[int, dict[str, list[str]]] = {n: {} for n in llms}
    for index, case in enumerate(cases, start=1):  # a user's prompts one after another: the history stays in the KV cache
        for n, method in llms.items():
            orders[n][case.case_id] = ranked_ids(case.query, method.score(case.query).scores)
        print(f"\r{name}: {index}/{len(cases)} users", end="", flush=True)
    for n, method in llms.items():
        rows[method.name] = value = aggregate(per_case(cases, orders[n]))[MAIN_METRIC]
        print(f"\n{name}: {n} examples: {MAIN_METRIC} {value:.3f}", end="", flush=True)
    print()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", choices=("score", "generate"), default="score")
    parser.add_argument("--examples", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 3, 5])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cache-dir", default="eval/results/cache")
    parser.add_argument("--out", default="eval/results/feedback.json")
    args = parser.parse_args()

    backend = get_backend("llamacpp", n_threads=args.threads)
    cache = CompletionCache(args.cache_dir)
    config = ProtocolConfig(users=args.users, valid_users=0, seed=args.seed)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        movielens = load_dataset("movielens", args.data_dir)
        cases, steps = within_scenario(movielens, config, movielens_ratings(args.data_dir))
        results["movielens (within movies)"] = run(
            "movielens", movielens, cases, steps, "movies", "movies", args, backend, cache, Path(folder))
        books_movies = load_dataset("books-movies", args.data_dir)
        cases_x, steps_x = across_scenarios(books_movies, config)
        results["books -> movies (cold start, feedback from books)"] = run(
            "books->movies", books_movies, cases_x, steps_x, "movies", "books", args, backend, cache, Path(folder))
    protocol = {
        "users": f"{len(cases)} MovieLens, {len(cases_x)} books->movies (seed {args.seed})",
        "candidates": "the truth + 19 random negatives the user never had",
        "within": f"history = the last 20 items before the last {STEPS} steps; feedback = the N most recent of "
        "those steps, with their real ratings",
        "across": "no movie history; feedback = the N most recent of the user's 3-5 book ratings ('clicked', "
        "scenario books, named as another scenario in the prompt)",
        "model": backend.name, "mode": args.mode,
    }
    reference = random_reference(20)[MAIN_METRIC]
    print("\n" + "\n".join(f"{key}: {value}" for key, value in protocol.items()))
    names = list(results)
    print(f"\n{MAIN_METRIC} (random reference {reference:.3f})\n\n| method | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for row in results[names[0]]:
        print(f"| {row} | " + " | ".join(f"{results[n][row]:.3f}" for n in names) + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"protocol": protocol, "metric": MAIN_METRIC, "results": results}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
