"""Metrics: the metric registry, ranking measures computed by ir-measures, AUC, history-length slices and LLM
error rates.

Each case has exactly one relevant item (the truth), so NDCG@k = 1/log2(r+1) when the truth is at rank
r <= k (else 0), and HR@k (ir-measures' ``Success@k``) = 1 when r <= k. ir-measures (trec_eval) breaks score
ties by document id, so the harness never hands it ties: a case's order (ties already broken by
:func:`~promptrec.evaluation.baselines.ranked_ids`) is passed as strictly decreasing scores ``n - index``.

Every metric is one :class:`Metric` in the registry (:data:`REGISTRY`, :func:`register`): its name, how it is
computed (an ir-measures measure and/or a function of the truth's rank), its expected value under a
uniformly random ranking, and which protocols compute and show it. :data:`MEASURES`, :data:`TABLE_METRICS`,
:data:`FULL_METRICS`, :func:`random_reference` and the full-catalog protocol's expected-random row all read
the registry, so adding a metric is one :func:`register` call (or one entry in :data:`REGISTRY`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ir_measures
from ir_measures import Qrel, ScoredDoc

from promptrec.errors import PromptrecError
from promptrec.evaluation.cases import Case


class MetricError(PromptrecError, ValueError):
    """A metric is unknown, registered twice, inconsistent, or has no random reference; ``metric`` names it."""

    def __init__(self, message: str, *, metric: str) -> None:
        self.metric = metric
        super().__init__(f"metric '{metric}': {message}")


@dataclass(frozen=True)
class Metric:
    """One metric of one relevant item (the truth).

    ``at_rank(r)`` is its value when the truth is at 1-based rank ``r`` (``math.inf``: not ranked at all);
    ``measure`` the ir-measures measure that computes it (the sampled-candidates protocol uses it when given,
    ``at_rank`` otherwise; the full-catalog protocol always uses ``at_rank``). ``random(n)`` is its exact
    expected value when the truth's rank is uniform over ``1..n`` (a uniformly random ranking of ``n``
    candidates); ``None`` means it has none, and :func:`random_reference` refuses it.
    ``candidates``: computed under the sampled-candidates protocol (per case, in results.json, in the random
    reference); ``full``: computed under the full-catalog protocol; ``hidden``: computed and saved but not a
    column of either protocol's table (HR@1 equals NDCG@1 when there is one relevant item).
    """

    name: str
    at_rank: Callable[[float], float] | None
    random: Callable[[int], float] | None
    measure: Any = None
    candidates: bool = False
    full: bool = False
    hidden: bool = False

    def __post_init__(self) -> None:
        if self.at_rank is None and self.measure is None:
            raise MetricError("give an ir-measures measure or a function of the truth's rank (at_rank)", metric=self.name)
        if self.full and self.at_rank is None:
            raise MetricError("the full-catalog protocol computes metrics from the truth's rank: give at_rank",
                              metric=self.name)

    def expected_random(self, n_candidates: int) -> float:
        """The expected value under a uniformly random ranking of ``n_candidates`` (MetricError without one)."""
        if self.random is None:
            raise MetricError("has no random reference (the expected value under a uniformly random ranking); "
                              "give the Metric a random=... function", metric=self.name)
        if n_candidates < 1:
            raise MetricError(f"a random reference needs at least one candidate, not {n_candidates}", metric=self.name)
        return float(self.random(n_candidates))

    def value(self, rank: float) -> float:
        """The value for the truth at ``rank`` (MetricError for a metric computed only by ir-measures)."""
        if self.at_rank is None:
            raise MetricError("is computed only by ir-measures (no at_rank function)", metric=self.name)
        return float(self.at_rank(rank))


def _ndcg_rank(k: int) -> Callable[[float], float]:
    return lambda rank: 1.0 / math.log2(rank + 1) if rank <= k else 0.0


def _ndcg_random(k: int) -> Callable[[int], float]:
    return lambda n: sum(1 / math.log2(r + 1) for r in range(1, min(k, n) + 1)) / n


def _hit_rank(k: int) -> Callable[[float], float]:
    return lambda rank: 1.0 if rank <= k else 0.0


def _hit_random(k: int) -> Callable[[int], float]:
    return lambda n: min(k, n) / n


def _rr_rank(k: int) -> Callable[[float], float]:
    return lambda rank: 1.0 / rank if rank <= k else 0.0


def _rr_random(k: int) -> Callable[[int], float]:
    return lambda n: sum(1 / r for r in range(1, min(k, n) + 1)) / n


def ndcg(k: int, **flags: bool) -> Metric:
    """``NDCG@k`` for one relevant item: 1/log2(r+1) for r <= k; random: sum_{r=1..min(k,n)} 1/log2(r+1) / n."""
    return Metric(f"NDCG@{k}", _ndcg_rank(k), _ndcg_random(k), ir_measures.nDCG @ k, **flags)


def hit_rate(k: int, name: str = "HR", **flags: bool) -> Metric:
    """``HR@k`` (or ``Recall@k``, by ``name``) for one relevant item: 1 for r <= k; random: min(k, n) / n."""
    return Metric(f"{name}@{k}", _hit_rank(k), _hit_random(k), ir_measures.Success @ k, **flags)


def mrr(k: int, **flags: bool) -> Metric:
    """``MRR@k`` for one relevant item: 1/r for r <= k; random: sum_{r=1..min(k,n)} 1/r / n."""
    return Metric(f"MRR@{k}", _rr_rank(k), _rr_random(k), ir_measures.RR @ k, **flags)


#: every metric, in report order (each protocol's views keep this order)
REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (the end of the report order); a metric a protocol computes must have a
    random reference, since every table has a random row. Returns the metric."""
    if metric.name in REGISTRY:
        raise MetricError("is registered already", metric=metric.name)
    if (metric.candidates or metric.full) and metric.random is None:
        raise MetricError("has no random reference, and every protocol's table shows one: give random=... (the "
                          "expected value under a uniformly random ranking of n candidates)", metric=metric.name)
    REGISTRY[metric.name] = metric
    return metric


