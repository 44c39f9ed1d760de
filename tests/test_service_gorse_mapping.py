"""Gorse's records and promptrec's, both ways (promptrec.service.gorse_mapping); tests/test_service_gorse.py
drives the same through pygorse against a running service."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from promptrec.data import Item
from promptrec.service.gorse_mapping import (
    DEFAULT_FEEDBACK_TYPES,
    GorseFeedback,
    GorseItem,
    categories,
    epoch,
    iso,
    labels_in,
    labels_out,
    reactions,
    to_gorse,
    to_item,
)
from promptrec.service.store import StoredItem


def test_an_item_maps_both_ways_with_comment_as_the_title():
    sent = GorseItem(ItemId="vuejs:vue", Categories=["framework"], Labels={"language": "JavaScript"},
                     Timestamp="2022-02-24T00:00:00Z", Comment="Vue.js framework")
    item = to_item(sent)
    assert item == Item(id="vuejs:vue", title="Vue.js framework", attributes={
        "language": "JavaScript", "categories": ["framework"], "timestamp": "2022-02-24T00:00:00Z"})
    assert to_gorse(StoredItem(item, hidden=True, version=1)) == sent.model_copy(update={"IsHidden": True})
    # no Comment: a title label, else the id; a list of labels (Gorse < 0.5) is kept as a list
    assert to_item(GorseItem(ItemId="x", Labels={"title": "From a label"})).title == "From a label"
    listed = to_item(GorseItem(ItemId="x", Labels=["a", "b"]))
    assert (listed.title, listed.attributes) == ("x", {"labels": ["a", "b"]})
    assert to_gorse(StoredItem(listed, False, 1)).Labels == ["a", "b"]
    # an item without Categories (the demo catalog) shows its genres
    assert categories(Item(id="m", title="t", attributes={"genres": ["Horror", "Sci-Fi"]})) == ["Horror", "Sci-Fi"]


def test_bad_fields_are_refused_by_name():
    with pytest.raises(HTTPException) as caught:
        to_item(GorseItem(ItemId="x", Labels={"score": float("nan")}))
    assert caught.value.status_code == 400 and "item 'x'" in caught.value.detail and "finite" in caught.value.detail
    with pytest.raises(HTTPException) as caught:
        epoch("yesterday", "[0].Timestamp")
    assert "[0].Timestamp: 'yesterday' is not a date" in caught.value.detail
    with pytest.raises(HTTPException) as caught:
        reactions([GorseFeedback(FeedbackType="purchase", UserId="u", ItemId="m01")], DEFAULT_FEEDBACK_TYPES,
                  session=False)
    assert "unknown type 'purchase'" in caught.value.detail and "star=liked" in caught.value.detail
    with pytest.raises(HTTPException) as caught:
        reactions([GorseFeedback(FeedbackType="stars", UserId="u", ItemId="m01", Value=9)], {"stars": "rating"},
                  session=False)
    assert "[0].Value: a rating must be between 0 and 5" in caught.value.detail


def test_feedback_types_map_to_labels_and_times_to_epoch_seconds():
    records = [GorseFeedback(FeedbackType=t, UserId="u", ItemId="m01", Timestamp="2022-02-24") for t in
               ("star", "like", "dislike", "read")]
    assert [r.label for r in reactions(records, DEFAULT_FEEDBACK_TYPES, session=False)] == [
        "liked", "liked", "disliked", "clicked"]
    rated = reactions([GorseFeedback(FeedbackType="stars", UserId="u", ItemId="m01", Value=4)],
                      {"stars": "rating"}, session=True)[0]
    assert (rated.user, rated.label, rated.rating, rated.timestamp) == (None, "rating", 4.0, None)
    assert epoch("2022-02-24T00:00:00Z", "t") == epoch("2022-02-24", "t") == 1645660800.0
    assert iso(1645660800.0) == "2022-02-24T00:00:00Z"


def test_user_labels_keep_their_shape():
    for labels in (["a", "b"], {"age": 24, "city": "Lyon"}, []):
        assert labels_out(labels_in(labels)) == labels
    assert labels_in(None) == []

