"""Shared by the retriever tests (test_retrieval_<module>.py): brute-force references and small catalogs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATASETS

from promptrec.data import Catalog, Item
from promptrec.retrieval import item_text

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


WORDS = ["star", "night", "river", "ghost", "iron", "summer", "city", "dragon", "silent", "blue", "last", "road",
         "winter", "king", "glass", "wild", "moon", "garden", "storm", "secret", "golden", "shadow", "ocean", "fire"]
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Western"]


def synthetic_items(n: int, seed: int = 0, prefix: str = "s") -> list[Item]:
    """``n`` made-up items: 1-4 title words, 1-2 genres, a year (seeded)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 5, size=n)
    words = rng.integers(0, len(WORDS), size=(n, 4))
    genres = rng.integers(0, len(GENRES), size=(n, 2))
    years = rng.integers(1950, 2025, size=n)
    return [Item(id=f"{prefix}{i}", title=" ".join(WORDS[w] for w in words[i, :lengths[i]]).title(),
                 attributes={"year": int(years[i]), "genres": sorted({GENRES[g] for g in genres[i, :1 + i % 2]})})
            for i in range(n)]


class HashEmbedder:
    """A fast stand-in embedder for large catalogs: a seeded 32-d unit vector per distinct text (the words'
    vectors summed, so texts that share words are near)."""

    name = "hash-32"
    dim = 32

    def text(self, item: Item) -> str:
        return item_text(item)

    def __init__(self) -> None:
        self._words: dict[str, np.ndarray] = {}

    def _word(self, word: str) -> np.ndarray:
        if word not in self._words:
            seed = int.from_bytes(word.encode()[:8].ljust(8, b"\0"), "little") ^ len(word)
            self._words[word] = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return self._words[word]

    def embed(self, texts):
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                rows[row] += self._word(word)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
