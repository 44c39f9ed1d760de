"""Numbers derived from runs, shared by the Markdown report, results.json and the plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from promptrec.evaluation.compare import Paired, versus_best
from promptrec.evaluation.metrics import (
    BUCKETS,
    MAIN_METRIC,
    MEASURES,
    aggregate,
    error_rates,
    history_bucket,
    random_reference,
    standard_error,
    truth_rank,
)

# TABLE_METRICS (the tables' metric columns, a live view of the registry; HR@1 is hidden as it equals NDCG@1)
# is re-exported here for older imports
from promptrec.evaluation.metrics import TABLE_METRICS as TABLE_METRICS
from promptrec.evaluation.pointwise import PointwiseRun
from promptrec.evaluation.runner import DatasetRun, MethodResult


def family(method: MethodResult) -> str:
    """A label that is the same across datasets (fusion weights differ per dataset)."""
    if method.kind == "fused":
        return f"{method.params['llm']} + prior ({method.params['fusion']})"
    return method.name


def slices(run: DatasetRun, method: MethodResult) -> dict[str, dict[str, float]]:
    """bucket -> {"n", MAIN_METRIC} over the test cases whose history length falls in the bucket."""
    result = {}
    for bucket in BUCKETS:
        ids = [c.case_id for c in run.test if history_bucket(c.history_length) == bucket]
        if ids:
            result[bucket] = {"n": float(len(ids)), MAIN_METRIC: aggregate(method.values, ids)[MAIN_METRIC]}
    return result


def versus_baseline(run: DatasetRun) -> dict[str, Paired]:
    """Every method but the best baseline against it, paired by test user on the main metric
    (:mod:`promptrec.evaluation.compare`)."""
    values = {m.name: {case_id: v[MAIN_METRIC] for case_id, v in m.values.items()} for m in run.methods}
    return versus_best(values, [m.name for m in run.methods if m.kind == "baseline"])


def method_summary(run: DatasetRun, method: MethodResult) -> dict[str, Any]:
    """Everything results.json says about one method on one dataset."""
    summary: dict[str, Any] = {
        "name": method.name,
        "family": family(method),
        "kind": method.kind,
        "users": len(method.values),
        "metrics": method.summary(),
        "standard_error": {name: standard_error(v[name] for v in method.values.values()) for name in MEASURES},
        "by_history_length": slices(run, method),
    }
    paired = versus_baseline(run).get(method.name)
    if paired is not None:
        summary["versus_best_baseline"] = paired.as_dict()
    if method.kind == "llm":
        summary["answers"] = error_rates([method.infos.get(c.case_id, {"error": "missing"}) for c in run.test])
    if method.params:
        summary["fusion"] = method.params
    return summary


def dataset_summary(run: DatasetRun) -> dict[str, Any]:
    """The protocol and every method's results on one dataset."""
    return {
        "name": run.dataset.name,
        "protocol": run.protocol,
        "config": vars(run.config),
        "random_reference": random_reference(run.config.candidates),
        "methods": [method_summary(run, method) for method in run.methods],
    }


def pointwise_summary(run: PointwiseRun) -> dict[str, Any]:
    """The protocol and the AUC of every method on a pointwise dataset."""
    return {"name": run.dataset.name, "protocol": run.protocol, "auc": run.auc, "records": len(run.cases)}


def case_rows(run: DatasetRun) -> list[dict[str, Any]]:
    """One row per (method, test case): what the ranker was shown, where the truth landed, the metrics."""
    rows = []
    for method in run.methods:
        for case in run.test:
            order = method.orders[case.case_id]
            row: dict[str, Any] = {
                "dataset": run.dataset.name,
                "method": method.name,
                "kind": method.kind,
                "case_id": case.case_id,
                "user_id": case.query.user_id,
                "history_length": case.history_length,
                "bucket": history_bucket(case.history_length),
                "candidates": [item.id for item in case.query.candidates],
                "order": order,
                "truth": case.truth,
                "truth_rank": truth_rank(case, order),
                **method.values[case.case_id],
            }
            if case.case_id in method.infos:
                row["llm"] = method.infos[case.case_id]
            rows.append(row)
    return rows


def pointwise_rows(run: PointwiseRun) -> list[dict[str, Any]]:
    """One row per (method, record) with its score and label."""
    return [
        {
            "dataset": run.dataset.name,
            "method": name,
            "case_id": case.case_id,
            "target": case.target.id,
            "liked": len(case.liked),
            "label": case.label,
            "score": scores[case.case_id],
        }
        for name, scores in run.scores.items()
        for case in run.cases
    ]


def fmt(value: float, digits: int = 4) -> str:
    """A number for a table (``—`` for NaN)."""
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def ordered_families(runs: Sequence[DatasetRun]) -> list[str]:
    """Method families in first-seen order across runs."""
    seen: dict[str, None] = {}
    for run in runs:
        for method in run.methods:
            seen.setdefault(family(method), None)
    return list(seen)
