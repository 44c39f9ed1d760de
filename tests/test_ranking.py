"""The ranking result: ParseReport's flags, Ranking's ids/top/iteration, and that both are immutable."""

from __future__ import annotations

import pydantic
import pytest

from promptrec.backends.base import Usage
from promptrec.data import Item
from promptrec.ranking import ParseReport, RankedItem, Ranking


def _ranking(n: int = 3, **fields) -> Ranking:
    items = [RankedItem(item=Item(id=f"i{k}", title=f"Item {k}"), rank=k + 1, label=chr(65 + k), score=float(n - k))
             for k in range(n)]
    return Ranking(items=items, user_id="u1", raw="[A] > [B] > [C]", report=ParseReport(format="arrow", valid=n),
                   backend="scripted:test", scenario="movies", strategy="sequential", **fields)


def test_a_report_is_usable_when_one_candidate_was_named_and_repaired_when_anything_was_fixed():
    assert not ParseReport().usable and not ParseReport().repaired
    assert ParseReport(valid=1).usable and not ParseReport(valid=3).repaired
    for field in ("duplicates", "hallucinated", "history", "missing"):
        assert ParseReport(valid=2, **{field: ["X"]}).repaired
    assert not ParseReport(valid=2, truncated=True, reasks=1).repaired  # neither drops nor appends anything


def test_ids_top_iteration_and_length():
    ranking = _ranking(4)
    assert ranking.ids() == ["i0", "i1", "i2", "i3"] and ranking.ids(2) == ["i0", "i1"]
    assert [r.label for r in ranking.top(3)] == ["A", "B", "C"] and ranking.top(0) == []
    assert [r.rank for r in ranking] == [1, 2, 3, 4] and len(ranking) == 4
    assert ranking.top() is not ranking.items and ranking.top() == ranking.items  # a copy


def test_defaults_outside_the_pipeline():
    ranking = _ranking()
    assert ranking.usage == Usage() and ranking.mode == "generate" and ranking.passes == 1
    assert (ranking.retriever, ranking.pool, ranking.llm_weight, ranking.fusion) == (None, None, None, None)
    assert ranking.items[0].retrieval_score is None and ranking.items[0].fused_score is None


def test_results_are_immutable_and_validated():
    ranking = _ranking()
    with pytest.raises(pydantic.ValidationError):
        ranking.user_id = "u2"
    with pytest.raises(pydantic.ValidationError):
        ranking.report.valid = 0
    with pytest.raises(pydantic.ValidationError):
        ParseReport(format="yaml")
    dumped = Ranking.model_validate_json(ranking.model_dump_json())
    assert dumped == ranking and dumped.ids() == ranking.ids()
