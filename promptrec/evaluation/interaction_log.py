"""What every dataset format with per-user, timed interactions reads its files into, and the one split made
from it.

An :class:`InteractionLog` is the files as they are: the items (in file order) and each user's interactions,
oldest first, *with* their ratings and times. The protocols take what they need from it:

* the sampled and full-catalog protocols split it leave-last-out (:func:`leave_last_out`,
  :func:`split_log`): test = each user's last item, validation = the one before;
* the replay protocol (:mod:`promptrec.evaluation.replay`) keeps the ratings, to answer for the user.

So a format is read by one reader (its module's ``read_log``), and every protocol sees the same items, the
same users and the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from promptrec.data import Item
from promptrec.evaluation.cases import EvalDataset, Split, UserRecord


@dataclass(frozen=True)
class Event:
    """One interaction of a user: the item, when (seconds, or a position), and its rating where the file has one."""

    item_id: str
    timestamp: float
    rating: float | None = None


@dataclass(frozen=True)
class InteractionLog:
    """A dataset's items and each user's interactions, oldest first (ties: the files' order).

    ``scenario`` is the promptrec scenario of the items; ``files`` names what was read; ``notes`` say how the
    files were read and split (they go into the evaluation report).
    """

    name: str
    items: Mapping[str, Item]
    sequences: Mapping[str, tuple[Event, ...]]
    scenario: str = "default"
    files: str = ""
    notes: dict[str, str] = field(default_factory=dict)

    def item_sequences(self) -> dict[str, list[str]]:
        """User -> item ids, oldest first."""
        return {user: [event.item_id for event in events] for user, events in self.sequences.items()}

    @property
    def rated(self) -> bool:
        """Whether any interaction has a rating (the replay protocol needs them)."""
        return any(event.rating is not None for events in self.sequences.values() for event in events)


def ordered(events: Mapping[str, Iterable[tuple[float, int, str, float | None]]]) -> dict[str, tuple[Event, ...]]:
    """User -> events sorted by ``(time, position read)`` (the stable tie rule: the file decides), from
    ``(time, position, item id, rating)`` tuples."""
    return {user: tuple(Event(item, stamp, rating) for stamp, _, item, rating in sorted(rows, key=lambda r: r[:2]))
            for user, rows in events.items()}


def natural(value: str) -> tuple[int, str]:
    """A sort key that puts numeric ids in numeric order (``2`` before ``10``), then the others as text."""
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def leave_last_out(sequences: Mapping[str, Sequence[str]]) -> tuple[Split, Split]:
    """Test = each user's last item, validation = the one before; training = what precedes each.

    ``sequences`` maps a user to item ids oldest first. A user needs one earlier item to be tested and two
    to be validated; users are never filtered on anything else.
    """
    test: list[UserRecord] = []
    valid: list[UserRecord] = []
    for user_id, sequence in sequences.items():
        known = frozenset(sequence)
        if len(sequence) >= 2:
            test.append(UserRecord(user_id, tuple(sequence[:-1]), sequence[-1], known))
        if len(sequence) >= 3:
            valid.append(UserRecord(user_id, tuple(sequence[:-2]), sequence[-2], known))
    return (
        Split("test", tuple(test), tuple(tuple(s[:-1]) for s in sequences.values())),
        Split("valid", tuple(valid), tuple(tuple(s[:-2]) for s in sequences.values())),
    )


def split_log(log: InteractionLog, name: str | None = None, scenario: str | None = None) -> EvalDataset:
    """The leave-last-out dataset of ``log``: negatives come from the items someone interacted with (ids in
    natural order), and the report's notes are the log's."""
    sequences = log.item_sequences()
    test, valid = leave_last_out(sequences)
    rated = sorted({item for sequence in sequences.values() for item in sequence}, key=natural)
    return EvalDataset(
        name=name or log.name,
        protocol="llmrank",
        scenario=scenario or log.scenario,
        items=log.items,
        pool=tuple(rated),
        test=test,
        valid=valid,
        notes=dict(log.notes),
    )


__all__ = ["Event", "InteractionLog", "leave_last_out", "natural", "ordered", "split_log"]
