"""Cold start: what the pipeline recommends to a user with no usable history.

A history is unusable when it is empty, names no catalog item the retriever can use, or every item in it was
rejected. The pipeline then falls back, in this order, to a named strategy (never to arbitrary rows):

* ``query``: the user's own words (``query=``, ``--query``), embedded by the semantic retriever;
* ``popularity``: the most interacted-with items, where interactions exist;
* ``diverse``: a varied sample of the catalog, by maximal marginal relevance over the item embeddings
  (each pick is typical of the catalog and unlike the picks before it).

The strategy's name is on the :class:`~promptrec.ranking.Ranking` (``fallback``) and the CLI says it on stderr.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Fallback = Literal["query", "popularity", "diverse"]
FALLBACKS: tuple[str, ...] = ("query", "popularity", "diverse")

#: The weight of typicality against novelty in :func:`diverse_scores` (1: typical only, 0: novel only).
MMR_LAMBDA = 0.5


def popularity_scores(counts: np.ndarray) -> np.ndarray:
    """Each item's number of interactions, as float scores (ties are broken by catalog position later)."""
    return np.asarray(counts, dtype=np.float64)


def diverse_scores(vectors: np.ndarray, n: int, removed: np.ndarray | None = None,
                   lam: float = MMR_LAMBDA) -> np.ndarray:
    """Scores that rank a varied sample of ``n`` items first: maximal marginal relevance over ``vectors``
    (rows normalised), relevance being the similarity to the catalog's mean. Items after the first ``n`` keep
    their typicality score below the chosen ones; ``removed`` positions (a boolean mask) are never chosen.
    Deterministic: ties go to the earlier catalog position."""
    vectors = np.asarray(vectors, dtype=np.float32)
    count = len(vectors)
    if count == 0:
        return np.zeros(0)
    centre = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    typical = vectors @ (centre / norm) if norm > 0 else np.zeros(count, dtype=np.float32)
    blocked = np.zeros(count, dtype=bool) if removed is None else np.asarray(removed, dtype=bool).copy()
    scores = typical.astype(np.float64) - 10.0  # below every chosen item
    closest = np.full(count, -1.0, dtype=np.float32)  # similarity to the nearest chosen item
    for step in range(min(n, int((~blocked).sum()))):
        value = lam * typical - (1 - lam) * np.where(step == 0, 0.0, closest)
        value = np.where(blocked, -np.inf, value)
        pick = int(np.argmax(value))
        scores[pick] = float(n - step)
        blocked[pick] = True
        closest = np.maximum(closest, vectors @ vectors[pick])
    return scores


__all__ = ["FALLBACKS", "MMR_LAMBDA", "Fallback", "diverse_scores", "popularity_scores"]
