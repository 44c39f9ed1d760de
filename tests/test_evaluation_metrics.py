"""Metrics against hand-computed values; tie-breaking; fusion; baselines counted on training data only."""

import math

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec import Item  # noqa: E402
from promptrec.evaluation.baselines import (  # noqa: E402
    BM25Baseline,
    CooccurrenceBaseline,
    Interactions,
    PopularityBaseline,
    RandomBaseline,
    ranked_ids,
)
from promptrec.evaluation.cases import Case, Query  # noqa: E402
from promptrec.evaluation.fusion import choose, fuse, minmax  # noqa: E402
from promptrec.evaluation.metrics import (  # noqa: E402
    auc,
    error_rates,
    history_bucket,
    per_case,
    random_reference,
)


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
    assert fuse(case.query, llm, prior, 0.5, "wsum") == pytest.approx({"c0": 0.5, "c1": 0.75, "c2": 0.25})
    rrf = fuse(case.query, llm, prior, 0.5, "rrf")
    assert rrf["c0"] == pytest.approx(0.5 / 61 + 0.5 / 63) and rrf["c1"] == pytest.approx(0.5 / 62 + 0.5 / 61)
    assert ranked_ids(case.query, fuse(case.query, llm, prior, 1.0, "wsum")) == ["c0", "c1", "c2"]
    assert ranked_ids(case.query, fuse(case.query, llm, prior, 0.0, "wsum")) == ["c1", "c2", "c0"]


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
    train = [("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "d")]
    interactions = Interactions(train)
    query = _case("q", n=0, history=("a",)).query
    query = Query("q", "u", query.history, tuple(Item(id=i, title=i) for i in ("b", "c", "d", "z")))
    assert PopularityBaseline(interactions).score(query).scores == {"b": 3.0, "c": 2.0, "d": 1.0, "z": 0.0}
    assert CooccurrenceBaseline(interactions).score(query).scores == {"b": 2.0, "c": 1.0, "d": 1.0, "z": 0.0}
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
