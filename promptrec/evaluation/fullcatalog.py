"""The full-catalog protocol (``--protocol full``): the shipped pipeline measured stage by stage.

Every number comes from the object ``promptrec rank`` runs: a :class:`promptrec.pipeline.Recommender` built
by :meth:`PipelineConfig.make_recommender <promptrec.config.PipelineConfig.make_recommender>` from files the
run writes (:mod:`promptrec.evaluation.pipelines`). For each sampled user (the same users as the
20-candidate protocol: :func:`~promptrec.evaluation.protocol.sample_users`):

1. every retriever's pipeline (at LLM weight 0) scores the *whole* catalog; the user's history items are
   removed (nothing else: which items to remove never depends on the held-out item); the truth's rank
   among what is left gives Recall@10/20/50 and NDCG@10 over the full catalog, and the pipeline's
   ``recommend`` gives the top ``N`` saved in ``rankings.jsonl``;
2. the pool retriever (the one with the best validation Recall@N, chosen on validation users) keeps its
   top ``N`` (``--pool``, 20); the pool's recall at N bounds what any reranker can reach;
3. the LLM ranks the pool (the pipeline's ranker, shown the last H history items); the full ranking is
   the pipeline's fused order of the pool, then the rest of the catalog in the retriever's order;
4. fusion is the pipeline's own (:meth:`Recommender.fuse <promptrec.pipeline.Recommender.fuse>`), at every
   weight on the validation users; the weight is chosen by the one-standard-error rule
   (:func:`promptrec.evaluation.fusion.choose_weight`) on at least
   :data:`~promptrec.evaluation.fusion.MIN_WEIGHT_USERS` users unless forced.

Rows: random (seeded scores), every retriever alone on all test users; the bound (an oracle reranker of
the pool: the truth first whenever the pool holds it, so its NDCG@10 and Recall@10/20 are the pool's recall
at N) and, on the LLM's (smaller, seeded) subset of test users, the pool retriever again, the LLM reranking
the pool and the fused pipeline, with tokens and seconds per user. Nothing but :func:`truth_rank` reads the
held-out item.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from promptrec.data import Item, UserHistory
from promptrec.errors import PromptrecError
from promptrec.evaluation.cases import EvalDataset, UserRecord
from promptrec.evaluation.fusion import WEIGHTS, WeightChoice, check_weight_users, choose_weight
from promptrec.evaluation.metrics import FULL_MAIN, FULL_METRICS, full_metrics, standard_error
from promptrec.evaluation.pipelines import (
    RETRIEVER_CHOICES,
    PipelineFiles,
    at_weight,
    base_config,
    write_pipeline_files,
)
from promptrec.evaluation.protocol import ProtocolConfig, sample_users, users_hash
from promptrec.retrieval.factory import REGISTRY

if TYPE_CHECKING:
    from promptrec.config import PipelineConfig
    from promptrec.ranker import Ranker
    from promptrec.ranking import Ranking
    from promptrec.retrieval.base import Retrieved

logger = logging.getLogger(__name__)

# FULL_METRICS (computed and saved), FULL_TABLE_METRICS (the table's columns) and FULL_MAIN: from the registry
#: retrievers a full-catalog run builds by default (``profile`` needs an LLM backend)
DEFAULT_RETRIEVERS = ("popularity", "cooccurrence", "bm25", "semantic")
#: retrievers that write a profile with the LLM
LLM_RETRIEVERS = frozenset(kind.name for kind in REGISTRY.values() if kind.needs_model)
__all__ = ["DEFAULT_RETRIEVERS", "RETRIEVER_CHOICES", "FullCase", "FullMethod", "FullRun", "metrics_of", "rank_after_rerank",
           "run_full", "random_expected", "summarize", "truth_rank"]


@dataclass(frozen=True)
class FullCase:
    """One user of the full-catalog protocol: the whole history (oldest first) and the held-out item."""

    case_id: str
    user_id: str
    history: tuple[Item, ...]
    truth: str
    split: str

    def query_history(self, h: int) -> tuple[Item, ...]:
        """The last ``h`` history items (what the LLM is shown)."""
        return self.history[-h:]

    def user(self) -> UserHistory:
        """The history as the pipeline takes it."""
        return UserHistory.from_items(self.history, user_id=self.user_id)


@dataclass
class FullMethod:
    """One row: the truth's full-catalog rank per case (``math.inf``: not rankable), the ranked ids the
    pipeline returned (its top ``N``), costs, parameters."""

    name: str
    kind: str  # "baseline", "retriever", "pool", "llm", "fused"
    ranks: dict[str, float]
    costs: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    rankings: dict[str, list[str]] = field(default_factory=dict)

    def values(self) -> dict[str, dict[str, float]]:
        """case id -> metric -> value."""
        return {case_id: metrics_of(rank) for case_id, rank in self.ranks.items()}


@dataclass
class FullRun:
    """Everything measured on one dataset under the full-catalog protocol."""

    dataset: EvalDataset
    config: ProtocolConfig
    pool_size: int
    test: list[FullCase]
    valid: list[FullCase]
    llm_test: list[FullCase]
    llm_valid: list[FullCase]
    catalog_size: int
    methods: list[FullMethod]
    protocol: dict[str, str]
    choice: dict[str, Any] = field(default_factory=dict)
    files: PipelineFiles | None = None
    pipeline: PipelineConfig | None = None


def metrics_of(rank: float) -> dict[str, float]:
    """Every full-catalog metric (NDCG@10, Recall@10/20/50) for one relevant item at ``rank`` (1-based)."""
    return {m.name: m.value(rank) for m in full_metrics()}


def truth_rank(scores: np.ndarray, removed: np.ndarray, truth: int) -> float:
    """The truth's 1-based rank among the items not ``removed``, by score, ties by catalog position
    (``math.inf`` when the truth itself was removed or is not in the catalog). The only reader of the truth."""
    if truth < 0 or removed[truth]:
        return math.inf
    value = scores[truth]
    keep = ~removed
    higher = int(np.count_nonzero((scores > value) & keep))
    tied_before = int(np.count_nonzero((scores[:truth] == value) & keep[:truth]))
    return float(1 + higher + tied_before)


def rank_after_rerank(pool_order: Sequence[str], truth: str, base_rank: float) -> float:
    """The truth's rank when the pool is reordered (``pool_order``, best first) and the rest of the catalog
    keeps the retriever's order (``base_rank``: the truth's rank by the retriever). A metric's reader."""
    return float(pool_order.index(truth) + 1) if truth in pool_order else base_rank


