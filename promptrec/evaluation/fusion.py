"""Choosing the LLM's fusion weight on validation users; the fusion itself is the pipeline's.

Every fused row is :func:`promptrec.pipeline.fuse`, the one fusion of promptrec, applied as the pipeline
applies it: the prior (a baseline, or the pool retriever) plays the retriever, its order is the pool's
order, and ``w`` is the weight on the LLM (``w = 1``: the LLM alone, ``w = 0``: the prior's order
exactly; ties go to the better prior rank):

* ``wsum``: ``w * minmax(LLM) + (1 - w) * minmax(prior)`` (a non-finite score counts as the lowest);
* ``rrf``: ``w / (60 + rank_llm) + (1 - w) / (60 + rank_prior)``.

:func:`choose` tries ``w`` in 0.0, 0.1, ... 1.0 on the validation cases and applies the one-standard-error
rule (:func:`choose_weight`): the smallest weight (the one closest to the prior; ``w = 0`` is always tried)
whose validation NDCG@10 is within one paired standard error of the best weight's. On few validation users
a lucky weight then cannot displace the prior, and below :data:`MIN_WEIGHT_USERS` users no weight is chosen
at all unless forced (:func:`check_weight_users`); the report prints the users, the curve and the errors.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptrec.errors import OptionError
from promptrec.evaluation.baselines import ranked_ids
from promptrec.evaluation.cases import Case, Query
from promptrec.evaluation.metrics import MAIN_METRIC, per_case, standard_error
from promptrec.pipeline import FUSIONS, RRF_K, Fusion
from promptrec.pipeline import fuse as pipeline_fuse

WEIGHTS: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(11))

#: the fewest validation users a fusion weight may be chosen on without ``force`` (``--force``)
MIN_WEIGHT_USERS = 100

__all__ = ["FUSIONS", "MIN_WEIGHT_USERS", "RRF_K", "WEIGHTS", "Fusion", "FusionChoice", "WeightChoice",
           "check_weight_users", "choose", "choose_weight", "fusion_order", "fusion_orders", "fusion_scores", "minmax"]


def check_weight_users(users: int, force: bool, where: str) -> None:
    """Refuse to choose a fusion weight on fewer than :data:`MIN_WEIGHT_USERS` validation users unless
    ``force``: on a few dozen users a weight is mostly noise."""
    if users < MIN_WEIGHT_USERS and not force:
        raise OptionError(
            f"{where}: the fusion weight would be chosen on {users} validation users, fewer than "
            f"{MIN_WEIGHT_USERS}; give more (--valid-users / --llm-valid-users), skip fusion (--no-fusion), or "
            "accept a noisy weight (--force)"
        )


def minmax(scores: Mapping[str, float]) -> dict[str, float]:
    """Scores rescaled to [0, 1]; all zeros when they are all equal (for display; fusion is the pipeline's)."""
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 0.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def _fusion(query: Query, llm: Mapping[str, float], prior: Mapping[str, float], weight: float,
            kind: Fusion) -> tuple[list[str], list[int], list[float]]:
    if kind not in FUSIONS:
        raise ValueError(f"unknown fusion '{kind}'; use one of {FUSIONS}")
    pool = ranked_ids(query, prior)  # the prior's order is the pool's (ties: the shuffled candidate order)
    order, fused = pipeline_fuse([prior.get(i, -math.inf) for i in pool], [llm.get(i, -math.inf) for i in pool],
                                 weight, kind)
    return pool, order, fused


def fusion_order(query: Query, llm: Mapping[str, float], prior: Mapping[str, float], weight: float,
                kind: Fusion) -> list[str]:
    """The candidates of ``query`` in the pipeline's fused order (:func:`promptrec.pipeline.fuse`)."""
    pool, order, _ = _fusion(query, llm, prior, weight, kind)
    return [pool[j] for j in order]


def fusion_scores(query: Query, llm: Mapping[str, float], prior: Mapping[str, float], weight: float,
                 kind: Fusion) -> dict[str, float]:
    """The pipeline's fused score of every candidate of ``query`` (ties: the better prior rank)."""
    pool, _, fused = _fusion(query, llm, prior, weight, kind)
    return dict(zip(pool, fused))


def fusion_orders(
    cases: Sequence[Case],
    llm: Mapping[str, Mapping[str, float]],
    prior: Mapping[str, Mapping[str, float]],
    weight: float,
    kind: Fusion,
) -> dict[str, list[str]]:
    """case id -> fused order, for scores given per case id."""
    return {case.case_id: fusion_order(case.query, llm[case.case_id], prior[case.case_id], weight, kind)
            for case in cases}


def __getattr__(name: str) -> Callable[..., Any]:
    if name == "fuse":  # the evaluation's own fusion, gone: one fusion, the pipeline's
        warnings.warn("promptrec.evaluation.fusion.fuse is deprecated: it is now fusion_scores, which applies "
                      "promptrec.pipeline.fuse (the one fusion)", DeprecationWarning, stacklevel=2)
        return fusion_scores
    raise AttributeError(f"module 'promptrec.evaluation.fusion' has no attribute '{name}'")


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
        orders = fusion_orders(valid_cases, llm, prior, weight, kind)
        values = per_case(valid_cases, orders)
        per_user[weight] = [values[case.case_id][MAIN_METRIC] for case in valid_cases]
    detail = choose_weight(per_user)
    return FusionChoice(kind, prior_name, detail.weight, detail.valid_metric, detail.curve, detail)
