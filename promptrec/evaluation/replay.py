"""The replay protocol (``--protocol replay``): does the feedback loop help, round after round?

For each sampled test user, the first ``start`` items of their rating history (by time; ties keep the file's
order) are what the recommender knows; the rest is their held-back future. Each round the shipped pipeline
(:class:`promptrec.pipeline.Recommender`, built from the run's configuration) recommends ``k`` items from the
whole catalog, and the user answers from their own future: a shown item they rated 4 or more later is
*liked*, 2 or less *disliked*, anything else *skipped* (shown, not taken). The answers go back to the
recommender as feedback records, and the next round starts. Nothing in the recommender reads the future but
through those answers.

Reported per round, for each arm:

* ``hit``: whether any of the ``k`` shown items is in the user's future; ``ndcg``: NDCG@k with every future
  item relevant; ``found``: the share of the user's future found so far (distinct, over rounds);
* ``disliked_again``: of the items the user disliked in earlier rounds, the share shown again.

No arm shows an item twice (each round is a new page, as an app shows it). The arms: ``control`` (the same
pipeline without feedback: it pages down its own list), ``demote`` and ``remove`` (feedback, with rejected
items demoted or removed). So the difference to the control is what the answers themselves bring. Differences
are paired per user, with their standard errors.

The interactions the co-occurrence and popularity retrievers learn from are every other user's ratings plus
the test users' first ``start`` items: no test user's future is in them.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import json
import math
import random
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptrec.config import PipelineConfig
from promptrec.data import Catalog, Item
from promptrec.errors import DataError
from promptrec.feedback_store import FeedbackRecord

#: name -> (relative path under the data folder, reader); each source has ratings and timestamps
LIKED_AT, DISLIKED_AT = 4.0, 2.0
ARMS = ("control", "demote", "remove")
METRICS = ("hit", "ndcg", "found", "disliked_again")


@dataclass(frozen=True)
class RatedData:
    """A catalog and each user's ratings, oldest first: user -> [(item id, rating)]."""

    name: str
    catalog: Catalog
    sequences: dict[str, list[tuple[str, float]]]
    files: str


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
            yield from enumerate(csv.DictReader(handle), start=2)
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path=path) from None


