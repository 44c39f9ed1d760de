"""Against position bias: candidate orders for several passes, aggregation of their scores, contextual
calibration of the label prior, and rank_llm's sliding windows. Pure functions, no I/O.

LLMRank shows that an LLM's ranking swings with where the true item sits in the list; showing the candidates
in several orders and averaging (or Borda-counting) the passes cancels much of that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from promptrec.ranking import ParseReport

PermutationKind = Literal["cyclic", "random"]


def rotate(order: Sequence[int], shift: int) -> list[int]:
    """``order`` cyclically shifted left by ``shift`` positions."""
    if not order:
        return []
    shift %= len(order)
    return list(order[shift:]) + list(order[:shift])


def pass_shift(pass_index: int, passes: int, n: int) -> int:
    """The cyclic shift of pass ``pass_index`` of ``passes``: spread evenly over the ``n`` positions."""
    return (pass_index * n) // max(1, passes)


def softmax(logprobs: Mapping[str, float]) -> dict[str, float]:
    """Log-probabilities renormalised into probabilities over just these keys."""
    if not logprobs:
        return {}
    top = max(logprobs.values())
    weights = {key: math.exp(value - top) for key, value in logprobs.items()}
    total = sum(weights.values())
    return {key: weight / total for key, weight in weights.items()}


def calibrate(logprobs: Mapping[str, float], prior: Mapping[str, float]) -> dict[str, float]:
    """Contextual calibration: each label's log-probability minus its content-free prior (both normalised
    over the labels), so a label the model favours whatever the candidates is not rewarded for it."""
    normalised = {k: math.log(max(p, 1e-12)) for k, p in softmax(logprobs).items()}
    baseline = {k: math.log(max(p, 1e-12)) for k, p in softmax({k: prior[k] for k in logprobs if k in prior}).items()}
    return {k: v - baseline.get(k, 0.0) for k, v in normalised.items()}


def mean_scores(passes: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Item id -> the mean of its per-pass scores (each pass already normalised)."""
    totals: dict[str, float] = {}
    for scores in passes:
        for key, value in scores.items():
            totals[key] = totals.get(key, 0.0) + value
    return {key: total / len(passes) for key, total in totals.items()}


def borda(orders: Sequence[Sequence[str]]) -> dict[str, float]:
    """Item id -> mean Borda points over ranked lists (``n`` for a first place of ``n``, down to 1)."""
    return mean_scores([{item: float(len(order) - rank) for rank, item in enumerate(order)} for order in orders])


def order_by_score(ids: Sequence[str], scores: Mapping[str, float]) -> list[str]:
    """``ids`` sorted by descending score; ties keep their order in ``ids`` (the caller's fallback order)."""
    position = {item: i for i, item in enumerate(ids)}
    return sorted(ids, key=lambda item: (-scores.get(item, -math.inf), position[item]))


def merge_reports(reports: Sequence[ParseReport]) -> ParseReport:
    """One report for several passes or windows: counts add up, the first pass's format stands."""
    first = reports[0]
    return ParseReport(
        format=first.format,
        valid=sum(r.valid for r in reports),
        duplicates=[d for r in reports for d in r.duplicates],
        hallucinated=[h for r in reports for h in r.hallucinated],
        history=[h for r in reports for h in r.history],
        missing=[m for r in reports for m in r.missing],
        stripped_reasoning=any(r.stripped_reasoning for r in reports),
        truncated=any(r.truncated for r in reports),
        reasks=sum(r.reasks for r in reports),
        floored=sum(r.floored for r in reports),
        structured=next((r.structured for r in reports if r.structured), None),
    )


def sliding_windows(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """rank_llm's windows over ``n`` ranked positions, back to front: ``(start, end)`` slices, each ``window``
    long (the first may be shorter), ``stride`` apart, the last one starting at 0, so the best candidates
    bubble up to the front."""
    if window < 1 or stride < 1:
        raise ValueError("window and stride must be at least 1")
    if n <= window:
        return [(0, n)]
    spans = []
    start = n - window
    while True:
        spans.append((max(0, start), max(0, start) + window))
        if start <= 0:
            return spans
        start -= stride
