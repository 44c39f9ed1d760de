"""Metrics against hand-computed values; the metric registry and its random references; tie-breaking; fusion;
baselines counted on training data only."""

import itertools
import math

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec import Item  # noqa: E402
from promptrec.evaluation.baselines import (  # noqa: E402
    BM25Baseline,
    RandomBaseline,
    interaction_baselines,
    ranked_ids,
)
from promptrec.evaluation.cases import Case, EvalDataset, Query, Split, UserRecord  # noqa: E402
from promptrec.evaluation.fullcatalog import (  # noqa: E402
    FULL_METRICS,
    metrics_of,
    random_expected,
    run_full,
)
from promptrec.evaluation.fullreport import full_section, full_summary  # noqa: E402
from promptrec.evaluation.fusion import choose, fusion_order, fusion_scores, minmax  # noqa: E402
from promptrec.evaluation.metrics import (  # noqa: E402
    MEASURES,
    REGISTRY,
    TABLE_METRICS,
    Metric,
    MetricError,
    auc,
    candidate_metrics,
    error_rates,
    full_metrics,
    history_bucket,
    mrr,
    ndcg,
    per_case,
    random_reference,
    register,
    unregister,
)
from promptrec.evaluation.protocol import ProtocolConfig  # noqa: E402
from promptrec.evaluation.report import metrics_table  # noqa: E402
from promptrec.evaluation.runner import DatasetRun, MethodResult  # noqa: E402
from promptrec.evaluation.summary import TABLE_METRICS as SUMMARY_TABLE_METRICS  # noqa: E402
from promptrec.evaluation.summary import dataset_summary, method_summary  # noqa: E402


def _case(case_id: str, n: int = 20, truth: int = 0, history: tuple[str, ...] = ()) -> Case:
    candidates = tuple(Item(id=f"c{i}", title=f"Candidate {i}") for i in range(n))
    query = Query(case_id, "u", tuple(Item(id=h, title=h) for h in history), candidates)
    return Case(query=query, truth=f"c{truth}")


@pytest.mark.parametrize("rank", range(1, 21))
def test_one_relevant_item_at_rank_r_gives_one_over_log2_r_plus_one(rank):
    case = _case("q", truth=rank - 1)
    order = [f"c{i}" for i in range(20)]
    values = per_case([case], {"q": order})["q"]
    expected = 1 / math.log2(rank + 1)
    for k in (1, 5, 10, 20):
        assert values[f"NDCG@{k}"] == pytest.approx(expected if rank <= k else 0.0, abs=1e-9)
    for k in (1, 5, 10):
        assert values[f"HR@{k}"] == (1.0 if rank <= k else 0.0)


def test_random_reference_matches_the_published_numbers():
    reference = random_reference(20)
    assert [round(reference[f"NDCG@{k}"], 4) for k in (1, 5, 10, 20)] == [0.0500, 0.1474, 0.2272, 0.3520]
    assert reference["HR@5"] == 0.25 and reference["HR@10"] == 0.5


def test_ties_are_broken_by_shown_order_not_by_id():
    case = _case("q", n=4, truth=3)
    tied = {"c0": 1.0, "c1": 1.0, "c2": 1.0, "c3": 1.0}
    assert ranked_ids(case.query, tied) == ["c0", "c1", "c2", "c3"]
    assert per_case([case], {"q": ranked_ids(case.query, tied)})["q"]["NDCG@5"] == pytest.approx(1 / math.log2(5))
    assert ranked_ids(case.query, {"c2": 2.0, "c3": 2.0}) == ["c2", "c3", "c0", "c1"]  # missing scores last


def test_auc_by_hand():
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert auc([0, 1, 0, 1], [1, 1, 1, 1]) == 0.5
    assert auc([0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.9]) == pytest.approx(4 / 6)  # 4 of 6 pairs ordered
    assert math.isnan(auc([1, 1], [0.3, 0.2]))


def test_history_buckets():
    assert [history_bucket(n) for n in (0, 1, 2, 3, 4, 5, 6, 50)] == ["0", "1", "2-3", "2-3", "4-5", "4-5", "6+", "6+"]


def test_error_rates_from_parse_reports():
    base = {"format": "arrow", "valid": 20, "hallucinated": 0, "duplicates": 0, "history_items": 0, "missing": 0,
            "reasks": 0, "input_tokens": 100, "output_tokens": 10, "latency_s": 1.0, "cached": False}
    infos = [base, {**base, "duplicates": 2, "missing": 2, "latency_s": 3.0}, {**base, "format": "none", "valid": 0, "reasks": 1},
             {"error": "BackendError: down", "latency_s": 0.5}]
    rates = error_rates(infos)
    assert rates["answers"] == 3 and rates["failures"] == 1
    assert rates["duplicate_rate"] == pytest.approx(1 / 3) and rates["invalid_format_rate"] == pytest.approx(1 / 3)
    assert rates["hallucinated_rate"] == 0 and rates["reasks"] == 1 and rates["input_tokens"] == 300
    assert rates["latency_total_s"] == 5.5 and rates["latency_p95_s"] == 3.0


