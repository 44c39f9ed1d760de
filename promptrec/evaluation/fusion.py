"""Hybrid ranking: the LLM's scores fused with a prior's (a baseline), the weight chosen on validation only.

Two fusions, each with a weight ``w`` on the LLM and ``1 - w`` on the prior (``w = 1``: the LLM alone,
``w = 0``: the prior alone, with the other breaking its ties):

* ``wsum``: weighted sum of min-max normalised scores (a case whose scores are all equal normalises to 0).
* ``rrf``: reciprocal-rank fusion, ``w / (60 + rank_llm) + (1 - w) / (60 + rank_prior)``.

:func:`choose` tries ``w`` in 0.0, 0.1, ... 1.0 on the validation cases and applies the one-standard-error
rule (:func:`choose_weight`): the smallest weight (the one closest to the prior; ``w = 0`` is always tried)
whose validation NDCG@10 is within one paired standard error of the best weight's. On few validation users
a lucky weight then cannot displace the prior; the report prints the users, the curve and the errors.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from promptrec.evaluation.baselines import ranked_ids
from promptrec.evaluation.cases import Case, Query
from promptrec.evaluation.metrics import MAIN_METRIC, per_case, standard_error

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
class WeightChoice:
    """A weight chosen on validation users by the one-standard-error rule, and everything it was chosen from.

    ``curve[w]`` is the mean validation metric at weight ``w`` over ``users`` users, ``se[w]`` its standard
    error; ``best_weight`` had the highest mean; ``weight`` is the smallest weight whose mean is within one
    paired standard error (``paired_se[w]``: of the per-user differences to ``best_weight``) of the best.
    """

    weight: float
    best_weight: float
    users: int
    curve: dict[float, float]
    se: dict[float, float]
    paired_se: dict[float, float] = field(default_factory=dict)
    per_user: dict[float, list[float]] = field(default_factory=dict)

    @property
    def valid_metric(self) -> float:
        """The validation metric at the chosen weight."""
        return self.curve[self.weight]


def choose_weight(per_user: Mapping[float, Sequence[float]]) -> WeightChoice:
    """Apply the one-standard-error rule to per-user validation values at each weight (same users, same
    order for every weight). Ties in the means go to the smallest weight."""
    weights = sorted(per_user)
    if not weights or not per_user[weights[0]]:
        raise ValueError("choosing a weight needs validation users; give valid users > 0")
    n = len(per_user[weights[0]])
    curve = {w: statistics.fmean(per_user[w]) for w in weights}
    se = {w: standard_error(per_user[w]) for w in weights}
    best = max(curve.values())
    best_weight = min(w for w in weights if curve[w] == best)
    paired = {}
    for w in weights:
        diffs = [a - b for a, b in zip(per_user[best_weight], per_user[w])]
        paired[w] = standard_error(diffs) if n > 1 else math.nan
    chosen = best_weight
    for w in weights:  # the smallest weight within one paired standard error of the best
        margin = paired[w] if not math.isnan(paired[w]) else 0.0
        if best - curve[w] <= margin:
            chosen = w
            break
    return WeightChoice(chosen, best_weight, n, curve, se, paired, {w: list(per_user[w]) for w in weights})


@dataclass(frozen=True)
class FusionChoice:
    """The weight chosen on validation and the validation metric at every weight tried."""

    kind: Fusion
    prior: str
    weight: float
    valid_metric: float
    curve: dict[float, float]
    detail: WeightChoice | None = None


def choose(
    valid_cases: Sequence[Case],
    llm: Mapping[str, Mapping[str, float]],
    prior: Mapping[str, Mapping[str, float]],
    kind: Fusion,
    prior_name: str,
) -> FusionChoice:
    """The weight chosen on the validation cases by the one-standard-error rule (:func:`choose_weight`)."""
    if not valid_cases:
        raise ValueError("fusion needs validation cases to choose its weight; give valid users > 0")
    per_user = {}
    for weight in WEIGHTS:
        orders = fused_orders(valid_cases, llm, prior, weight, kind)
        values = per_case(valid_cases, orders)
        per_user[weight] = [values[case.case_id][MAIN_METRIC] for case in valid_cases]
    detail = choose_weight(per_user)
    return FusionChoice(kind, prior_name, detail.weight, detail.valid_metric, detail.curve, detail)
