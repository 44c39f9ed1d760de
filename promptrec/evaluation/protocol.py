"""Turning records into cases: a seeded user sample, the last H history items, negatives, a shuffle.

Every random choice has its own generator, seeded by a string built from the run's seed, the dataset's
content (:attr:`~promptrec.evaluation.cases.EvalDataset.content_key`, never its name or path) and what is
being drawn (``"0|users|<content key>|test"``), so a choice never depends on how many others were made
before it, and nothing depends on the held-out item beyond excluding it from the negatives:

* users: a seeded sample of the split's records (sorted by user id first); never filtered by their truth.
  :func:`sample_users` draws it once per dataset and seed: every protocol of a run (20 candidates, full
  catalog) uses the same test and validation users; :func:`users_hash` names the sample in reports.
* negatives: ``n_candidates - 1`` items from the target catalog that are neither in the user's full
  history, nor among the user's other known items, nor the truth; drawn uniformly with a seed per user,
  or taken in order from a published fixed list (LLMRank's ``.random``), skipping the same items.
* order: the truth plus the negatives, shuffled with a seed per case, so the truth's position is uniform.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from promptrec.errors import DataError
from promptrec.evaluation.cases import Case, EvalDataset, Query, UserRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProtocolConfig:
    """The knobs of a protocol, all printed in the report.

    Attributes:
        users: test users to sample (``None``: all).
        valid_users: validation users to sample (fusion weights are chosen on them).
        candidates: candidates per case (the truth plus ``candidates - 1`` negatives).
        history: the most recent history items kept (H).
        seed: the seed every sample and shuffle derives from.
        llm_valid_users: validation users the LLMs are scored on and fusion weights chosen on (the first of
            the validation sample; ``None``: all of them). The priors are chosen on every validation user.
    """

    users: int | None = 200
    valid_users: int = 200
    candidates: int = 20
    history: int = 20
    seed: int = 0
    llm_valid_users: int | None = None

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise ValueError("candidates must be at least 2 (the truth and one negative)")
        if self.history < 1:
            raise ValueError("history must be at least 1")
        if self.users is not None and self.users < 1:
            raise ValueError("users must be at least 1")
        if self.valid_users < 0:
            raise ValueError("valid_users must not be negative")
        if self.llm_valid_users is not None and self.llm_valid_users < 0:
            raise ValueError("llm_valid_users must not be negative")


def _rng(*parts: object) -> random.Random:
    return random.Random("|".join(str(part) for part in parts))


def sample_records(
    records: Sequence[UserRecord], n: int | None, seed: int, label: str, exclude_users: frozenset[str] = frozenset()
) -> list[UserRecord]:
    """A seeded sample of ``n`` records (all when ``n`` is None or larger), users in ``exclude_users`` left out."""
    eligible = sorted((r for r in records if r.history and r.user_id not in exclude_users), key=lambda r: r.user_id)
    if n is None or n >= len(eligible):
        return eligible
    return _rng(seed, "users", label).sample(eligible, n)


def sample_users(dataset: EvalDataset, config: ProtocolConfig) -> tuple[list[UserRecord], list[UserRecord]]:
    """The test and validation records of ``dataset`` under ``config``: the one user sample every protocol
    of a run uses. Validation users are sampled from those not in the test sample, so a validation case
    never shares a user with a test case (needed where both splits hold the same held-out item)."""
    key = dataset.content_key
    test = sample_records(dataset.test.records, config.users, config.seed, f"{key}|test")
    taken = frozenset(r.user_id for r in test)
    valid = sample_records(dataset.valid.records, config.valid_users, config.seed, f"{key}|valid", exclude_users=taken)
    return test, valid


def users_hash(user_ids: Sequence[str]) -> str:
    """A SHA-256 (12 hex digits) of a set of user ids (sorted), shown in reports beside the sample."""
    return hashlib.sha256("\n".join(sorted(user_ids)).encode("utf-8")).hexdigest()[:12]


def draw_negatives(record: UserRecord, pool: Sequence[str], n: int, seed: int, label: str) -> list[str]:
    """``n`` negatives for ``record``: never a history item, a known item or the truth."""
    forbidden = set(record.history) | record.known | {record.truth}
    if record.fixed_negatives is not None:
        chosen: list[str] = []
        for item_id in record.fixed_negatives:
            if item_id not in forbidden and item_id not in chosen:
                chosen.append(item_id)
                if len(chosen) == n:
                    return chosen
        raise DataError(
            f"user '{record.user_id}' has only {len(chosen)} usable fixed negatives; {n} are needed",
            field="negatives",
        )
    rng = _rng(seed, "negatives", label, record.user_id)
    picked: list[str] = []
    seen: set[str] = set()
    for _ in range(100 * (n + len(forbidden)) + 1000):
        item_id = pool[rng.randrange(len(pool))]
        if item_id not in forbidden and item_id not in seen:
            seen.add(item_id)
            picked.append(item_id)
            if len(picked) == n:
                return picked
    raise DataError(
        f"the catalog has too few items to draw {n} negatives for user '{record.user_id}'", field="negatives"
    )


def make_case(record: UserRecord, dataset: EvalDataset, split: str, config: ProtocolConfig) -> Case:
    """One case: the last H history items, the truth plus negatives, shuffled with a per-case seed."""
    label = f"{dataset.content_key}|{split}"
    negatives = draw_negatives(record, dataset.pool, config.candidates - 1, config.seed, label)
    order = [record.truth, *negatives]
    case_id = f"{split}:{record.user_id}"
    _rng(config.seed, "shuffle", label, case_id).shuffle(order)
    items = dataset.items
    missing = [item_id for item_id in [*record.history[-config.history :], *order] if item_id not in items]
    if missing:
        raise DataError(f"item id(s) {missing[:5]} of user '{record.user_id}' have no title in the catalog", field="item_id")
    query = Query(
        case_id=case_id,
        user_id=record.user_id,
        history=tuple(items[item_id] for item_id in record.history[-config.history :]),
        candidates=tuple(items[item_id] for item_id in order),
    )
    return Case(query=query, truth=record.truth, split=split)


def build_cases(dataset: EvalDataset, config: ProtocolConfig) -> tuple[list[Case], list[Case]]:
    """The test and validation cases of ``dataset`` under ``config``.

    The users are :func:`sample_users`' (the same for every protocol of a run).
    """
    test_records, valid_records = sample_users(dataset, config)
    logger.info("%s: %d test and %d validation users", dataset.name, len(test_records), len(valid_records))
    test = [make_case(r, dataset, "test", config) for r in test_records]
    valid = [make_case(r, dataset, "valid", config) for r in valid_records]
    return test, valid
