"""Shared by the retriever tests (test_retrieval_<module>.py): brute-force references and small catalogs."""

from __future__ import annotations

import pytest
from conftest import DATASETS

from promptrec.data import Catalog, Item

MOVIELENS = DATASETS / "movielens-latest-small"
needs_data = pytest.mark.skipif(not MOVIELENS.is_dir(), reason=f"datasets not found at {MOVIELENS}")

SLICE = 400  # catalog items in the brute-force slice
N = 15


def brute_top(scores: dict[str, float], catalog: Catalog, exclude: set[str], n: int) -> list[tuple[str, float]]:
    position = {item_id: i for i, item_id in enumerate(catalog)}
    ranked = sorted((i for i in catalog if i not in exclude), key=lambda i: (-scores[i], position[i]))
    return [(i, scores[i]) for i in ranked[:n]]


def assert_true_top(retrieved, brute: dict[str, float], catalog: Catalog, exclude: set[str], n: int, *, exact=False):
    """The retrieved pool is a top n of the brute-force scores (same scores, same order up to float ties)."""
    expected = brute_top(brute, catalog, exclude, n)
    assert len(retrieved) == n
    assert not set(retrieved.ids()) & exclude
    assert retrieved.scores == pytest.approx([s for _, s in expected], rel=1e-4, abs=1e-5)
    for item_id, score in zip(retrieved.ids(), retrieved.scores):
        assert brute[item_id] == pytest.approx(score, rel=1e-4, abs=1e-5)
    if exact:
        assert retrieved.ids() == [i for i, _ in expected]


def users_of(sequences) -> dict[str, set[str]]:
    who: dict[str, set[str]] = {}
    for user, sequence in sequences.items():
        for item_id in sequence:
            who.setdefault(item_id, set()).add(user)
    return who


def sample_histories(sequences, count=5):
    users = sorted(sequences, key=lambda u: (-len(sequences[u]), u))
    return [sequences[u][-8:] for u in users[:: max(1, len(users) // count)][:count]]


def _catalog(titles: list[str]) -> Catalog:
    return Catalog(Item(id=f"i{n}", title=t, attributes={"genres": ["Drama"]}) for n, t in enumerate(titles))
