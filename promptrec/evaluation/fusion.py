"""Hybrid ranking: the LLM's scores fused with a prior's (a baseline), the weight chosen on validation only.

Two fusions, each with a weight ``w`` on the LLM and ``1 - w`` on the prior (``w = 1``: the LLM alone,
``w = 0``: the prior alone, with the other breaking its ties):

* ``wsum``: weighted sum of min-max normalised scores (a case whose scores are all equal normalises to 0).
* ``rrf``: reciprocal-rank fusion, ``w / (60 + rank_llm) + (1 - w) / (60 + rank_prior)``.

:func:`choose` tries ``w`` in 0.0, 0.1, ... 1.0 on the validation cases and keeps the best NDCG@10; among
equally good weights the smallest (the one closest to the prior) wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from promptrec.evaluation.baselines import ranked_ids
from promptrec.evaluation.cases import Case, Query
from promptrec.evaluation.metrics import MAIN_METRIC, aggregate, per_case

Fusion = Literal["wsum", "rrf"]
FUSIONS: tuple[Fusion, ...] = ("wsum", "rrf")
WEIGHTS: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(11))
RRF_K = 60


def minmax(scores: Mapping[str, float]) -> dict[str, float]:
    """Scores rescaled to [0, 1]; all zeros when they are all equal."""
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 0.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def fuse(
    query: Query, llm: Mapping[str, float], prior: Mapping[str, float], weight: float, kind: Fusion
) -> dict[str, float]:
    """The fused score of every candidate of ``query``."""
    ids = [item.id for item in query.candidates]
    if kind == "wsum":
        a, b = minmax({i: llm[i] for i in ids}), minmax({i: prior[i] for i in ids})
        return {i: weight * a[i] + (1 - weight) * b[i] for i in ids}
    if kind == "rrf":
        rank_a = {i: r for r, i in enumerate(ranked_ids(query, llm), start=1)}
        rank_b = {i: r for r, i in enumerate(ranked_ids(query, prior), start=1)}
        return {i: weight / (RRF_K + rank_a[i]) + (1 - weight) / (RRF_K + rank_b[i]) for i in ids}
    raise ValueError(f"unknown fusion '{kind}'; use one of {FUSIONS}")


def fused_orders(
    cases: Sequence[Case],
    llm: Mapping[str, Mapping[str, float]],
    prior: Mapping[str, Mapping[str, float]],
    weight: float,
    kind: Fusion,
) -> dict[str, list[str]]:
    """case id -> fused order, for scores given per case id."""
    return {
        case.case_id: ranked_ids(case.query, fuse(case.query, llm[case.case_id], prior[case.case_id], weight, kind))
        for case in cases
    }


@dataclass(frozen=True)
class FusionChoice:
    """The weight chosen on validation and the validation metric at every weight tried."""

    kind: Fusion
    prior: str
    weight: float
    valid_metric: float
    curve: dict[float, float]


def choose(
    valid_cases: Sequence[Case],
    llm: Mapping[str, Mapping[str, float]],
    prior: Mapping[str, Mapping[str, float]],
    kind: Fusion,
    prior_name: str,
) -> FusionChoice:
    """The weight with the best validation NDCG@10 (ties: the smallest weight)."""
    if not valid_cases:
        raise ValueError("fusion needs validation cases to choose its weight; give valid users > 0")
    curve = {}
    for weight in WEIGHTS:
        orders = fused_orders(valid_cases, llm, prior, weight, kind)
        curve[weight] = aggregate(per_case(valid_cases, orders))[MAIN_METRIC]
    best = max(curve.values())
    weight = min(w for w, value in curve.items() if value == best)
    return FusionChoice(kind, prior_name, weight, best, curve)