def unregister(name: str) -> Metric:
    """Remove the metric ``name`` from the registry (MetricError if unknown); returns it."""
    if name not in REGISTRY:
        raise MetricError(f"is not registered; known: {', '.join(REGISTRY)}", metric=name)
    if name in (MAIN_METRIC, FULL_MAIN):
        raise MetricError("is a protocol's main metric and cannot be removed", metric=name)
    return REGISTRY.pop(name)


def metric(name: str) -> Metric:
    """The registered metric ``name`` (MetricError if unknown)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise MetricError(f"is not registered; known: {', '.join(REGISTRY)}", metric=name) from None


def candidate_metrics() -> list[Metric]:
    """The metrics of the sampled-candidates protocol, in report order."""
    return [m for m in REGISTRY.values() if m.candidates]


def full_metrics() -> list[Metric]:
    """The metrics of the full-catalog protocol, in report order."""
    return [m for m in REGISTRY.values() if m.full]


class _Names(Sequence[str]):
    """A live, read-only view of registered metric names (so that a metric registered later shows up)."""

    def __init__(self, select: Callable[[Metric], bool], doc: str) -> None:
        self._select = select
        self.__doc__ = doc

    def _names(self) -> tuple[str, ...]:
        return tuple(m.name for m in REGISTRY.values() if self._select(m))

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) and self._names() == tuple(other)

    def __hash__(self) -> int:
        return hash(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


class _Measures(Mapping[str, Any]):
    """A live, read-only view: sampled-candidates metric name -> its ir-measures measure (``None`` where it is
    computed from the truth's rank), in report order."""

    def __getitem__(self, name: str) -> Any:
        found = REGISTRY.get(name)
        if found is None or not found.candidates:
            raise KeyError(name)
        return found.measure

    def __iter__(self) -> Iterator[str]:
        return iter([m.name for m in candidate_metrics()])

    def __len__(self) -> int:
        return len(candidate_metrics())

    def __repr__(self) -> str:
        return repr(dict(self))


for _metric in (
    ndcg(1, candidates=True),
    ndcg(5, candidates=True),
    ndcg(10, candidates=True, full=True),
    ndcg(20, candidates=True),
    hit_rate(1, candidates=True, hidden=True),  # HR@1 equals NDCG@1 with one relevant item
    hit_rate(5, candidates=True),
    hit_rate(10, candidates=True),
    hit_rate(10, "Recall", full=True),
    hit_rate(20, "Recall", full=True),
    hit_rate(50, "Recall", full=True),
):
    register(_metric)

#: report name -> ir-measures measure of the sampled-candidates protocol, in report order (a live view)
MEASURES: Mapping[str, Any] = _Measures()
#: the sampled-candidates table's metric columns (a live view)
TABLE_METRICS: Sequence[str] = _Names(lambda m: m.candidates and not m.hidden, "the sampled-candidates table's columns")
#: the full-catalog protocol's metrics, computed and saved (a live view)
FULL_METRICS: Sequence[str] = _Names(lambda m: m.full, "the full-catalog protocol's metrics")
#: the full-catalog table's metric columns (a live view)
FULL_TABLE_METRICS: Sequence[str] = _Names(lambda m: m.full and not m.hidden, "the full-catalog table's columns")
MAIN_METRIC = "NDCG@10"
FULL_MAIN = "NDCG@10"
BUCKETS = ("1", "2-3", "4-5", "6+")


def per_case(cases: Sequence[Case], orders: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    """case id -> metric name -> value, for every case (a case the run lacks raises KeyError)."""
    registered = candidate_metrics()
    values: dict[str, dict[str, float]] = {case.case_id: dict.fromkeys((m.name for m in registered), 0.0) for case in cases}
    by_measure = [m for m in registered if m.measure is not None]
    if by_measure:
        qrels = [Qrel(case.case_id, case.truth, 1) for case in cases]
        run = []
        for case in cases:
            order = orders[case.case_id]
            run += [ScoredDoc(case.case_id, item_id, float(len(order) - i)) for i, item_id in enumerate(order)]
        by_name = {m.measure: m.name for m in by_measure}
        for result in ir_measures.iter_calc([m.measure for m in by_measure], qrels, run):
            values[result.query_id][by_name[result.measure]] = float(result.value)
    by_rank = [m for m in registered if m.measure is None]
    for case in cases if by_rank else ():
        order = list(orders[case.case_id])
        rank = order.index(case.truth) + 1 if case.truth in order else math.inf
        for m in by_rank:
            values[case.case_id][m.name] = m.value(rank)
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


def random_reference(n_candidates: int, names: Iterable[str] | None = None) -> dict[str, float]:
    """Expected metrics when the truth's rank is uniform over ``n_candidates`` (the random row's target):
    every sampled-candidates metric, or the registered metrics ``names``. Each value is its metric's own
    ``random`` formula; a metric without one is refused (MetricError), never guessed from its name."""
    chosen = candidate_metrics() if names is None else [metric(name) for name in names]
    return {m.name: m.expected_random(n_candidates) for m in chosen}


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
