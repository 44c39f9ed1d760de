"""The two-stage pipeline: retrieve a pool from the whole catalog, let the LLM rank it, fuse the two.

>>> from promptrec import Ranker
>>> from promptrec.pipeline import Recommender
>>> from promptrec.retrieval import BM25Retriever
>>> recommender = Recommender(BM25Retriever(catalog), Ranker("llamacpp", "movies"))
>>> ranking = recommender.recommend(history, k=5)
>>> [(r.item.title, r.retrieval_score, r.llm_score, r.fused_score) for r in ranking]

1. The retriever scores every catalog item for the user and keeps the top ``pool`` (default
   :data:`~promptrec.retrieval.base.DEFAULT_POOL` = 20), the history removed.
2. The :class:`~promptrec.Ranker` ranks the pool in any mode (generate: Borda points of the model's list;
   score: label log-probabilities; pointwise: log-odds of "Yes"), the pool given in retrieval order (the
   parser's fallback for candidates an answer leaves out).
3. Fusion, with weight ``w`` on the LLM (:func:`fuse`): ``wsum`` (default) is
   ``w * minmax(LLM) + (1 - w) * minmax(retrieval)`` over the pool; ``rrf`` is
   ``w / (60 + LLM rank) + (1 - w) / (60 + retrieval rank)``. Ties go to the better retrieval rank, so
   ``w = 0`` is exactly the retriever's order (and the LLM is then not called at all) and ``w = 1`` the
   LLM's. Items the user's feedback rejected stay last when the ranker demotes them.

The weight: :data:`EMBEDDED_LLM_WEIGHT` for the bundled SmolLM2-135M model, :data:`DEFAULT_LLM_WEIGHT`
for any other model. To measure a better one for your model, run ``promptrec eval`` with fusion on your
validation users: it tries ``w`` = 0, 0.1, ..., 1 on them and prints the weight it chose; pass it as
``llm_weight=`` (``--llm-weight``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from typing import Literal

from promptrec.data import UserHistory
from promptrec.errors import DataError
from promptrec.ranker import Ranker
from promptrec.ranking import ParseReport, RankedItem, Ranking
from promptrec.retrieval.base import DEFAULT_POOL, Retrieved, Retriever, User, as_history

logger = logging.getLogger(__name__)

Fusion = Literal["wsum", "rrf"]
FUSIONS: tuple[str, ...] = ("wsum", "rrf")
RRF_K = 60

#: The weight on the LLM for the bundled SmolLM2-135M-Instruct model: 0, as measured. On MovieLens over the
#: full catalog (30 validation users, co-occurrence's pool of 20; eval/README.md), validation NDCG@10 was
#: 0.0434 at w = 0, the best 0.0438 at w = 0.4 (paired s.e. 0.0148), falling to 0.0105 at w = 1; the
#: one-standard-error rule chose w = 0. The 20-candidate protocol chose w = 0 on MovieLens, Games and
#: books->movies (0.1 on cds->books). A 135M model ranks at chance, so by default its answer does not move
#: the retriever's order and it is not called; ``llm_weight=`` / ``--llm-weight`` lets it speak.
EMBEDDED_LLM_WEIGHT = 0.0

#: The weight on the LLM for any other model, until you measure one (see the module docstring).
DEFAULT_LLM_WEIGHT = 0.5


def default_llm_weight(ranker: Ranker | None) -> float:
    """:data:`EMBEDDED_LLM_WEIGHT` when ``ranker`` runs the bundled model, else :data:`DEFAULT_LLM_WEIGHT`
    (0 without a ranker)."""
    if ranker is None:
        return 0.0
    try:
        from promptrec.backends.llamacpp import bundled_model_path

        bundled = f"llamacpp:{bundled_model_path().name}"
    except Exception:  # the local extra is not installed: the ranker cannot be running the bundled model
        bundled = None
    return EMBEDDED_LLM_WEIGHT if ranker.backend.name == bundled else DEFAULT_LLM_WEIGHT


def _minmax(values: Sequence[float]) -> list[float]:
    """``values`` rescaled to [0, 1] (all 0 when they are equal); a non-finite value counts as the lowest."""
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    if high == low:
        return [0.0] * len(values)
    return [((v if math.isfinite(v) else low) - low) / (high - low) for v in values]


def fuse(
    retrieval: Sequence[float], llm: Sequence[float] | None, weight: float, kind: Fusion = "wsum"
) -> tuple[list[int], list[float]]:
    """Fuse a pool's retrieval scores (given best first, as retrieved) with the LLM's scores.

    Returns the fused order (indices into the pool) and the fused score of each pool item (by pool index).
    ``llm`` ``None`` (not asked) counts as the retrieval order alone. Ties go to the better retrieval rank,
    so ``weight = 0`` returns ``range(len(retrieval))`` exactly.
    """
    if not 0.0 <= weight <= 1.0:
        raise DataError(f"the LLM weight must be between 0 and 1, got {weight}", field="llm_weight")
    if kind not in FUSIONS:
        raise DataError(f"unknown fusion '{kind}'; use one of: {', '.join(FUSIONS)}", field="fusion")
    n = len(retrieval)
    if n == 0:
        return [], []
    if llm is not None and len(llm) != n:
        raise ValueError(f"{len(llm)} LLM scores for a pool of {n}")
    if kind == "wsum":
        base = _minmax(retrieval)
        extra = _minmax(llm) if llm is not None else [0.0] * n
        fused = [weight * a + (1 - weight) * b for a, b in zip(extra, base)]
    else:
        llm_order = sorted(range(n), key=lambda i: (-llm[i], i)) if llm is not None else list(range(n))
        llm_rank = {index: rank for rank, index in enumerate(llm_order, start=1)}
        fused = [weight / (RRF_K + llm_rank[i]) + (1 - weight) / (RRF_K + i + 1) for i in range(n)]
    if weight == 0.0:  # the retriever's order, exactly (no float rounding can reorder it)
        return list(range(n)), fused
    return sorted(range(n), key=lambda i: (-fused[i], i)), fused


class Recommender:
    """Recommend from a whole catalog: a retriever, an LLM ranker and their fusion (module docstring).

    Args:
        retriever: any :class:`~promptrec.retrieval.base.Retriever` over the catalog.
        ranker: the :class:`~promptrec.Ranker` that ranks the pool; ``None``: retrieval only.
        llm_weight: the weight ``w`` on the LLM's score in [0, 1]; default: :func:`default_llm_weight`.
        pool: how many items to retrieve and rank (default :data:`DEFAULT_POOL`); clamped, with a warning,
            to what the catalog has left once the history is removed.
        fusion: ``wsum`` (default) or ``rrf``.
    """

    def __init__(
        self,
        retriever: Retriever,
        ranker: Ranker | None = None,
        *,
        llm_weight: float | None = None,
        pool: int = DEFAULT_POOL,
        fusion: Fusion = "wsum",
    ) -> None:
        self.retriever = retriever
        self.ranker = ranker
        self.llm_weight = default_llm_weight(ranker) if llm_weight is None else float(llm_weight)
        if not 0.0 <= self.llm_weight <= 1.0:
            raise DataError(f"the LLM weight must be between 0 and 1, got {llm_weight}", field="llm_weight")
        if pool < 1:
            raise DataError(f"the pool size must be at least 1, got {pool}", field="pool")
        if fusion not in FUSIONS:
            raise DataError(f"unknown fusion '{fusion}'; use one of: {', '.join(FUSIONS)}", field="fusion")
        self.pool = pool
        self.fusion: Fusion = fusion

    def retrieve(self, user: User, *, exclude: Iterable[str] = ()) -> Retrieved:
        """Stage 1 only: the pool for ``user``."""
        return self.retriever.retrieve(user, self.pool, exclude=exclude)

    def recommend(self, user: User, k: int | None = 10, *, exclude: Iterable[str] = ()) -> Ranking:
        """The top ``k`` catalog items for ``user`` (a history or its items, oldest first); all of the pool
        when ``k`` is ``None``. ``exclude`` names items never to recommend (besides the history)."""
        if k is not None and k < 1:
            raise DataError(f"k must be at least 1, got {k}", field="k")
        history = as_history(user)
        retrieved = self.retrieve(history, exclude=exclude)
        return self.fuse(history, retrieved, self._rank(history, retrieved), k)

    def _rank(self, history: UserHistory, retrieved: Retrieved) -> Ranking | None:
        if self.ranker is None or self.llm_weight == 0.0:
            return None
        return self.ranker.rank(history, retrieved.items)

    def fuse(self, history: UserHistory, retrieved: Retrieved, llm: Ranking | None, k: int | None = None) -> Ranking:
        """Stage 3: the :class:`Ranking` of ``retrieved`` fused with the LLM's ``llm`` ranking of it (or the
        retrieval order alone when ``llm`` is ``None``), the top ``k`` kept."""
        items = retrieved.items
        ranked = {r.item.id: r for r in llm.items} if llm is not None else {}
        keep = [i for i, item in enumerate(items) if llm is None or item.id in ranked]  # feedback may remove
        pool_scores = [retrieved.scores[i] for i in keep]
        llm_scores = [ranked[items[i].id].score for i in keep] if llm is not None else None
        order, fused = fuse(pool_scores, llm_scores, self.llm_weight, self.fusion)
        demoted = set(llm.demoted) if llm is not None else set()
        if demoted:
            order = [j for j in order if items[keep[j]].id not in demoted] + [
                j for j in order if items[keep[j]].id in demoted]
        result = []
        for rank, j in enumerate(order, start=1):
            i = keep[j]
            from_llm = ranked.get(items[i].id)
            result.append(RankedItem(
                item=items[i], rank=rank, label=from_llm.label if from_llm else "", score=fused[j],
                retrieval_score=retrieved.scores[i], retrieval_rank=i + 1,
                llm_score=from_llm.score if from_llm else None, fused_score=fused[j],
            ))
        stages = {
            "items": result[:k] if k else result,
            "retriever": retrieved.retriever,
            "profile": retrieved.profile,
            "pool": len(items),
            "llm_weight": self.llm_weight,
            "fusion": self.fusion,
        }
        if llm is not None:
            return llm.model_copy(update=stages)
        ranker = self.ranker
        return Ranking(
            user_id=history.user_id, raw="", report=ParseReport(),
            backend=ranker.backend.name if ranker else "none",
            scenario=ranker.scenario.name if ranker else "default",
            strategy=ranker.strategy if ranker else "none",
            mode="retrieval", history_used=0, history_dropped=0, **stages,
        )


__all__ = ["DEFAULT_LLM_WEIGHT", "DEFAULT_POOL", "EMBEDDED_LLM_WEIGHT", "FUSIONS", "Fusion", "Recommender",
           "default_llm_weight", "fuse"]
