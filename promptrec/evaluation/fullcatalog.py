"""The full-catalog protocol (``--protocol full``): the whole pipeline measured stage by stage.

For each sampled user (the same leave-last-out or cross-domain records as the 20-candidate protocol):

1. every retriever scores the *whole* target catalog; the user's history items are removed (nothing else:
   which items to remove never depends on the held-out item); the truth's rank among what is left gives
   Recall@10/20/50 and NDCG@10 over the full catalog;
2. the pool retriever (the one with the best validation Recall@N, chosen on validation users) keeps its
   top ``N`` (``--pool``, 20); the pool's recall at N bounds what any reranker can reach;
3. the LLM ranks the pool, shown in retrieval order as :class:`promptrec.pipeline.Recommender` shows it,
   with the last H history items; the full ranking is the LLM's order of the pool, then the rest of the
   catalog in the retriever's order;
4. fusion as in the pipeline: ``w * minmax(LLM) + (1 - w) * minmax(retrieval)`` over the pool, ties to the
   better retrieval rank (``w = 0`` is the retriever exactly), the weight chosen on validation users by the
   one-standard-error rule (:func:`promptrec.evaluation.fusion.choose_weight`).

Rows: random (seeded scores), popularity and every retriever alone on all test users; the bound (an oracle
reranker of the pool: the truth first whenever the pool holds it, so its NDCG@10 and Recall@10/20 are the
pool's recall at N) and, on the LLM's (smaller, seeded) subset of test users, the pool retriever again, the LLM reranking the
pool and the fused pipeline, with tokens and seconds per user. Nothing but :func:`truth_rank` reads the
held-out item.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from promptrec.data import Catalog, Item, UserHistory
from promptrec.evaluation.baselines import Method
from promptrec.evaluation.cases import EvalDataset, Query, UserRecord
from promptrec.evaluation.fusion import WEIGHTS, WeightChoice, choose_weight
from promptrec.evaluation.metrics import (
    BUCKETS,
    FULL_MAIN,
    FULL_METRICS,
    FULL_TABLE_METRICS,
    full_metrics,
    history_bucket,
    standard_error,
)
from promptrec.evaluation.protocol import ProtocolConfig, sample_records

logger = logging.getLogger(__name__)

# FULL_METRICS (computed and saved), FULL_TABLE_METRICS (the table's columns) and FULL_MAIN: from the registry
#: retrievers a full-catalog run builds by default (``profile`` needs an LLM backend)
DEFAULT_RETRIEVERS = ("popularity", "cooccurrence", "bm25", "semantic")
RETRIEVER_CHOICES = ("popularity", "cooccurrence", "bm25", "semantic", "profile")


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


@dataclass
class FullMethod:
    """One row: the truth's full-catalog rank per case (``math.inf``: not rankable), costs, parameters."""

    name: str
    kind: str  # "baseline", "retriever", "pool", "llm", "fused"
    ranks: dict[str, float]
    costs: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

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


def summarize(values: Mapping[str, Mapping[str, float]], ids: Sequence[str] | None = None) -> dict[str, float]:
    """Mean of every metric over ``ids`` (default: all)."""
    keys = list(values) if ids is None else list(ids)
    return {m: statistics.fmean(values[i][m] for i in keys) if keys else math.nan for m in FULL_METRICS}


def random_expected(catalog_size: int, history: int = 0) -> dict[str, float]:
    """Expected metrics when the truth's rank is uniform over ``catalog_size - history`` items."""
    m = max(1, catalog_size - history)
    return {metric.name: metric.expected_random(m) for metric in full_metrics()}


# -------------------------------------------------------------------------------------------- scoring


