"""The evaluation harness: loaders for published datasets, protocols, baselines, metrics, fusion, reports.

>>> from promptrec.evaluation import load_dataset, ProtocolConfig, run_dataset, write_report, llm_factory
>>> dataset = load_dataset("movielens")                       # ../shared/datasets or $PROMPTREC_DATA
>>> run = run_dataset(dataset, ProtocolConfig(users=100, seed=0), [llm_factory("llamacpp")])
>>> write_report("results/ml", [run])

Names load on first use, so that importing this package (e.g. for the ``promptrec eval`` command) does not
import ir-measures, bm25s or matplotlib, which come with ``pip install 'promptrec[eval]'``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Case": "cases",
    "EvalDataset": "cases",
    "Query": "cases",
    "Split": "cases",
    "UserRecord": "cases",
    "SHORTCUTS": "datasets",
    "load_dataset": "datasets",
    "leave_last_out": "datasets",
    "ProtocolConfig": "protocol",
    "build_cases": "protocol",
    "sample_users": "protocol",
    "users_hash": "protocol",
    "run_full": "fullcatalog",
    "versus_best": "compare",
    "PipelineFiles": "pipelines",
    "Method": "baselines",
    "Scored": "baselines",
    "ranked_ids": "baselines",
    "RandomBaseline": "baselines",
    "BM25Baseline": "baselines",
    "RetrieverBaseline": "baselines",
    "interaction_baselines": "baselines",
    # deprecated (issue 23): the shipped retrievers through interaction_baselines
    "PopularityBaseline": "baselines",
    "CooccurrenceBaseline": "baselines",
    "Interactions": "baselines",
    "LLMMethod": "llm",
    "llm_factory": "llm",
    "fuse": "fusion",  # deprecated: promptrec.evaluation.fusion.fusion_scores (the pipeline's fusion)
    "fusion_scores": "fusion",
    "per_case": "metrics",
    "auc": "metrics",
    "random_reference": "metrics",
    "error_rates": "metrics",
    "DatasetRun": "runner",
    "MethodResult": "runner",
    "run_dataset": "runner",
    "PointwiseDataset": "pointwise",
    "run_pointwise": "pointwise",
    "write_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'promptrec.evaluation' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"promptrec.evaluation.{module}"), name)
    globals()[name] = value
    return value
