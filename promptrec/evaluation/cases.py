"""The evaluation's data types: what a loader yields and what a ranker is shown.

A loader turns published files into an :class:`EvalDataset`: per split (``test``, ``valid``) the users'
held-out interactions (:class:`UserRecord`) and the training interactions baselines may count. The protocol
(:mod:`promptrec.evaluation.protocol`) turns records into :class:`Case` objects. A ranker only ever sees a
case's :class:`Query`, which has no field for the held-out item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from promptrec.data import Item

Protocol = Literal["llmrank", "cross-domain"]


@dataclass(frozen=True)
class UserRecord:
    """One user's held-out interaction, as a loader reads it.

    ``history`` is every item before the held-out one, oldest first (the protocol keeps the last H);
    ``known`` are the user's other items (e.g. later ones, or target-domain ones), which are never drawn as
    negatives; ``fixed_negatives`` is a published, ordered negative list (LLMRank's ``.random`` file).
    """

    user_id: str
    history: tuple[str, ...]
    truth: str
    known: frozenset[str] = frozenset()
    fixed_negatives: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Split:
    """The held-out records of one split and the training interactions that go with it.

    ``train`` holds one item-id tuple per training user; it never contains this split's held-out items
    (popularity and co-occurrence are counted on it).
    """

    name: str
    records: tuple[UserRecord, ...]
    train: tuple[tuple[str, ...], ...]


@dataclass
class EvalDataset:
    """A ranking dataset ready for a protocol.

    Attributes:
        name: short name used in reports (``movielens``, ``games``, ``books->movies``...).
        protocol: ``llmrank`` (leave-last-out) or ``cross-domain`` (history from another domain).
        scenario: the promptrec scenario of the candidates' domain.
        items: every item a history or a candidate list may hold.
        pool: the target catalog negatives are sampled from.
        test, valid: the splits; fusion weights are chosen on ``valid`` only.
        source_domain, target_domain: the domains of histories and candidates (cross-domain).
        disjoint_valid_users: validation users must differ from test users (their held-out items coincide).
        notes: how the files were split, printed in the report.
    """

    name: str
    protocol: Protocol
    scenario: str
    items: Mapping[str, Item]
    pool: tuple[str, ...]
    test: Split
    valid: Split
    source_domain: str | None = None
    target_domain: str | None = None
    disjoint_valid_users: bool = False
    notes: dict[str, str] = field(default_factory=dict)

    @cached_property
    def content_key(self) -> str:
        """A SHA-256 (16 hex digits) of what the protocol samples from: the protocol, the target catalog's
        ids in order and every record's user and history in both splits (never a held-out item, so the
        sample cannot depend on one). Seeds derive from it and ``--seed``, never from the dataset's name or
        path, so the same files under another name give the same users and numbers."""
        digest = hashlib.sha256(f"{self.protocol}\n".encode())
        digest.update("\x1f".join(self.pool).encode("utf-8"))
        for split in (self.test, self.valid):
            digest.update(f"\n{split.name}\n".encode())
            for r in split.records:
                digest.update("\x1e".join((r.user_id, "\x1f".join(r.history))).encode("utf-8") + b"\n")
        return digest.hexdigest()[:16]

    def split(self, name: str) -> Split:
        """The ``test`` or ``valid`` split."""
        if name not in ("test", "valid"):
            raise ValueError(f"unknown split '{name}'; use 'test' or 'valid'")
        return self.test if name == "test" else self.valid


@dataclass(frozen=True)
class Query:
    """What a ranker is given for one case: the user, the recent history and the shuffled candidates.

    It has no field for the held-out item, so no ranker can see it.
    """

    case_id: str
    user_id: str
    history: tuple[Item, ...]
    candidates: tuple[Item, ...]


@dataclass(frozen=True)
class Case:
    """A query and its held-out item; only the metric code reads ``truth``."""

    query: Query
    truth: str
    split: str = "test"

    @property
    def case_id(self) -> str:
        """The query's id."""
        return self.query.case_id

    @property
    def history_length(self) -> int:
        """How many history items the ranker is shown."""
        return len(self.query.history)