def summarize(values: Mapping[str, Mapping[str, float]], ids: Sequence[str] | None = None) -> dict[str, float]:
    """Mean of every metric over ``ids`` (default: all)."""
    keys = list(values) if ids is None else list(ids)
    return {m: statistics.fmean(values[i][m] for i in keys) if keys else math.nan for m in FULL_METRICS}


def random_expected(catalog_size: int, history: int = 0) -> dict[str, float]:
    """Expected metrics when the truth's rank is uniform over ``catalog_size - history`` items."""
    m = max(1, catalog_size - history)
    return {metric.name: metric.expected_random(m) for metric in full_metrics()}


class RandomScorer:
    """Uniform random scores, seeded per case."""

    name = "random"

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed

    def scores_for(self, case: FullCase) -> np.ndarray:
        rng = np.random.default_rng(random.Random(f"{self.seed}|random-full|{case.case_id}").getrandbits(63))
        return rng.random(self.n)


def full_cases(records: Sequence[UserRecord], dataset: EvalDataset, split: str) -> list[FullCase]:
    """Cases for ``records`` (history items without a title in the catalog are left out of the history)."""
    items = dataset.items
    return [
        FullCase(f"{split}:{r.user_id}", r.user_id, tuple(items[i] for i in r.history if i in items), r.truth, split)
        for r in records
    ]


def _prefix_sample(cases: Sequence[FullCase], n: int, seed: str) -> list[FullCase]:
    """``n`` cases in a seeded order that does not depend on ``n`` (a smaller ``n`` takes a prefix, so a run
    with fewer LLM users reuses the cached answers of a larger one)."""
    order = sorted(cases, key=lambda c: c.user_id)
    random.Random(seed).shuffle(order)
    return order[:n]


def _top(scores: np.ndarray, removed: np.ndarray, n: int) -> list[int]:
    masked = np.where(removed, -np.inf, scores)
    order = np.lexsort((np.arange(len(scores)), -masked))[:n]
    return [int(i) for i in order if not removed[i]]


@dataclass
class _Pool:
    """One LLM user's pool, the LLM's ranking of it and the retriever's rank of the truth."""

    case: FullCase
    retrieved: Retrieved
    llm: Ranking | None
    base_rank: float