class CatalogScorer:
    """A retriever's scores over the target catalog (items it does not index score -inf)."""

    def __init__(self, name: str, retriever: Any, pool_ids: Sequence[str]) -> None:
        self.name = name
        self.retriever = retriever
        where = {item_id: i for i, item_id in enumerate(retriever.catalog)}
        self._take = np.asarray([where.get(item_id, -1) for item_id in pool_ids], dtype=np.int64)
        self._missing = self._take < 0
        self.seconds = 0.0

    def scores(self, history: Sequence[Item], user_id: str) -> np.ndarray:
        started = time.perf_counter()
        raw = np.asarray(self.retriever.scores(UserHistory.from_items(history, user_id=user_id)), dtype=np.float64)
        values = raw[np.where(self._missing, 0, self._take)]
        values[self._missing] = -np.inf
        self.seconds += time.perf_counter() - started
        return values


class RandomScorer:
    """Uniform random scores, seeded per case."""

    name = "random"

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self.seconds = 0.0

    def scores_for(self, case: FullCase) -> np.ndarray:
        rng = np.random.default_rng(random.Random(f"{self.seed}|random-full|{case.case_id}").getrandbits(63))
        return rng.random(self.n)


RetrieverFactory = Callable[[str, str], Any]  # (retriever name, split) -> a Retriever (or None to skip)


def default_retrievers(
    dataset: EvalDataset, names: Sequence[str], *, profile_backend: Any = None, completion_cache: Any = None,
    prompts_dirs: Sequence[str] = (),
) -> RetrieverFactory:
    """Builds the retrievers of :mod:`promptrec.retrieval` for ``dataset``: text retrievers over the target
    catalog, popularity over its items, co-occurrence over every item (so that source-domain history items
    can co-occur with target items) from the split's training interactions."""
    from promptrec.retrieval import (
        BM25Retriever,
        CooccurrenceRetriever,
        Interactions,
        PopularityRetriever,
        SemanticRetriever,
    )

    target = Catalog([dataset.items[i] for i in dataset.pool])
    everything = Catalog(dataset.items.values()) if len(dataset.items) != len(target) else target
    text: dict[str, Any] = {}
    interactions: dict[tuple[str, str], Any] = {}

    def train(split: str, catalog: Catalog, label: str) -> Any:
        key = (split, label)
        if key not in interactions:
            known = set(catalog)
            sequences = [[i for i in seq if i in known] for seq in dataset.split(split).train]
            interactions[key] = Interactions.from_sequences(catalog, [s for s in sequences if s])
        return interactions[key]

    def make(name: str, split: str) -> Any:
        if name == "popularity":
            return PopularityRetriever(target, train(split, target, "target"), cache=False)
        if name == "cooccurrence":
            return CooccurrenceRetriever(everything, train(split, everything, "all"), cache=False)
        if name in ("bm25", "semantic"):
            if name not in text:
                text[name] = BM25Retriever(target) if name == "bm25" else SemanticRetriever(target)
            return text[name]
        if name == "profile":
            if profile_backend is None:
                return None
            from promptrec.evaluation.crossdomain import DOMAIN_SCENARIOS
            from promptrec.retrieval import ProfileRetriever

            if "profile" not in text:
                scenario = dataset.scenario
                if dataset.source_domain:
                    scenario = DOMAIN_SCENARIOS.get(dataset.source_domain.lower(), "products")
                base = text.get("bm25") or BM25Retriever(target)
                text["bm25"] = base
                text["profile"] = ProfileRetriever(base, profile_backend, scenario, prompts_dirs=prompts_dirs,
                                                   cache=completion_cache)
            return text["profile"]
        raise ValueError(f"unknown retriever '{name}'; use one of {', '.join(RETRIEVER_CHOICES)}")

    return make


# ------------------------------------------------------------------------------------------- the protocol


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


def pool_fuse(retrieval: Sequence[float], llm: Sequence[float], weight: float) -> list[int]:
    """The fused order of a pool given best first, exactly as the shipped pipeline fuses it
    (:func:`promptrec.pipeline.fuse`, ``wsum``): ``w = 0`` is ``range(n)``."""
    from promptrec.pipeline import fuse

    return fuse(retrieval, llm, weight)[0]


def _rank_after_rerank(pool: Sequence[int], order: Sequence[int], truth: int, base_rank: float) -> float:
    """The truth's rank when the pool (catalog positions, best first) is reordered by ``order`` and the rest
    of the catalog keeps the retriever's order."""
    if truth in pool:
        return float([pool[j] for j in order].index(truth) + 1)
    return base_rank