def test_fusion_by_hand():
    case = _case("q", n=3)
    llm, prior = {"c0": 3.0, "c1": 2.0, "c2": 1.0}, {"c0": 0.0, "c1": 10.0, "c2": 5.0}
    assert minmax(prior) == {"c0": 0.0, "c1": 1.0, "c2": 0.5}
    assert minmax({"a": 2.0, "b": 2.0}) == {"a": 0.0, "b": 0.0}
    assert fusion_scores(case.query, llm, prior, 0.5, "wsum") == pytest.approx({"c0": 0.5, "c1": 0.75, "c2": 0.25})
    rrf = fusion_scores(case.query, llm, prior, 0.5, "rrf")
    assert rrf["c0"] == pytest.approx(0.5 / 61 + 0.5 / 63) and rrf["c1"] == pytest.approx(0.5 / 62 + 0.5 / 61)
    assert fusion_order(case.query, llm, prior, 1.0, "wsum") == ["c0", "c1", "c2"]
    assert fusion_order(case.query, llm, prior, 0.0, "wsum") == ["c1", "c2", "c0"]


def test_fusion_weight_is_chosen_on_validation_cases_only():
    valid = [_case(f"v{i}", n=3, truth=0) for i in range(4)]
    llm = {c.case_id: {"c0": 3.0, "c1": 2.0, "c2": 1.0} for c in valid}  # the LLM is right on validation
    prior = {c.case_id: {"c0": 0.0, "c1": 10.0, "c2": 5.0} for c in valid}
    chosen = choose(valid, llm, prior, "wsum", "popularity")
    assert chosen.valid_metric == 1.0 and chosen.weight == min(w for w, v in chosen.curve.items() if v == 1.0)
    assert chosen.curve[0.0] < chosen.curve[1.0]
    with pytest.raises(ValueError, match="validation"):
        choose([], llm, prior, "rrf", "popularity")


def test_popularity_and_cooccurrence_count_training_interactions_only():
    from promptrec.data import Catalog

    train = [("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "d")]
    popularity, cooccurrence = interaction_baselines(Catalog(Item(id=i, title=i) for i in "abcdz"), train)
    query = _case("q", n=0, history=("a",)).query
    query = Query("q", "u", query.history, tuple(Item(id=i, title=i) for i in ("b", "c", "d", "z")))
    assert popularity.score(query).scores == {"b": 3.0, "c": 2.0, "d": 1.0, "z": 0.0}
    # cosine item-kNN: a has users {0, 1, 3}; b {0, 2, 3}: 2 / sqrt(3 * 3); c {1, 2}: 1 / sqrt(3 * 2); d {3}
    assert cooccurrence.score(query).scores == pytest.approx({"b": 2 / 3, "c": 1 / math.sqrt(6), "d": 1 / math.sqrt(3),
                                                              "z": 0.0})
    scores = RandomBaseline(seed=1).score(query).scores
    assert scores == RandomBaseline(seed=1).score(query).scores != RandomBaseline(seed=2).score(query).scores


def test_bm25_prefers_candidates_sharing_history_words():
    catalog = [Item(id="h", title="Star Wars: A New Hope", attributes={"genres": ["Sci-Fi"]}),
               Item(id="x", title="Star Trek", attributes={"genres": ["Sci-Fi"]}),
               Item(id="y", title="Pride and Prejudice", attributes={"genres": ["Romance"]}),
               Item(id="z", title="Emma")]
    bm25 = BM25Baseline(catalog)
    query = Query("q", "u", (catalog[0],), tuple(catalog[1:]))
    scores = bm25.score(query).scores
    assert scores["x"] > scores["y"] == scores["z"] == 0.0
    assert bm25.score(Query("q", "u", (), tuple(catalog[1:]))).scores == {"x": 0.0, "y": 0.0, "z": 0.0}


# ------------------------------------------------------------------------------------- the metric registry


def test_the_registry_gives_the_tables_their_columns_in_report_order():
    assert list(MEASURES) == ["NDCG@1", "NDCG@5", "NDCG@10", "NDCG@20", "HR@1", "HR@5", "HR@10"]
    assert TABLE_METRICS == ("NDCG@1", "NDCG@5", "NDCG@10", "NDCG@20", "HR@5", "HR@10") == SUMMARY_TABLE_METRICS
    assert FULL_METRICS == ("NDCG@10", "Recall@10", "Recall@20", "Recall@50")
    assert set(random_reference(20)) == set(MEASURES)  # results.json's random_reference keys, HR@1 included
    assert set(random_expected(1000)) == set(FULL_METRICS)


@pytest.mark.parametrize("n", range(1, 7))
def test_random_reference_is_the_average_over_all_orders_of_n_candidates(n):
    """Every one of the n! orders of n candidates, scored by ir-measures, averaged: the random reference."""
    ids = [f"c{i}" for i in range(n)]
    orders = {f"p{j}": list(order) for j, order in enumerate(itertools.permutations(ids))}
    cases = [_case(case_id, n=n, truth=0) for case_id in orders]
    values = per_case(cases, orders)
    reference = random_reference(n)
    assert list(reference) == list(MEASURES)
    for name, expected in reference.items():
        assert math.fsum(v[name] for v in values.values()) / len(values) == pytest.approx(expected, abs=1e-12), name


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 10, 11, 19, 20, 21, 49, 50, 51, 137])
def test_every_random_formula_is_the_mean_over_all_truth_positions(n):
    for metric in [*REGISTRY.values(), mrr(10), mrr(3)]:
        brute = math.fsum(metric.value(r) for r in range(1, n + 1)) / n
        assert metric.expected_random(n) == pytest.approx(brute, abs=1e-12), (metric.name, n)
    expected = random_expected(n + 7, history=7)  # the full-catalog row: uniform over the items not removed
    for name in FULL_METRICS:
        assert expected[name] == pytest.approx(REGISTRY[name].expected_random(n), abs=1e-15)