def _llm_costs(ranking: Ranking | None, elapsed: float, error: str | None) -> dict[str, float]:
    if ranking is None:
        return {"input_tokens": 0.0, "output_tokens": 0.0, "seconds": elapsed, "cached": 0.0, "failed": float(bool(error))}
    return {"input_tokens": float(ranking.usage.input_tokens), "output_tokens": float(ranking.usage.output_tokens),
            "seconds": elapsed, "cached": float(bool(ranking.cached)), "failed": 0.0}


def run_full(
    dataset: EvalDataset,
    config: ProtocolConfig,
    *,
    retrievers: Sequence[str] = DEFAULT_RETRIEVERS,
    llm: Any = None,
    pipeline: PipelineConfig | None = None,
    folder: str | Path | None = None,
    pool_size: int = 20,
    llm_users: int = 30,
    llm_valid_users: int | None = None,
    fixed_weight: float | None = None,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> FullRun:
    """Run the full-catalog protocol on ``dataset`` (see the module docstring).

    ``config.users`` / ``config.valid_users`` users are sampled (:func:`sample_users`) for the retriever rows
    and the pool retriever's choice; the LLM rows use a seeded subset of ``llm_users`` test users and choose
    the weight on ``llm_valid_users`` (default: ``llm_users``) of the validation users, which must be at
    least :data:`~promptrec.evaluation.fusion.MIN_WEIGHT_USERS` unless ``force``. ``llm`` is the LLM method
    (:class:`~promptrec.evaluation.llm.LLMMethod`: its ranker is the pipeline's) or ``None``; ``pipeline``
    the configuration the pipelines start from (the LLM's); ``folder`` where the pipeline's files go
    [default: a temporary folder]. ``fixed_weight`` adds a row with that weight beside the chosen one.
    """
    seed = config.seed
    test_records, valid_records = sample_users(dataset, config)
    test, valid = full_cases(test_records, dataset, "test"), full_cases(valid_records, dataset, "valid")
    ranker: Ranker | None = getattr(llm, "ranker", None)
    if ranker is None:
        llm = None
    label = f"{dataset.content_key}|full"
    n_llm = min(llm_users, len(test)) if llm is not None else 0
    llm_test = _prefix_sample(test, n_llm, f"{seed}|llm-users|{label}")
    n_llm_valid = min(llm_valid_users if llm_valid_users is not None else llm_users, len(valid)) if llm is not None else 0
    llm_valid = _prefix_sample(valid, n_llm_valid, f"{seed}|llm-valid|{label}")
    if llm is not None and llm_test and llm_valid:
        check_weight_users(len(llm_valid), force, f"{dataset.name} (full catalog)")
    where_folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="promptrec-full-"))
    files = write_pipeline_files(dataset, where_folder, base_config(pipeline), pool_size,
                                 {"test": [(c.user_id, c.history) for c in test],
                                  "valid": [(c.user_id, c.history) for c in valid]})
    catalog = files.catalog
    ids = list(catalog)
    where = {item_id: i for i, item_id in enumerate(ids)}
    n_all = len(ids)
    outside = np.zeros(n_all, dtype=bool)
    if files.exclude:
        outside[np.asarray([where[i] for i in files.exclude], dtype=np.int64)] = True
    n_items = n_all - int(outside.sum())

    def removed_of(case: FullCase) -> np.ndarray:
        mask = outside.copy()
        idx = [where[item.id] for item in case.history if item.id in where]
        if idx:
            mask[np.asarray(idx, dtype=np.int64)] = True
        return mask

    removed = {c.case_id: removed_of(c) for c in (*test, *valid)}
    truth_at = {c.case_id: where.get(c.truth, -1) for c in (*test, *valid)}

    # stage 1: every retriever's pipeline alone, on every sampled user
    methods: list[FullMethod] = []
    random_scores = RandomScorer(n_all, seed)
    random_row = FullMethod("random", "baseline", {})
    for c in test:
        scores = random_scores.scores_for(c)
        random_row.ranks[c.case_id] = truth_rank(scores, removed[c.case_id], truth_at[c.case_id])
        random_row.rankings[c.case_id] = [ids[i] for i in _top(scores, removed[c.case_id], pool_size)]
    methods.append(random_row)
    valid_ranks: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    pools: dict[str, _Pool] = {}
    names = [r for r in retrievers if r not in LLM_RETRIEVERS]

    def evaluate(name: str, split_cases: Sequence[FullCase], split: str) -> FullMethod:
        recommender = files.recommender(name, split, ranker)
        build = getattr(recommender.retriever, "build", None)
        if callable(build):  # the index (cached on disk) is built once, outside the time per user
            build()
        row = FullMethod(name, "retriever", {})
        started = time.perf_counter()
        for done, case in enumerate(split_cases, start=1):
            user = case.user()
            scores = np.asarray(recommender.retriever.scores(user), dtype=np.float64)
            rank = truth_rank(scores, removed[case.case_id], truth_at[case.case_id])
            row.ranks[case.case_id] = rank
            if split == "test":  # what the pipeline returns, saved for rankings.jsonl (a test user's only)
                ranking = recommender.recommend(user, pool_size, exclude=files.exclude, explain=False)
                row.rankings[case.case_id] = ranking.ids()
            if progress is not None:
                progress(f"{dataset.name} full {split} {name}", done, len(split_cases))
        seconds[f"{name}|{split}"] = time.perf_counter() - started
        return row

    rows: dict[str, FullMethod] = {}
    for name in names:
        rows[name] = evaluate(name, test, "test")
        rows[name].params["ms_per_user"] = 1000 * seconds[f"{name}|test"] / max(1, len(test))
        valid_ranks[name] = evaluate(name, valid, "valid").ranks if valid else {}
        methods.append(rows[name])

    # stage 2: the pool retriever, chosen on validation users by Recall@N (ties: the first listed)
    def recall_at_pool(ranks: Mapping[str, float]) -> list[float]:
        return [1.0 if r <= pool_size else 0.0 for r in ranks.values()]

    choice: dict[str, Any] = {"pool": pool_size, "valid_users": len(valid)}
    if valid and names:
        scores_by = {n: recall_at_pool(valid_ranks[n]) for n in names}
        choice["valid_recall"] = {n: statistics.fmean(v) for n, v in scores_by.items()}
        choice["valid_recall_se"] = {n: standard_error(v) for n, v in scores_by.items()}
        pool_name = max(names, key=lambda n: (choice["valid_recall"][n], -names.index(n)))
    else:
        pool_name = names[0] if names else "popularity"
        logger.warning("%s: no validation users, so the pool retriever is not chosen: using %s", dataset.name, pool_name)
    choice["retriever"] = pool_name
    pool_ranks = rows[pool_name].ranks if pool_name in rows else {}
    # the bound: an oracle reranker puts the truth first whenever it is in the pool (the rest stays)
    methods.append(FullMethod(f"bound: oracle reranker of {pool_name} top {pool_size} (pool recall)", "pool",
                              {cid: (1.0 if r <= pool_size else r) for cid, r in pool_ranks.items()},
                              params={"retriever": pool_name}))
    weight = 0.0

    # stage 3 and 4: the LLM on the pool, and fused, on the LLM's users
    if llm is not None and llm_test and pool_name in rows:
        for name in [r for r in retrievers if r in LLM_RETRIEVERS]:
            row = evaluate(name, llm_test, "test")
            row.name = f"{name} (LLM interest profile -> {'bm25' if name == 'profile-bm25' else 'semantic'})"
            row.params["ms_per_user"] = 1000 * seconds[f"{name}|test"] / len(llm_test)
            methods.append(row)
        methods.append(FullMethod(f"{pool_name} alone (the LLM's users)", "retriever",
                                  {c.case_id: pool_ranks[c.case_id] for c in llm_test},
                                  rankings={c.case_id: rows[pool_name].rankings[c.case_id] for c in llm_test}))
        costs: dict[str, dict[str, float]] = {}
        # validation and test users alternate, so that an interrupted run has cached answers for both
        ordered = [c for pair in itertools.zip_longest(llm_valid, llm_test) for c in pair if c is not None]
        for done, case in enumerate(ordered, start=1):
            recommender = files.recommender(pool_name, case.split, ranker)
            user = case.user()
            retrieved = recommender.retrieve(user, exclude=files.exclude)
            base = pool_ranks[case.case_id] if case.split == "test" else valid_ranks[pool_name][case.case_id]
            started, error, ranking = time.perf_counter(), None, None
            try:
                ranking = ranker.rank(user, retrieved.items)  # the pipeline's stage 3, on its pool
            except PromptrecError as exc:  # survived the ranker's retries: the retriever's order stays
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("%s failed on %s: %s", llm.name, case.case_id, error)
            costs[case.case_id] = _llm_costs(ranking, time.perf_counter() - started, error)
            pools[case.case_id] = _Pool(case, retrieved, ranking, base)
            if progress is not None:
                progress(f"{dataset.name} full LLM on {pool_name} top {pool_size}", done, len(ordered))

        def reranked(case: FullCase, w: float) -> tuple[float, list[str]]:
            pool = pools[case.case_id]
            recommender = at_weight(files.recommender(pool_name, case.split, ranker), w)
            order = recommender.combine(case.user(), pool.retrieved, pool.llm).ids()  # the pipeline's fusion
            return rank_after_rerank(order, case.truth, pool.base_rank), order

        def row_at(name: str, kind: str, w: float, params: dict[str, Any]) -> FullMethod:
            results = {c.case_id: reranked(c, w) for c in llm_test}
            return FullMethod(name, kind, {k: v[0] for k, v in results.items()},
                              costs={c.case_id: costs[c.case_id] for c in llm_test}, params=params,
                              rankings={k: v[1] for k, v in results.items()})

        methods.append(row_at(f"{llm.name} reranks the pool", "llm", 1.0, {"weight": 1.0}))
        if llm_valid:
            per_user = {w: [metrics_of(reranked(c, w)[0])[FULL_MAIN] for c in llm_valid] for w in WEIGHTS}
            weight_choice: WeightChoice = choose_weight(per_user)
            choice["weight"] = weight_choice
            weight = weight_choice.weight
            methods.append(row_at(
                f"{llm.name} + {pool_name} (wsum, w={weight_choice.weight:.1f} chosen on validation)", "fused",
                weight_choice.weight,
                {"weight": weight_choice.weight, "best_weight": weight_choice.best_weight,
                 "valid_users": weight_choice.users, "valid_curve": weight_choice.curve,
                 "valid_se": weight_choice.se, "valid_paired_se": weight_choice.paired_se},
            ))
        if fixed_weight is not None:
            methods.append(row_at(f"{llm.name} + {pool_name} (wsum, w={fixed_weight:.2f} fixed)", "fused",
                                  fixed_weight, {"weight": fixed_weight}))
    shipped = files.config(pool_name, "test", weight)
    files.write_config(shipped)
    protocol = {
        "dataset": dataset.name,
        "protocol": "full catalog" + (f" cross-domain cold-start ({dataset.source_domain} -> {dataset.target_domain})"
                                      if dataset.protocol == "cross-domain" else ", leave-last-out"),
        "catalog": f"{n_items} target items; each user's history items are removed (nothing else), the rest ranked"
        + (f"; the {len(files.exclude)} source-domain items are in the pipeline's catalog but never recommended"
           if files.exclude else ""),
        "test users": f"{len(test)} sampled of {len(dataset.test.records)} (seed {seed}; the same users as every "
        f"protocol of this run; ids sha256 {users_hash([c.user_id for c in test])})",
        "validation users": f"{len(valid)} sampled of {len(dataset.valid.records)}, disjoint from the test users; "
        f"the pool retriever is the one with the best validation Recall@{pool_size}",
        "LLM users": (f"{len(llm_test)} of the test users and {len(llm_valid)} of the validation users (seeded "
                      "subsets); the fusion weight is chosen on those validation users (1-s.e. rule)")
        if llm is not None else "none (no LLM)",
        "pool": f"top {pool_size} of the pool retriever, shown to the LLM in retrieval order with the last "
        f"{config.history} history items",
        "pipeline": f"promptrec.pipeline.Recommender from PipelineConfig.make_recommender; its files and "
        f"config.toml: {files.folder}",
        "seeds": f"{seed} (users, LLM subsets, random scores: random.Random('{seed}|<what>|<content key>|...'); "
        f"content key {dataset.content_key})",
        "ties": "by catalog position (never by the truth)",
        **{k: v for k, v in dataset.notes.items() if k in ("files", "split", "training", "cold-start users", "leak guard")},
    }
    logger.info("%s full: %d test, %d validation users, pool retriever %s", dataset.name, len(test), len(valid), pool_name)
    return FullRun(dataset, config, pool_size, test, valid, llm_test, llm_valid, n_items, methods, protocol, choice,
                   files, shipped)

