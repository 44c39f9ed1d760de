"""The numbers derived from a run (results.json, the rows, the tables), on the committed tinylens fixture."""

import math

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import TINYLENS  # noqa: E402

from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.metrics import BUCKETS, history_bucket  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig  # noqa: E402
from promptrec.evaluation.runner import run_dataset  # noqa: E402
from promptrec.evaluation.summary import (  # noqa: E402
    case_rows,
    dataset_summary,
    family,
    fmt,
    method_summary,
    ordered_families,
    slices,
)


@pytest.fixture(scope="module")
def run():
    return run_dataset(load_dataset(f"movielens:{TINYLENS}"), ProtocolConfig(users=15, valid_users=10, seed=2))


def test_every_method_has_one_row_per_test_case_with_the_truths_rank(run):
    rows = case_rows(run)
    assert len(rows) == len(run.methods) * 15
    for row in rows:
        assert row["dataset"] == "tinylens" and row["truth"] in row["candidates"]
        assert sorted(row["order"]) == sorted(row["candidates"]) and len(row["candidates"]) == 20
        assert row["truth_rank"] == row["order"].index(row["truth"]) + 1
        assert row["bucket"] == history_bucket(row["history_length"])
        assert row["HR@10"] == float(row["truth_rank"] <= 10)
        assert row["NDCG@1"] == float(row["truth_rank"] == 1)


def test_history_slices_cover_the_test_cases_once(run):
    for method in run.methods:
        by_bucket = slices(run, method)
        assert set(by_bucket) <= set(BUCKETS) and sum(s["n"] for s in by_bucket.values()) == 15


def test_dataset_and_method_summaries(run):
    summary = dataset_summary(run)
    assert summary["name"] == "tinylens" and summary["config"]["users"] == 15 and summary["config"]["seed"] == 2
    assert [m["name"] for m in summary["methods"]] == [m.name for m in run.methods]
    popularity = method_summary(run, run.methods[1])
    assert popularity["family"] == "popularity" and popularity["kind"] == "baseline" and popularity["users"] == 15
    assert "answers" not in popularity and "fusion" not in popularity
    mean = sum(v["NDCG@10"] for v in run.methods[1].values.values()) / 15
    assert popularity["metrics"]["NDCG@10"] == pytest.approx(mean)
    assert popularity["standard_error"]["NDCG@10"] >= 0


def test_families_are_shared_across_datasets_and_numbers_print_with_a_dash_for_nan(run):
    assert ordered_families([run, run]) == [family(m) for m in run.methods]
    fused = type(run.methods[0])("f", "fused", {}, {}, params={"llm": "LLM x (sequential)", "fusion": "wsum"})
    assert family(fused) == "LLM x (sequential) + prior (wsum)"
    assert fmt(0.123456) == "0.1235" and fmt(2.0, 1) == "2.0" and fmt(math.nan) == "—" and fmt(None) == "—"
