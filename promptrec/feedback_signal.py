"""Feedback as a signal of the pipeline: what a user's reactions mean for the next recommendations.

The store (:class:`~promptrec.feedback_store.FeedbackStore`) keeps what users did; this module reads a user's
records into a :class:`FeedbackSignal` that the pipeline's feedback stage applies, with or without an LLM:

* **liked** items (``liked``, ``clicked``, or a rating above :data:`~promptrec.feedback_store.NEGATIVE_RATING`)
  join the user's effective history, newest last, each with a weight (a rating of 5 weighs most, a click less
  than a like, and older reactions a little less than newer ones);
* **rejected** items (``disliked``, ``skipped``, or a rating of at most ``NEGATIVE_RATING``) are never
  recommended with ``rejected="remove"`` and rank below every other item with ``"demote"``; retrieval is also
  steered away from the explicitly **disliked** ones (disliked or rated low: their neighbours score lower; a
  skip says only "not this one");
* items **shown** with a reaction but never taken (they are in a record's ``shown`` list and have no reaction
  of their own) decay: each showing lowers them a little.

Only the latest decisive reaction to an item counts (:func:`~promptrec.feedback_store.decisive_reactions`): a
like after a dislike takes the rejection back, and a skip rejects only an item the user never liked or
disliked. The signal is keyed by item id, so it applies in every scenario.

>>> signal = FeedbackSignal.from_records(store.list("u9"))
>>> signal.rejected, [item_id for item_id, _ in signal.liked]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from promptrec.feedback_store import NEGATIVE_RATING, FeedbackRecord, decisive_reactions

#: The weight of a ``liked`` item in the effective history; a ``clicked`` item weighs :data:`CLICK_WEIGHT`, a
#: rating ``r`` above ``NEGATIVE_RATING`` weighs ``r / 5 * LIKE_WEIGHT * 1.25`` (a 4 is a like, a 5 more).
LIKE_WEIGHT = 1.0
CLICK_WEIGHT = 0.5
#: Each older reaction weighs this much less than the next newer one (recency), down to :data:`MIN_RECENCY`.
RECENCY_DECAY = 0.9
MIN_RECENCY = 0.3
#: How much one showing without a reaction lowers an item (in units of the normalised retrieval score).
SHOWN_DECAY = 0.1


@dataclass(frozen=True)
class FeedbackSignal:
    """A user's feedback as the pipeline uses it (see the module docstring).

    Attributes:
        liked: (item id, weight) of the accepted items, oldest first.
        rejected: ids of the rejected items (disliked, low-rated or skipped).
        disliked: the explicitly rejected ones among them (disliked or low-rated), whose neighbours lose.
        shown: item id -> how many times it was shown without a reaction of its own.
        titles: item id -> the title the record carried (for items that left the catalog, and reasons).
    """

    liked: tuple[tuple[str, float], ...] = ()
    rejected: frozenset[str] = frozenset()
    disliked: frozenset[str] = frozenset()
    shown: dict[str, int] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[FeedbackRecord]) -> FeedbackSignal:
        """The signal of ``records`` (any order; they are sorted by time, ties kept in the given order)."""
        ordered = sorted(records, key=lambda r: r.timestamp)
        latest = decisive_reactions(ordered)
        titles = {record.item_id: record.item_title for record in ordered}
        skipped = {record.item_id for record in ordered if record.label == "skipped"}
        shown: Counter[str] = Counter(i for record in ordered for i in record.shown if i != record.item_id)
        disliked = frozenset(i for i, r in latest.items() if r.negative)
        rejected = disliked | frozenset(skipped - latest.keys())  # a skip rejects only what was never decided
        accepted = [(i, r) for i, r in latest.items() if r.positive]
        liked = []
        for age, (item_id, record) in enumerate(reversed(accepted)):
            recency = max(MIN_RECENCY, RECENCY_DECAY ** age)
            liked.append((item_id, _weight(record) * recency))
        decayed = {i: n for i, n in shown.items() if i not in latest and i not in skipped}
        return cls(liked=tuple(reversed(liked)), rejected=rejected, disliked=disliked, shown=decayed, titles=titles)

    def __bool__(self) -> bool:
        return bool(self.liked or self.rejected or self.shown)

    @property
    def liked_ids(self) -> list[str]:
        """The accepted items' ids, oldest first."""
        return [item_id for item_id, _ in self.liked]


def _weight(record: FeedbackRecord) -> float:
    if record.rating is not None and math.isfinite(record.rating):
        return LIKE_WEIGHT * 1.25 * record.rating / 5.0
    return CLICK_WEIGHT if record.label == "clicked" else LIKE_WEIGHT


__all__ = ["CLICK_WEIGHT", "LIKE_WEIGHT", "MIN_RECENCY", "NEGATIVE_RATING", "RECENCY_DECAY", "SHOWN_DECAY",
           "FeedbackSignal"]
