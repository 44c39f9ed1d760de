"""Running every method on one dataset: baselines, LLMs and their fusions, all through the same cases.

Order of work, so that nothing but the metric reads the held-out item: cases are built (protocol), every
method scores every query (test and validation), orders are derived from scores, fusion weights are chosen on
the validation cases, and only then are test metrics computed.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from promptrec.data import Catalog
from promptrec.errors import PromptrecError
from promptrec.evaluation.baselines import (
    BM25Baseline,
    Method,
    RandomBaseline,
    RetrieverBaseline,
    Scored,
    interaction_baselines,
    ranked_ids,
)
from promptrec.evaluation.cases import Case, EvalDataset
from promptrec.evaluation.fusion import FUSIONS, FusionChoice, check_weight_users, choose, fusion_orders
from promptrec.evaluation.metrics import MAIN_METRIC, aggregate, per_case, standard_error
from promptrec.evaluation.pipelines import pipeline_catalog
from promptrec.evaluation.protocol import ProtocolConfig, build_cases, users_hash

logger = logging.getLogger(__name__)

#: builds an LLM method for a dataset (its scenario depends on the dataset)
LLMFactory = Callable[[EvalDataset], Method]
#: called after each scored LLM query: (task description, done, total)
ProgressCallback = Callable[[str, int, int], None]

PRIORS = ("popularity", "co-occurrence", "bm25", "semantic")


@dataclass
class MethodResult:
    """One method's test results: orders, per-case metrics and diagnostics, and fusion parameters."""

    name: str
    kind: Literal["baseline", "llm", "fused"]
    orders: dict[str, list[str]]
    values: dict[str, dict[str, float]]
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Mean of every metric over the test cases."""
        return aggregate(self.values)


@dataclass
class DatasetRun:
    """Everything measured on one dataset."""

    dataset: EvalDataset
    config: ProtocolConfig
    test: list[Case]
    valid: list[Case]
    methods: list[MethodResult]
    protocol: dict[str, str]


def baselines(
    dataset: EvalDataset,
    split: str,
    seed: int,
    bm25: BM25Baseline | None,
    semantic: Method | None = None,
    *,
    catalog: Catalog | None = None,
) -> list[Method]:
    """Random; popularity and co-occurrence, the shipped retrievers over the split's training interactions
    (:func:`~promptrec.evaluation.baselines.interaction_baselines`) and ``catalog`` (default: the
    full-catalog protocol's, :func:`~promptrec.evaluation.pipelines.pipeline_catalog`, which for cross-domain
    data holds both domains' items); BM25 and semantic."""
    if catalog is None:
        catalog, _ = pipeline_catalog(dataset)
    methods: list[Method] = [RandomBaseline(seed), *interaction_baselines(catalog, dataset.split(split).train)]
    return methods + [m for m in (bm25, semantic) if m is not None]


def semantic_baseline(catalog: Sequence[Any]) -> Method | None:
    """Embeddings of the item text (the registry's ``semantic``: :class:`promptrec.retrieval.SemanticRetriever`
    and its default embedder) over the target catalog, or ``None`` when the retrieval stage or its embedder
    is not installed."""
    try:
        from promptrec.retrieval.factory import make_retriever

        retriever = make_retriever("semantic", Catalog(catalog))
        retriever.build()
    except ImportError as exc:
        logger.warning("no semantic baseline: %s", exc)
        return None
    except PromptrecError as exc:  # wordllama missing (MissingDependencyError) or no text
        logger.warning("no semantic baseline: %s", exc)
        return None
    return RetrieverBaseline("semantic", retriever)


def _score_all(
    method: Method, cases: Sequence[Case], task: str, progress: ProgressCallback | None
) -> dict[str, Scored]:
    scored = {}
    for done, case in enumerate(cases, start=1):
        scored[case.case_id] = method.score(case.query)
        if progress is not None:
            progress(task, done, len(cases))
    return scored


def protocol_description(dataset: EvalDataset, config: ProtocolConfig, test: list[Case], valid: list[Case]) -> dict[str, str]:
    """The exact protocol, as printed in the report."""
    kind = "cross-domain cold-start" if dataset.protocol == "cross-domain" else "LLMRank leave-last-out"
    return {
        "dataset": dataset.name,
        "protocol": kind + (f" ({dataset.source_domain} -> {dataset.target_domain})" if dataset.source_domain else ""),
        "test users": f"{len(test)} sampled of {len(dataset.test.records)} (seed {config.seed}; the same users as "
        f"every protocol of this run; ids sha256 {users_hash([c.query.user_id for c in test])})",
        "validation users": f"{len(valid)} sampled of {len(dataset.valid.records)}, disjoint from the test users"
        + (f"; the LLM and its fusion weight use the first {min(config.llm_valid_users, len(valid))}"
           if config.llm_valid_users is not None else ""),
        "candidates": f"{config.candidates} per case: the truth + {config.candidates - 1} negatives, shuffled "
        f"with a per-case seed",
        "history length": f"the last {config.history} items (H)",
        "seeds": f"{config.seed} (users, negatives, shuffles, random baseline: random.Random('{config.seed}|<what>|"
        f"<content key>|...'); content key {dataset.content_key}: from the data, not its name)",
        "scenario": dataset.scenario,
        **dataset.notes,
    }


def run_dataset(
    dataset: EvalDataset,
    config: ProtocolConfig,
    llms: Sequence[LLMFactory] = (),
    *,
    fusion: bool = True,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> DatasetRun:
    """Score ``dataset``'s cases with the baselines and every LLM, fuse each LLM with the best prior (the
    weight chosen on at least :data:`~promptrec.evaluation.fusion.MIN_WEIGHT_USERS` validation users, unless
    ``force``: checked before any LLM call)."""
    test, valid = build_cases(dataset, config)
    llm_valid = valid if config.llm_valid_users is None else valid[: config.llm_valid_users]
    if llms and fusion and llm_valid:
        check_weight_users(len(llm_valid), force, dataset.name)
    catalog = [dataset.items[item_id] for item_id in dataset.pool]
    bm25 = BM25Baseline(catalog)
    semantic = semantic_baseline(catalog)
    linked, _ = pipeline_catalog(dataset)  # what the interaction retrievers index (cross-domain: both domains)
    scores: dict[str, dict[str, dict[str, Scored]]] = {}  # method -> split -> case -> scored
    kinds: dict[str, Literal["baseline", "llm"]] = {}
    for split, cases in (("test", test), ("valid", valid)):
        for method in baselines(dataset, split, config.seed, bm25, semantic, catalog=linked):
            scores.setdefault(method.name, {})[split] = {c.case_id: method.score(c.query) for c in cases}
            kinds[method.name] = "baseline"
    for factory in llms:
        method = factory(dataset)
        kinds[method.name] = "llm"
        # validation and test cases alternate, so that an interrupted run has cached answers for both
        both = [c for pair in itertools.zip_longest(llm_valid, test) for c in pair if c is not None]
        scored = _score_all(method, both, f"{dataset.name} {method.name}", progress)
        for split, cases in (("valid", llm_valid), ("test", test)):
            scores.setdefault(method.name, {})[split] = {c.case_id: scored[c.case_id] for c in cases}

    def plain(name: str, split: str) -> dict[str, dict[str, float]]:
        return {case_id: scored.scores for case_id, scored in scores[name][split].items()}

    results = []
    for name, by_split in scores.items():
        orders = {c.case_id: ranked_ids(c.query, by_split["test"][c.case_id].scores) for c in test}
        infos = {case_id: s.info for case_id, s in by_split["test"].items() if s.info}
        results.append(MethodResult(name, kinds[name], orders, per_case(test, orders), infos))
    if fusion and llm_valid:
        valid_metric, valid_se = {}, {}
        for prior in [p for p in PRIORS if p in scores]:  # the priors are cheap: chosen on every validation user
            orders = {c.case_id: ranked_ids(c.query, scores[prior]["valid"][c.case_id].scores) for c in valid}
            values = per_case(valid, orders)
            valid_metric[prior] = aggregate(values)[MAIN_METRIC]
            valid_se[prior] = standard_error(v[MAIN_METRIC] for v in values.values())
        best_prior = max(valid_metric, key=lambda p: (valid_metric[p], -PRIORS.index(p)))
        for name in [n for n, k in kinds.items() if k == "llm"]:
            for kind in FUSIONS:
                chosen: FusionChoice = choose(llm_valid, plain(name, "valid"), plain(best_prior, "valid"), kind, best_prior)
                detail = chosen.detail
                orders = fusion_orders(test, plain(name, "test"), plain(best_prior, "test"), chosen.weight, kind)
                params = {
                    "llm": name,
                    "prior": best_prior,
                    "fusion": kind,
                    "weight": chosen.weight,
                    "valid_" + MAIN_METRIC: chosen.valid_metric,
                    "valid_curve": chosen.curve,
                    "prior_valid_" + MAIN_METRIC: valid_metric,
                    "prior_valid_se": valid_se,
                    "prior_valid_users": len(valid),
                    "valid_users": detail.users if detail else len(llm_valid),
                    "valid_se": detail.se if detail else {},
                    "valid_paired_se": detail.paired_se if detail else {},
                    "best_weight": detail.best_weight if detail else chosen.weight,
                    "rule": "smallest weight within one paired standard error of the best (w = 0: the prior)",
                }
                label = f"{name} + {best_prior} ({kind}, w={chosen.weight:.1f})"
                results.append(MethodResult(label, "fused", orders, per_case(test, orders), params=params))
    elif fusion and llms:
        logger.warning("%s: no validation cases, so no fusion weight can be chosen; fusion skipped", dataset.name)
    return DatasetRun(dataset, config, test, valid, results, protocol_description(dataset, config, test, valid))
