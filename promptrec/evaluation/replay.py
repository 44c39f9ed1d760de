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

import hashlib
import math
import random
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptrec.config import PipelineConfig
from promptrec.data import Catalog
from promptrec.errors import DataError
from promptrec.evaluation.interaction_log import InteractionLog
from promptrec.feedback_store import FeedbackRecord

LIKED_AT, DISLIKED_AT = 4.0, 2.0
ARMS = ("control", "demote", "remove")
METRICS = ("hit", "ndcg", "found", "disliked_again")

#: the datasets ``promptrec eval --protocol replay`` is documented with (any dataset with ratings and times
#: works: :func:`promptrec.evaluation.datasets.load_log`)
REPLAY_DATASETS = ("movielens", "amazon-books", "amazon-cds", "amazon-movies")


@dataclass(frozen=True)
class RatedData:
    """A catalog and each user's ratings, oldest first: user -> [(item id, rating)] (``None``: not rated)."""

    name: str
    catalog: Catalog
    sequences: dict[str, list[tuple[str, float | None]]]
    files: str

    @classmethod
    def from_log(cls, log: InteractionLog) -> RatedData:
        """The replay's view of a dataset's :class:`InteractionLog` (the one every protocol reads)."""
        return cls(log.name, Catalog(log.items.values()),
                   {user: [(e.item_id, e.rating) for e in events] for user, events in log.sequences.items()},
                   log.files)


def load(spec: str, data_dir: Path | None = None) -> RatedData:
    """The replay dataset ``spec``: a short name or ``FORMAT:PATH`` of a format with ratings and times
    (:func:`promptrec.evaluation.datasets.load_log`, the loader the other protocols use)."""
    from promptrec.evaluation.datasets import load_log, log_formats

    try:
        log = load_log(spec, data_dir)
    except DataError as exc:
        if exc.field != "dataset":
            raise
        raise DataError(f"the replay protocol reads datasets with ratings and times: {', '.join(REPLAY_DATASETS)} "
                        f"(or FORMAT:PATH with FORMAT one of {', '.join(log_formats())}), not '{spec}'",
                        field="dataset") from None
    if not log.rated:
        raise DataError(f"the replay protocol needs ratings (to answer for the user); {log.files} has none",
                        field="dataset")
    return RatedData.from_log(log)


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"promptrec.evaluation.replay.{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)


def read_movielens(folder: Path) -> RatedData:
    """Deprecated: ``load(f"movielens:{folder}")`` (the MovieLens loader every protocol uses)."""
    from promptrec.evaluation.movielens import read_log

    _deprecated("read_movielens", 'load("movielens:FOLDER")')
    return RatedData.from_log(read_log(folder))


def read_amazon(path: Path, name: str) -> RatedData:
    """Deprecated: ``load(f"amazon:{path}")`` (the RecSys'24 Amazon reader the cross-domain protocol uses)."""
    from promptrec.evaluation.crossdomain import read_amazon_log

    _deprecated("read_amazon", 'load("amazon:FILE")')
    return RatedData.from_log(read_amazon_log(path, name))


#: deprecated: name -> reader of the data folder; :func:`load` reads every dataset with ratings and times
SOURCES: dict[str, Callable[[Path], RatedData]] = {name: (lambda root, n=name: load(n, root)) for name in REPLAY_DATASETS}


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


def answer(item_id: str, future: dict[str, float | None]) -> str:
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


__all__ = ["ARMS", "DISLIKED_AT", "LIKED_AT", "METRICS", "REPLAY_DATASETS", "SOURCES", "RatedData", "answer", "load", "ndcg",
           "read_amazon", "read_movielens", "report", "run_replay", "sample_users", "summarise"]