def _number(text: str | None, path: Path, line: int, name: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        raise DataError(f"not a number: {text!r}", path=path, line=line, field=name) from None
    if not math.isfinite(value):
        raise DataError(f"not a finite number: {text!r}", path=path, line=line, field=name)
    return value


def _ordered(events: dict[str, list[tuple[float, int, str, float]]]) -> dict[str, list[tuple[str, float]]]:
    """Each user's events by time, ties in file order."""
    return {user: [(item, rating) for _, _, item, rating in sorted(rows)] for user, rows in events.items()}


def read_movielens(folder: Path) -> RatedData:
    """GroupLens ``ratings.csv`` + ``movies.csv`` (ml-latest-small's layout)."""
    items: dict[str, Item] = {}
    movies = folder / "movies.csv"
    for _, row in _rows(movies):
        genres = [g for g in (row.get("genres") or "").split("|") if g and g != "(no genres listed)"]
        items[row["movieId"]] = Item(id=row["movieId"], title=row["title"].strip(),
                                     attributes={"genres": genres} if genres else {})
    ratings = folder / "ratings.csv"
    events: dict[str, list[tuple[float, int, str, float]]] = {}
    for line, row in _rows(ratings):
        if row["movieId"] not in items:
            raise DataError(f"movie {row['movieId']} is not in movies.csv", path=ratings, line=line, field="movieId")
        events.setdefault(row["userId"], []).append(
            (_number(row["timestamp"], ratings, line, "timestamp"), line, row["movieId"],
             _number(row["rating"], ratings, line, "rating")))
    return RatedData("movielens", Catalog(items.values()), _ordered(events), f"{ratings}, {movies}")


def read_amazon(path: Path, name: str) -> RatedData:
    """One domain of the shared Amazon 2014 data (``merged/<domain>.csv.gz``: user_id, item_id, rating,
    timestamp, title, brand, category); HTML entities in titles are unescaped."""
    items: dict[str, Item] = {}
    events: dict[str, list[tuple[float, int, str, float]]] = {}
    for line, row in _rows(path):
        item_id = row["item_id"]
        if item_id not in items:
            attributes: dict[str, Any] = {}
            if row.get("brand"):
                attributes["brand"] = html.unescape(row["brand"])
            try:
                categories = json.loads((row.get("category") or "[]").replace("'", '"'))
            except ValueError:
                categories = []
            if categories:
                attributes["category"] = [html.unescape(str(c)) for c in categories]
            items[item_id] = Item(id=item_id, title=html.unescape(row["title"]).strip() or item_id,
                                  attributes=attributes)
        events.setdefault(row["user_id"], []).append(
            (_number(row["timestamp"], path, line, "timestamp"), line, item_id,
             _number(row["rating"], path, line, "rating")))
    return RatedData(name, Catalog(items.values()), _ordered(events), str(path))


#: the datasets the replay protocol reads (each needs ratings with times): name -> reader of the data folder
SOURCES: dict[str, Callable[[Path], RatedData]] = {
    "movielens": lambda root: read_movielens(root / "movielens-latest-small"),
    **{f"amazon-{domain}": (lambda root, d=domain: read_amazon(
        root / "amazon_books_cds_movies_recsys24" / "merged" / f"{d}.csv.gz", f"amazon-{d}"))
       for domain in ("books", "cds", "movies")},
}


def load(spec: str, data_dir: Path) -> RatedData:
    """The replay dataset ``spec`` (a name of :data:`SOURCES`, or ``movielens:FOLDER``)."""
    kind, _, path = spec.partition(":")
    if path and kind == "movielens":
        return read_movielens(Path(path))
    if spec not in SOURCES:
        raise DataError(f"the replay protocol reads: {', '.join(SOURCES)} (or movielens:FOLDER), not '{spec}'",
                        field="dataset")
    return SOURCES[spec](data_dir)


@dataclass
class ArmResult:
    """Per round, each metric's per-user values (users in sample order)."""

    values: dict[str, list[list[float]]] = field(default_factory=dict)

    def add(self, metric: str, round_index: int, value: float) -> None:
        rounds = self.values.setdefault(metric, [])
        while len(rounds) <= round_index:
            rounds.append([])
        rounds[round_index].append(value)


def ndcg(shown: Sequence[str], relevant: set[str], k: int) -> float:
    """NDCG@k with binary relevance; 0 when nothing is relevant."""
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(shown[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def answer(item_id: str, future: dict[str, float]) -> str:
    """The user's answer to a shown item, from their own future (module docstring)."""
    rating = future.get(item_id)
    if rating is None:
        return "skipped"
    return "liked" if rating >= LIKED_AT else "disliked" if rating <= DISLIKED_AT else "skipped"


def sample_users(data: RatedData, n: int, start: int, seed: int) -> list[str]:
    """``n`` users with more than ``start`` ratings, drawn with ``seed`` from the sorted eligible ids (so the
    same files give the same users wherever they are)."""
    eligible = sorted(u for u, s in data.sequences.items() if len(s) > start)
    if not eligible:
        raise DataError(f"no user of {data.name} has more than {start} ratings")
    return random.Random(seed).sample(eligible, min(n, len(eligible)))


def run_replay(data: RatedData, config: PipelineConfig, *, users: int, rounds: int = 5, start: int = 5,
               k: int = 10, seed: int = 0, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """The replay protocol on ``data`` with the pipeline of ``config`` (module docstring); returns the
    results as a JSON-ready dict."""
    from promptrec.retrieval import Interactions

    chosen = sample_users(data, users, start, seed)
    test = set(chosen)
    known = {u: [i for i, _ in s[:start]] if u in test else [i for i, _ in s] for u, s in data.sequences.items()}
    interactions = Interactions.from_sequences(data.catalog, known)
    config = config.updated({"feedback": {"enabled": False}})  # feedback comes from the replay, not a store
    recommenders = {arm: config.updated({"feedback": {"rejected": "demote" if arm == "control" else arm}})
                    .make_recommender(data.catalog, interactions=interactions) for arm in ARMS}
    results = {arm: ArmResult() for arm in ARMS}
    for done, user in enumerate(chosen):
        sequence = data.sequences[user]
        history = [data.catalog[i] for i, _ in sequence[:start]]
        future = {i: r for i, r in sequence[start:]}
        relevant = set(future)
        for arm in ARMS:
            records: list[FeedbackRecord] = []
            found: set[str] = set()
            disliked: set[str] = set()
            seen: set[str] = set()  # nothing shown is shown again, in every arm (a page of new items)
            for round_index in range(rounds):
                ranking = recommenders[arm].recommend(history, k, feedback=records if arm != "control" else None,
                                                      exclude=seen, user_id=user, explain=False)
                shown = ranking.ids()
                seen |= set(shown)
                found |= relevant & set(shown)
                result = results[arm]
                result.add("hit", round_index, float(bool(relevant & set(shown))))
                result.add("ndcg", round_index, ndcg(shown, relevant, k))
                result.add("found", round_index, len(found) / len(relevant))
                if disliked:
                    result.add("disliked_again", round_index, len(disliked & set(shown)) / len(disliked))
                for position, item_id in enumerate(shown):
                    label = answer(item_id, future)
                    if label == "disliked":
                        disliked.add(item_id)
                    records.append(FeedbackRecord(
                        user_id=user, scenario="replay", item_id=item_id, item_title=data.catalog[item_id].title,
                        label=label, shown=shown, timestamp=float(round_index * 1000 + position)))
        if progress is not None:
            progress(f"{data.name} replay", done + 1, len(chosen))
    return summarise(data, results, chosen, rounds=rounds, start=start, k=k, seed=seed)


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, se


def summarise(data: RatedData, results: dict[str, ArmResult], users: list[str], **protocol: Any) -> dict[str, Any]:
    """Per arm, round and metric: the mean and standard error; per feedback arm, the paired difference to the
    control (mean, s.e., and whether it is above 2 s.e.)."""
    arms: dict[str, Any] = {}
    for arm, result in results.items():
        arms[arm] = {}
        for metric, rounds in result.values.items():
            arms[arm][metric] = [dict(zip(("mean", "se", "users"), (*_mean_se(v), len(v)))) for v in rounds]
    paired: dict[str, Any] = {}
    for arm in ARMS[1:]:
        paired[arm] = {}
        for metric in ("hit", "ndcg", "found"):
            rows = []
            for mine, theirs in zip(results[arm].values[metric], results["control"].values[metric]):
                mean, se = _mean_se([a - b for a, b in zip(mine, theirs)])
                rows.append({"mean": mean, "se": se, "above_2se": bool(se > 0 and mean > 2 * se)})
            paired[arm][metric] = rows
    digest = hashlib.sha256("\n".join(users).encode()).hexdigest()[:12]
    return {"dataset": data.name, "files": data.files, "users": len(users), "users_sha256": digest,
            "protocol": {"name": "replay", **protocol, "liked_at": LIKED_AT, "disliked_at": DISLIKED_AT},
            "arms": arms, "paired_vs_control": paired}


def _cell(arms: dict[str, Any], paired: dict[str, Any], arm: str, metric: str, r: int) -> str:
    value = arms[arm][metric][r]["mean"]
    if arm == "control":
        return f"{value:.4f}"
    diff = paired[arm][metric][r]
    return f"{value:.4f} ({diff['mean']:+.4f} +- {diff['se']:.4f}{'*' if diff['above_2se'] else ''})"


def _again(arms: dict[str, Any], arm: str, r: int) -> str:
    rows = arms[arm].get("disliked_again", [])
    return f"{rows[r]['mean']:.3f} ({rows[r]['users']} users)" if r < len(rows) else "-"


def report(results: list[dict[str, Any]], config: PipelineConfig) -> str:
    """The Markdown report of :func:`run_replay` results."""
    lines = ["# promptrec replay evaluation", ""]
    first = results[0]["protocol"] if results else {}
    lines += [
        f"Protocol: each test user starts from the first {first.get('start')} items of their ratings (by time); "
        f"each of {first.get('rounds')} rounds the pipeline recommends k = {first.get('k')} from the whole "
        f"catalog and the user answers from their held-back future (rated >= {LIKED_AT:g}: liked, "
        f"<= {DISLIKED_AT:g}: disliked, else skipped). Nothing is shown twice in any arm. Control: the same "
        "pipeline without feedback, paging down its list. Differences "
        "are paired per user (mean +- s.e.; * = above 2 s.e.).",
        f"Pipeline: retriever {config.retrieval.retriever}, pool {config.retrieval.pool}, LLM weight "
        f"{config.retrieval.llm_weight if config.retrieval.llm_weight is not None else 'default'}; seed "
        f"{first.get('seed')}.", ""]
    for result in results:
        lines += [f"## {result['dataset']} ({result['users']} users, ids sha256 {result['users_sha256']})", "",
                  "| round | hit@k control | hit@k demote | hit@k remove | NDCG@k control | NDCG@k demote | "
                  "NDCG@k remove | found control | found demote | disliked again demote | disliked again remove |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        arms, paired = result["arms"], result["paired_vs_control"]
        for r in range(len(arms["control"]["hit"])):
            cells = [_cell(arms, paired, arm, metric, r) for metric in ("hit", "ndcg") for arm in ARMS]
            cells += [_cell(arms, paired, arm, "found", r) for arm in ("control", "demote")]
            cells += [_again(arms, arm, r) for arm in ("demote", "remove")]
            lines.append(f"| {r + 1} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


__all__ = ["ARMS", "DISLIKED_AT", "LIKED_AT", "METRICS", "SOURCES", "RatedData", "answer", "load", "ndcg",
           "read_amazon", "read_movielens", "report", "run_replay", "sample_users", "summarise"]