def run_full(
    dataset: EvalDataset,
    config: ProtocolConfig,
    *,
    retrievers: Sequence[str] = DEFAULT_RETRIEVERS,
    make_retriever: RetrieverFactory | None = None,
    llm: Method | None = None,
    pool_size: int = 20,
    llm_users: int = 30,
    llm_valid_users: int | None = None,
    fixed_weight: float | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> FullRun:
    """Run the full-catalog protocol on ``dataset`` (see the module docstring).

    ``config.users`` / ``config.valid_users`` users are sampled for the retriever rows and the pool
    retriever's choice; the LLM rows use a seeded subset of ``llm_users`` test users and choose the weight
    on ``llm_valid_users`` (default: ``llm_users``) of the validation users. ``fixed_weight`` adds a row
    with that weight (e.g. the pipeline's default) beside the chosen one.
    """
    seed = config.seed
    label = f"{dataset.name}|full"
    test_records = sample_records(dataset.test.records, config.users, seed, f"{label}|test")
    taken = frozenset(r.user_id for r in test_records)
    valid_records = sample_records(dataset.valid.records, config.valid_users, seed, f"{label}|valid", exclude_users=taken)
    test, valid = full_cases(test_records, dataset, "test"), full_cases(valid_records, dataset, "valid")
    pool_ids = list(dataset.pool)
    where = {item_id: i for i, item_id in enumerate(pool_ids)}
    n_items = len(pool_ids)
    make = make_retriever or default_retrievers(dataset, retrievers)

    def removed_of(case: FullCase) -> np.ndarray:
        mask = np.zeros(n_items, dtype=bool)
        idx = [where[item.id] for item in case.history if item.id in where]
        if idx:
            mask[np.asarray(idx, dtype=np.int64)] = True
        return mask

    removed = {c.case_id: removed_of(c) for c in (*test, *valid)}
    truth_at = {c.case_id: where.get(c.truth, -1) for c in (*test, *valid)}

    # stage 1: every retriever alone, on every sampled user; the scores of validation users are kept for
    # choosing the pool retriever, the top of the pool for the LLM rows
    methods: list[FullMethod] = []
    rng_scorer = RandomScorer(n_items, seed)
    methods.append(FullMethod("random", "baseline", {
        c.case_id: truth_rank(rng_scorer.scores_for(c), removed[c.case_id], truth_at[c.case_id]) for c in test}))
    valid_ranks: dict[str, dict[str, float]] = {}
    pools: dict[str, dict[str, tuple[list[int], list[float], float]]] = {}  # retriever -> case -> pool
    seconds: dict[str, float] = {}
    names = [r for r in retrievers if r != "profile"]
    n_llm = min(llm_users, len(test)) if llm is not None else 0
    llm_test = _prefix_sample(test, n_llm, f"{seed}|llm-users|{label}")
    n_llm_valid = min(llm_valid_users if llm_valid_users is not None else llm_users, len(valid)) if llm is not None else 0
    llm_valid = _prefix_sample(valid, n_llm_valid, f"{seed}|llm-valid|{label}")
    llm_ids = {c.case_id for c in (*llm_test, *llm_valid)}

    def evaluate(name: str, split_cases: Sequence[FullCase], split: str) -> dict[str, float]:
        retriever = make(name, split)
        scorer = CatalogScorer(name, retriever, pool_ids)
        ranks = {}
        for done, case in enumerate(split_cases, start=1):
            scores = scorer.scores(case.history, case.user_id)
            ranks[case.case_id] = truth_rank(scores, removed[case.case_id], truth_at[case.case_id])
            if case.case_id in llm_ids:
                masked = np.where(removed[case.case_id], -np.inf, scores)
                order = np.lexsort((np.arange(n_items), -masked))[:pool_size]
                pools.setdefault(name, {})[case.case_id] = (order.tolist(), masked[order].tolist(), ranks[case.case_id])
            if progress is not None:
                progress(f"{dataset.name} full {split} {name}", done, len(split_cases))
        seconds[f"{name}|{split}"] = scorer.seconds
        return ranks

    for name in names:
        ranks = evaluate(name, test, "test")
        valid_ranks[name] = evaluate(name, valid, "valid") if valid else {}
        per_user = 1000 * seconds[f"{name}|test"] / max(1, len(test))
        methods.append(FullMethod(name, "retriever", ranks, params={"ms_per_user": per_user}))

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
    pool_ranks = next(m.ranks for m in methods if m.name == pool_name) if names else {}
    # the bound: an oracle reranker puts the truth first whenever it is in the pool (the rest stays)
    methods.append(FullMethod(f"bound: oracle reranker of {pool_name} top {pool_size} (pool recall)", "pool",
                              {cid: (1.0 if r <= pool_size else r) for cid, r in pool_ranks.items()},
                              params={"retriever": pool_name}))

    # stage 3 and 4: the LLM on the pool, and fused, on the LLM's users
    if llm is not None and llm_test:
        if "profile" in retrievers:
            profile_ranks = evaluate("profile", llm_test, "test")
            methods.append(FullMethod("profile (LLM interest profile -> bm25)", "retriever", profile_ranks,
                                      params={"ms_per_user": 1000 * seconds["profile|test"] / len(llm_test)}))
        methods.append(FullMethod(f"{pool_name} alone (the LLM's users)", "retriever",
                                  {c.case_id: pool_ranks[c.case_id] for c in llm_test}))
        llm_scores: dict[str, list[float]] = {}
        costs: dict[str, dict[str, float]] = {}
        # validation and test users alternate, so that an interrupted run has cached answers for both
        ordered = [c for pair in itertools.zip_longest(llm_valid, llm_test) for c in pair if c is not None]
        for done, case in enumerate(ordered, start=1):
            positions, _, _ = pools[pool_name][case.case_id]
            candidates = tuple(dataset.items[pool_ids[p]] for p in positions)
            query = Query(case.case_id, case.user_id, case.query_history(config.history), candidates)
            started = time.perf_counter()
            scored = llm.score(query)
            elapsed = time.perf_counter() - started
            llm_scores[case.case_id] = [float(scored.scores.get(item.id, -math.inf)) for item in candidates]
            costs[case.case_id] = {
                "input_tokens": float(scored.info.get("input_tokens", 0)),
                "output_tokens": float(scored.info.get("output_tokens", 0)),
                "seconds": float(scored.info.get("latency_s", elapsed)),
                "cached": float(bool(scored.info.get("cached"))),
                "failed": float("error" in scored.info),
            }
            if progress is not None:
                progress(f"{dataset.name} full LLM on {pool_name} top {pool_size}", done, len(ordered))

        def fused_rank(case: FullCase, weight: float) -> float:
            positions, retrieval, base_rank = pools[pool_name][case.case_id]
            order = pool_fuse(retrieval, llm_scores[case.case_id], weight)
            return _rank_after_rerank(positions, order, truth_at[case.case_id], base_rank)

        llm_name = getattr(llm, "name", "LLM")
        methods.append(FullMethod(f"{llm_name} reranks the pool", "llm",
                                  {c.case_id: fused_rank(c, 1.0) for c in llm_test},
                                  costs={c.case_id: costs[c.case_id] for c in llm_test}))
        if llm_valid:
            per_user = {w: [metrics_of(fused_rank(c, w))[FULL_MAIN] for c in llm_valid] for w in WEIGHTS}
            weight_choice: WeightChoice = choose_weight(per_user)
            choice["weight"] = weight_choice
            methods.append(FullMethod(
                f"{llm_name} + {pool_name} (wsum, w={weight_choice.weight:.1f} chosen on validation)", "fused",
                {c.case_id: fused_rank(c, weight_choice.weight) for c in llm_test},
                costs={c.case_id: costs[c.case_id] for c in llm_test},
                params={"weight": weight_choice.weight, "best_weight": weight_choice.best_weight,
                        "valid_users": weight_choice.users, "valid_curve": weight_choice.curve,
                        "valid_se": weight_choice.se, "valid_paired_se": weight_choice.paired_se},
            ))
        if fixed_weight is not None:
            methods.append(FullMethod(f"{llm_name} + {pool_name} (wsum, w={fixed_weight:.2f} fixed)", "fused",
                                      {c.case_id: fused_rank(c, fixed_weight) for c in llm_test},
                                      costs={c.case_id: costs[c.case_id] for c in llm_test},
                                      params={"weight": fixed_weight}))
    protocol = {
        "dataset": dataset.name,
        "protocol": "full catalog" + (f" cross-domain cold-start ({dataset.source_domain} -> {dataset.target_domain})"
                                      if dataset.protocol == "cross-domain" else ", leave-last-out"),
        "catalog": f"{n_items} target items; each user's history items are removed (nothing else), the rest ranked",
        "test users": f"{len(test)} sampled of {len(dataset.test.records)} (seed {seed})",
        "validation users": f"{len(valid)} sampled of {len(dataset.valid.records)}, disjoint from the test users; "
        f"the pool retriever is the one with the best validation Recall@{pool_size}",
        "LLM users": (f"{len(llm_test)} of the test users and {len(llm_valid)} of the validation users (seeded "
                      "subsets); the fusion weight is chosen on those validation users (1-s.e. rule)")
        if llm is not None else "none (no LLM)",
        "pool": f"top {pool_size} of the pool retriever, shown to the LLM in retrieval order with the last "
        f"{config.history} history items",
        "seeds": f"{seed} (users, LLM subsets, random scores: random.Random('{seed}|<what>|...'))",
        "ties": "by catalog position (never by the truth)",
        **{k: v for k, v in dataset.notes.items() if k in ("files", "split", "training", "cold-start users")},
    }
    logger.info("%s full: %d test, %d validation users, pool retriever %s", dataset.name, len(test), len(valid), pool_name)
    return FullRun(dataset, config, pool_size, test, valid, llm_test, llm_valid, n_items, methods, protocol, choice)


# ------------------------------------------------------------------------------------------------ report


def _fmt(value: float, digits: int = 4) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def method_summary(run: FullRun, method: FullMethod) -> dict[str, Any]:
    """Everything results.json says about one row."""
    values = method.values()
    cases = {c.case_id: c for c in run.test}
    by: dict[str, dict[str, float]] = {}
    for bucket in BUCKETS:
        ids = [i for i in values if history_bucket(min(len(cases[i].history), run.config.history)) == bucket]
        if ids:
            by[bucket] = {"n": float(len(ids)), FULL_MAIN: summarize(values, ids)[FULL_MAIN]}
    summary: dict[str, Any] = {
        "name": method.name,
        "kind": method.kind,
        "users": len(values),
        "metrics": summarize(values),
        "standard_error": {m: standard_error(v[m] for v in values.values()) for m in FULL_METRICS},
        "by_history_length": by,
        "unrankable": sum(1 for r in method.ranks.values() if r == math.inf),
    }
    if method.costs:
        costs = list(method.costs.values())
        summary["cost_per_user"] = {key: statistics.fmean(c[key] for c in costs) for key in costs[0]}
    if method.params:
        summary["params"] = method.params
    return summary


def full_section(run: FullRun) -> list[str]:
    """The Markdown section of one full-catalog run."""
    lines = [f"## {run.dataset.name} (full catalog)", ""]
    lines += _table(["protocol", ""], [[k, str(v).replace("|", "\\|")] for k, v in run.protocol.items()])
    expected = random_expected(run.catalog_size)
    rows = [["random (expected, whole catalog)", "—", *(_fmt(expected[m]) for m in FULL_TABLE_METRICS), "—", "—"]]
    for method in run.methods:
        s = method_summary(run, method)
        cost = s.get("cost_per_user")
        if cost:
            cost_text = f"{cost['input_tokens']:.0f} in + {cost['output_tokens']:.0f} out tokens, {cost['seconds']:.2f} s"
            if cost.get("cached"):
                cost_text += f" ({cost['cached']:.0%} from the answer cache)"
        elif "ms_per_user" in method.params:
            cost_text = f"{method.params['ms_per_user']:.1f} ms"
        else:
            cost_text = "—"
        rows.append([method.name, str(s["users"]), *(_fmt(s["metrics"][m]) for m in FULL_TABLE_METRICS),
                     _fmt(s["standard_error"][FULL_MAIN]), cost_text])
    lines += ["", f"### Full-catalog metrics ({len(run.test)} test users; LLM rows on {len(run.llm_test)})", ""]
    lines += _table(["method", "users", *FULL_TABLE_METRICS, f"± s.e. {FULL_MAIN}", "cost per user"], rows)
    counts = {b: sum(1 for c in run.test if history_bucket(min(len(c.history), run.config.history)) == b) for b in BUCKETS}
    slice_rows = []
    for method in run.methods:
        by = method_summary(run, method)["by_history_length"]
        slice_rows.append([method.name, *(f"{by[b][FULL_MAIN]:.4f} (n={by[b]['n']:.0f})" if b in by else "—"
                                          for b in BUCKETS)])
    lines += ["", f"### {FULL_MAIN} by history length (all test users: " +
              ", ".join(f"{b}: {n}" for b, n in counts.items()) + ")", ""]
    lines += _table(["method", *BUCKETS], slice_rows)
    choice = run.choice
    if "valid_recall" in choice:
        lines += ["", f"### Pool retriever (chosen on {choice['valid_users']} validation users by Recall@{run.pool_size})", ""]
        lines += _table(["retriever", f"validation Recall@{run.pool_size} ± s.e."],
                        [[n, f"{v:.4f} ± {choice['valid_recall_se'][n]:.4f}"] for n, v in choice["valid_recall"].items()])
        lines += ["", f"chosen: {choice['retriever']}"]
    weight = choice.get("weight")
    if isinstance(weight, WeightChoice):
        lines += ["", f"### Fusion weight (chosen on {weight.users} validation users, never on test)", ""]
        lines += _table(["weight on LLM", f"validation {FULL_MAIN}", "± s.e.", "paired s.e. vs best"],
                        [[f"{w:.1f}", _fmt(v), _fmt(weight.se[w]), _fmt(weight.paired_se.get(w, math.nan))]
                         for w, v in weight.curve.items()])
        lines += ["", f"best weight {weight.best_weight:.1f}; chosen {weight.weight:.1f} (the smallest weight within "
                  "one paired standard error of the best; 0 = the retriever alone)"]
    return lines + [""]


def full_summary(run: FullRun) -> dict[str, Any]:
    """results.json's entry for a full-catalog run."""
    choice = dict(run.choice)
    weight = choice.get("weight")
    if isinstance(weight, WeightChoice):
        choice["weight"] = {"weight": weight.weight, "best_weight": weight.best_weight, "users": weight.users,
                            "curve": weight.curve, "se": weight.se, "paired_se": weight.paired_se,
                            "valid_users": [c.user_id for c in run.llm_valid], "per_user": weight.per_user}
    return {
        "name": run.dataset.name,
        "protocol": run.protocol,
        "catalog_size": run.catalog_size,
        "pool": run.pool_size,
        "random_expected": random_expected(run.catalog_size),
        "choice": choice,
        "methods": [method_summary(run, m) for m in run.methods],
    }


def full_rows(run: FullRun) -> list[dict[str, Any]]:
    """One row per (method, test case) for rows.jsonl."""
    cases = {c.case_id: c for c in run.test}
    rows = []
    for method in run.methods:
        for case_id, rank in method.ranks.items():
            rows.append({
                "dataset": run.dataset.name, "protocol": "full", "method": method.name, "kind": method.kind,
                "case_id": case_id, "user_id": cases[case_id].user_id, "history_length": len(cases[case_id].history),
                "truth": cases[case_id].truth, "truth_rank": None if rank == math.inf else int(rank),
                **metrics_of(rank), **({"cost": method.costs[case_id]} if case_id in method.costs else {}),
            })
    return rows
