"""The JSON in and out: NaN, infinity, ratings, labels and unknown fields are refused naming the field; a
ranking becomes items with stage scores and a reason."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from promptrec.data import Item
from promptrec.ranking import ParseReport, RankedItem, Ranking
from promptrec.service.schemas import FeedbackIn, ItemIn, Recommendations, SessionFeedback, SessionRequest


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_everywhere(bad):
    with pytest.raises(ValidationError, match="rating"):
        FeedbackIn(user="u", item="i", label="rating", rating=bad)
    with pytest.raises(ValidationError, match="timestamp"):
        FeedbackIn(user="u", item="i", label="liked", timestamp=bad)
    with pytest.raises(ValidationError, match=r"attributes.deep\[1\].x holds"):
        ItemIn(id="i", title="t", attributes={"deep": [1, {"x": bad}]})


def test_ratings_go_with_their_label_and_stay_in_range():
    assert FeedbackIn(user="u", item="i", label="rating", rating=4.5).rating == 4.5
    for kwargs, message in (({"label": "rating"}, "needs a rating"), ({"label": "liked", "rating": 3}, "goes with label"),
                            ({"label": "rating", "rating": 6}, "less than or equal to 5"),
                            ({"label": "loved"}, "label")):
        with pytest.raises(ValidationError, match=message):
            SessionFeedback(item="i", **kwargs)


def test_ids_are_stripped_and_must_not_be_empty_and_unknown_fields_are_refused():
    assert FeedbackIn(user=" u ", item=" i ", label="liked").user == "u"
    with pytest.raises(ValidationError, match="user"):
        FeedbackIn(user="  ", item="i", label="liked")
    with pytest.raises(ValidationError, match="Extra inputs"):
        SessionRequest(history=[], colour="blue")
    with pytest.raises(ValidationError, match="n"):
        SessionRequest(n=0)


def test_a_ranking_becomes_items_with_their_stage_scores_and_reasons():
    item = Item(id="m1", title="Alien", attributes={"year": 1979})
    ranking = Ranking(items=[RankedItem(item=item, rank=1, label="", score=0.9, retrieval_score=0.7, retrieval_rank=2,
                                        fused_score=0.9, feedback_score=0.2, reason="because you liked Aliens")],
                      user_id="u", raw="", report=ParseReport(), backend="none", scenario="movies", strategy="none",
                      mode="retrieval", retriever="semantic", llm_weight=0.0, fallback=None)
    answer = Recommendations.from_ranking(ranking, user="u").model_dump()
    assert answer["items"][0] == {"id": "m1", "title": "Alien", "rank": 1, "score": 0.9, "reason": "because you liked Aliens",
                                  "stages": {"retrieval": 0.7, "retrieval_rank": 2, "feedback": 0.2, "llm": None, "fused": 0.9},
                                  "attributes": {"year": 1979}}
    assert answer["llm_asked"] is False and answer["retriever"] == "semantic" and answer["user"] == "u"


def test_attributes_nest_at_most_32_levels():
    assert ItemIn(id="i", title="t", attributes={"a": [[["ok"]]]}).attributes == {"a": [[["ok"]]]}
    deep: object = "x"
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValidationError, match="nests deeper than 32 levels"):
        ItemIn(id="i", title="t", attributes={"a": deep})