def test_the_formulas_by_hand():
    assert random_reference(20)["HR@10"] == 0.5 and random_reference(3)["HR@5"] == 1.0
    assert random_reference(3)["NDCG@20"] == pytest.approx((1 + 1 / math.log2(3) + 0.5) / 3)
    assert mrr(10).expected_random(20) == pytest.approx(sum(1 / r for r in range(1, 11)) / 20)
    assert mrr(10).expected_random(4) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert random_expected(100)["Recall@50"] == 0.5 and random_expected(30)["Recall@50"] == 1.0


def test_rank_functions_agree_with_ir_measures():
    n = 25
    ids = [f"c{i}" for i in range(n)]
    cases = [_case(f"r{rank}", n=n, truth=rank - 1) for rank in range(1, n + 1)]
    for metric in [*REGISTRY.values(), mrr(10)]:
        if metric.measure is None:
            continue
        import ir_measures

        qrels = [ir_measures.Qrel(c.case_id, c.truth, 1) for c in cases]
        run = [ir_measures.ScoredDoc(c.case_id, i, float(n - j)) for c in cases for j, i in enumerate(ids)]
        got = {m.query_id: m.value for m in ir_measures.iter_calc([metric.measure], qrels, run)}
        for rank in range(1, n + 1):
            assert got.get(f"r{rank}", 0.0) == pytest.approx(metric.value(rank), abs=1e-12), (metric.name, rank)
    assert metrics_of(math.inf) == dict.fromkeys(FULL_METRICS, 0.0)


def test_a_metric_without_a_random_reference_is_refused_never_guessed():
    def mrr_at_10(rank):
        return 1.0 / rank if rank <= 10 else 0.0

    with pytest.raises(MetricError, match="'MRR@10'.*random reference"):  # a table would need one
        register(Metric("MRR@10", mrr_at_10, None, candidates=True))
    assert "MRR@10" not in REGISTRY
    with pytest.raises(MetricError, match="'MRR@10'.*not registered"):  # not parsed from its name
        random_reference(20, ["MRR@10"])
    register(Metric("MRR@10", mrr_at_10, None))  # computed by no protocol: allowed, but has no reference
    try:
        assert "MRR@10" not in MEASURES and "MRR@10" not in TABLE_METRICS and "MRR@10" not in FULL_METRICS
        with pytest.raises(MetricError, match="'MRR@10'.*no random reference") as error:
            random_reference(20, ["MRR@10"])
        assert isinstance(error.value, ValueError) and error.value.metric == "MRR@10"
    finally:
        unregister("MRR@10")
    with pytest.raises(MetricError, match="registered already"):
        register(ndcg(10))
    with pytest.raises(MetricError, match="main metric"):
        unregister("NDCG@10")
    with pytest.raises(MetricError, match="at_rank"):
        Metric("Recall@7", None, lambda n: 7 / n, full=True)
    with pytest.raises(MetricError, match="measure"):
        Metric("X@1", None, lambda n: 1 / n)


