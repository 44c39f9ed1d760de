"""Feedback as a signal: records -> liked (weighted, oldest first), rejected, shown-and-not-taken."""

from promptrec.feedback_signal import CLICK_WEIGHT, LIKE_WEIGHT, FeedbackSignal
from promptrec.feedback_store import FeedbackRecord


def record(item_id, label, at, **extra):
    return FeedbackRecord(user_id="u", scenario="s", item_id=item_id, item_title=item_id.upper(), label=label,
                          timestamp=at, **extra)


def test_liked_clicked_and_good_ratings_are_accepted_newest_last_and_weighted():
    signal = FeedbackSignal.from_records([record("b", "clicked", 2.0), record("a", "liked", 1.0),
                                          record("c", "rating", 3.0, rating=5.0)])
    assert signal.liked_ids == ["a", "b", "c"]
    weights = dict(signal.liked)
    assert weights["c"] > weights["b"] * (LIKE_WEIGHT / CLICK_WEIGHT) * 0.5
    assert weights["a"] < LIKE_WEIGHT  # older: recency lowers it
    assert not signal.rejected


def test_dislikes_low_ratings_and_skips_reject_and_the_latest_reaction_wins():
    signal = FeedbackSignal.from_records([
        record("a", "disliked", 1.0), record("b", "rating", 1.0, rating=2.0), record("c", "skipped", 1.0),
        record("d", "disliked", 1.0), record("d", "liked", 2.0),
    ])
    assert signal.rejected == {"a", "b", "c"} and signal.liked_ids == ["d"]


def test_items_shown_without_a_reaction_of_their_own_decay():
    signal = FeedbackSignal.from_records([record("a", "liked", 1.0, shown=["a", "x", "y"]),
                                          record("b", "skipped", 2.0, shown=["b", "x"])])
    assert signal.shown == {"x": 2, "y": 1}
    assert bool(FeedbackSignal()) is False and bool(signal) is True
    assert signal.titles["a"] == "A"


def test_a_skip_decides_nothing_against_a_like_or_a_dislike_and_the_store_reads_the_same_rule(tmp_path):
    from promptrec.feedback_store import FeedbackStore

    records = [record("a", "liked", 1.0), record("a", "skipped", 2.0),     # still liked
               record("b", "disliked", 1.0), record("b", "skipped", 2.0),  # still disliked (steered away from)
               record("c", "skipped", 1.0),                                 # only skipped: rejected, not disliked
               record("d", "skipped", 1.0), record("d", "liked", 2.0)]      # a like after a skip: liked
    signal = FeedbackSignal.from_records(records)
    assert signal.liked_ids == ["a", "d"]
    assert signal.disliked == {"b"} and signal.rejected == {"b", "c"}
    store = FeedbackStore(tmp_path / "f.sqlite3")
    for r in records:
        store.add(r.user_id, r.scenario, r.item_id, r.label, title=r.item_title, timestamp=r.timestamp)
    assert store.negative_items("u") == signal.disliked
