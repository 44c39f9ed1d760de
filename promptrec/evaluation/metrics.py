"""Metrics: ranking measures computed by ir-measures, AUC, history-length slices and LLM error rates.

Each case has exactly one relevant item (the truth), so NDCG@k = 1/log2(r+1) when the truth is at rank
r <= k (else 0), and HR@k (ir-measures' ``Success@k``) = 1 when r <= k. ir-measures (trec_eval) breaks score
ties by document id, so the harness never hands it ties: a case's order (ties already broken by
:func:`~promptrec.evaluation.baselines.ranked_ids`) is passed as strictly decreasing scores ``n - index``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ir_measures
from ir_measures import Qrel, ScoredDoc

from promptrec.evaluation.cases import Case

#: report name -> ir-measures measure, in report order
MEASURES: dict[str, Any] = {
    "NDCG@1": ir_measures.nDCG @ 1,
    "NDCG@5": ir_measures.nDCG @ 5,
    "NDCG@10": ir_measures.nDCG @ 10,
    "NDCG@20": ir_measures.nDCG @ 20,
    "HR@1": ir_measures.Success @ 1,
    "HR@5": ir_measures.Success @ 5,
    "HR@10": ir_measures.Success @ 10,
}
MAIN_METRIC = "NDCG@10"
BUCKETS = ("1", "2-3", "4-5", "6+")


def per_case(cases: Sequence[Case], orders: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    """case id -> metric name -> value, for every case (a case the run lacks raises KeyError)."""
    qrels = [Qrel(case.case_id, case.truth, 1) for case in cases]
    run = []
    for case in cases:
        order = orders[case.case_id]
        run += [ScoredDoc(case.case_id, item_id, float(len(order) - i)) for i, item_id in enumerate(order)]
    by_name = {measure: name for name, measure in MEASURES.items()}
    values: dict[str, dict[str, float]] = {case.case_id: dict.fromkeys(MEASURES, 0.0) for case in cases}
    for metric in ir_measures.iter_calc(list(MEASURES.values()), qrels, run):
        values[metric.query_id][by_name[metric.measure]] = float(metric.value)
    return values


def truth_rank(case: Case, order: Sequence[str]) -> int:
    """The 1-based rank of the truth in ``order``."""
    return list(order).index(case.truth) + 1


def mean(values: Iterable[float]) -> float:
    """The mean, NaN for no values."""
    values = list(values)
    return statistics.fmean(values) if values else math.nan


def standard_error(values: Iterable[float]) -> float:
    """The standard error of the mean (NaN for fewer than two values)."""
    values = list(values)
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan


def aggregate(values: Mapping[str, Mapping[str, float]], case_ids: Iterable[str] | None = None) -> dict[str, float]:
    """Mean of every metric over ``case_ids`` (default: all)."""
    ids = list(values) if case_ids is None else list(case_ids)
    return {name: mean(values[i][name] for i in ids) for name in MEASURES}


def random_reference(n_candidates: int) -> dict[str, float]:
    """Expected metrics when the truth's rank is uniform over ``n_candidates`` (the random row's target)."""
    reference = {}
    for name in MEASURES:
        kind, k = name.split("@")
        top = min(int(k), n_candidates)
        if kind == "NDCG":
            reference[name] = sum(1 / math.log2(r + 1) for r in range(1, top + 1)) / n_candidates
        else:
            reference[name] = top / n_candidates
    return reference


def history_bucket(length: int) -> str:
    """The cold-start slice of a history length: ``1``, ``2-3``, ``4-5`` or ``6+`` (``0`` for none)."""
    if length <= 0:
        return "0"
    if length == 1:
        return "1"
    if length <= 3:
        return "2-3"
    if length <= 5:
        return "4-5"
    return "6+"


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U); tied scores count one half. NaN without both classes."""
    if len(labels) != len(scores):
        raise ValueError("labels and scores differ in length")
    pairs = sorted(zip(scores, labels))
    n_pos = sum(1 for label in labels if label)
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return math.nan
    rank_sum, i = 0.0, 0
    while i < len(pairs):  # average ranks over runs of tied scores
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2
        rank_sum += average_rank * sum(1 for _, label in pairs[i:j] if label)
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def error_rates(infos: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """RecLM-eval style rates over an LLM's answers, plus tokens and latency totals.

    A ``*_rate`` is the share of answers with at least one such error: ``hallucinated`` (named something that
    is neither a candidate's label nor its title), ``duplicate``, ``history_item`` (named an item of the
    history), ``invalid_format`` (no candidate could be read at all, even after the re-ask), ``incomplete``
    (left candidates out, which were appended in the shown order); ``reasks`` and ``failures`` (backend
    errors, scored in the shown order) are counts.
    """
    answered = [info for info in infos if "error" not in info]
    n = len(answered)

    def rate(test: Any) -> float:
        return sum(1 for info in answered if test(info)) / n if n else math.nan

    latencies = sorted(float(info.get("latency_s", 0.0)) for info in infos)
    return {
        "answers": float(n),
        "failures": float(len(infos) - n),
        "hallucinated_rate": rate(lambda i: i["hallucinated"] > 0),
        "duplicate_rate": rate(lambda i: i["duplicates"] > 0),
        "history_item_rate": rate(lambda i: i["history_items"] > 0),
        "invalid_format_rate": rate(lambda i: i["format"] == "none"),
        "incomplete_rate": rate(lambda i: i["missing"] > 0),
        "reasks": float(sum(info.get("reasks", 0) for info in answered)),
        "cached": float(sum(1 for info in answered if info.get("cached"))),
        "input_tokens": float(sum(info.get("input_tokens", 0) for info in answered)),
        "output_tokens": float(sum(info.get("output_tokens", 0) for info in answered)),
        "latency_mean_s": mean(latencies),
        "latency_p95_s": latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)] if latencies else math.nan,
        "latency_total_s": float(sum(latencies)),
    }