@pytest.fixture
def rank_only_mrr():
    """MRR@10 registered for both protocols as a function of the truth's rank only (no ir-measures measure)."""
    metric = register(Metric("MRR@10", lambda rank: 1.0 / rank if rank <= 10 else 0.0,
                             lambda n: sum(1 / r for r in range(1, min(10, n) + 1)) / n, candidates=True, full=True))
    try:
        yield metric
    finally:
        unregister("MRR@10")
    assert "MRR@10" not in MEASURES


def _toy_dataset(n_items=60, users=40):
    items = {f"i{n}": Item(id=f"i{n}", title=f"Item {n}") for n in range(n_items)}
    records = [UserRecord(f"u{n}", (f"i{n}", f"i{n + 1}"), f"i{(n * 7) % n_items}", frozenset()) for n in range(users)]
    train = tuple(tuple(f"i{(n + k) % n_items}" for k in range(3)) for n in range(users))
    half = users // 2
    return EvalDataset("toy", "llmrank", "default", items, tuple(items), Split("test", tuple(records[:half]), train),
                       Split("valid", tuple(records[half:]), train))


def test_a_registered_metric_appears_in_both_tables_without_editing_anything_else(rank_only_mrr, tmp_path):
    assert TABLE_METRICS[-1] == "MRR@10" and list(MEASURES)[-1] == "MRR@10" and FULL_METRICS[-1] == "MRR@10"
    assert SUMMARY_TABLE_METRICS[-1] == "MRR@10"

    # the 20-candidate protocol: per case, results.json, the table with its random row
    cases = [_case(f"q{t}", truth=t) for t in range(20)]
    orders = {c.case_id: [f"c{i}" for i in range(20)] for c in cases}
    values = per_case(cases, orders)
    assert [values[f"q{t}"]["MRR@10"] for t in (0, 1, 9, 10)] == [1.0, 0.5, 0.1, 0.0]
    method = MethodResult("shown order", "baseline", orders, values)
    run = DatasetRun(_toy_dataset(), ProtocolConfig(users=20), cases, [], [method], {"protocol": "toy"})
    summary = dataset_summary(run)
    expected = sum(1 / r for r in range(1, 11)) / 20
    assert summary["random_reference"]["MRR@10"] == pytest.approx(expected)
    assert method_summary(run, method)["metrics"]["MRR@10"] == pytest.approx(expected)  # every rank once
    assert "MRR@10" in method_summary(run, method)["standard_error"]
    table = metrics_table(run)
    assert table[0] == ("| method | users | NDCG@1 | NDCG@5 | NDCG@10 | NDCG@20 | HR@5 | HR@10 | MRR@10 | ± s.e. NDCG@10 "
                        "| Δ NDCG@10 vs best baseline ± paired s.e. (▲: > 2 s.e.) |")
    assert table[2].startswith("| random (expected) |") and table[2].split(" | ")[-3] == f"{expected:.4f}"

    # the full-catalog protocol: per rank, the expected-random row, results.json
    dataset = _toy_dataset()
    full = run_full(dataset, ProtocolConfig(users=20, valid_users=20, history=1, seed=3), retrievers=("popularity",),
                    pool_size=10, folder=tmp_path)
    assert metrics_of(4)["MRR@10"] == 0.25
    assert full_summary(full)["random_expected"]["MRR@10"] == pytest.approx(sum(1 / r for r in range(1, 11)) / 60)
    assert all("MRR@10" in m["metrics"] for m in full_summary(full)["methods"])
    text = full_section(full)
    header = next(line for line in text if line.startswith("| method | users |"))
    assert header == ("| method | users | NDCG@10 | Recall@10 | Recall@20 | Recall@50 | MRR@10 | ± s.e. NDCG@10 "
                      "| Δ NDCG@10 vs best baseline ± paired s.e. (▲: > 2 s.e.) | cost per user |")
    random_row = next(line for line in text if line.startswith("| random (expected, whole catalog) |"))
    assert random_row.split(" | ")[-4] == f"{sum(1 / r for r in range(1, 11)) / 60:.4f}"  # before s.e., Δ and cost


def test_views_follow_the_registry():
    assert [m.name for m in candidate_metrics()] == list(MEASURES)
    assert [m.name for m in full_metrics()] == list(FULL_METRICS)
    assert len(TABLE_METRICS) == 6 and TABLE_METRICS[0] == "NDCG@1" and "HR@1" not in TABLE_METRICS
